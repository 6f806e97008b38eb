"""``flowc call``: an offline Plivo call simulator.

It is a *client* of a flowc server (or any Plivo application): it fetches the answer
document as Plivo does, walks the XML and plays each ``<Stream>`` as Plivo's media server
would (:mod:`flowc.simulator.stream_client`).
"""

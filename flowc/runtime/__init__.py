"""The run wing: the ASGI app, the Plivo stream protocol, sessions and pipelines."""

"""``flowc call FLOW_OR_URL``: simulate a Plivo call against a flow, offline.

Without ``--server`` the flow is compiled and served in this process (uvicorn on a free
127.0.0.1 port), so one command tests a flow; with ``--server URL`` (or an answer URL as
FLOW_OR_URL) the simulator is a pure client of a running server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flowc.model import document_path

DEFAULT_FROM = "14155550100"
DEFAULT_TO = "14155550123"


class _TurnAction(argparse.Action):
    """Collects ``--say``/``--audio``/``--silence`` in command-line order."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        turns = list(getattr(namespace, "turns", None) or [])
        turns.append((self.const, values))
        namespace.turns = turns


def configure(parser: argparse.ArgumentParser) -> None:
    """Options of ``flowc call``."""
    from flowc.compile.options import add_variable_options

    parser.description = (
        "Simulate a Plivo call: fetch the answer XML like Plivo, walk it, run each <Stream> "
        "as Plivo's media server would (start, 20 ms media frames, dtmf, playedStream, "
        "clearedAudio), follow GetInput/GetDigits actions and Redirects, and report turns, "
        "voice-to-voice latency, barge-ins and frames."
    )
    parser.add_argument("target", metavar="FLOW_OR_URL", nargs="?",
                        help="a flow file (served in-process unless --server) or an answer URL")
    parser.add_argument("--server", metavar="URL",
                        help="base URL of a running `flowc serve` (http://127.0.0.1:8000)")
    parser.add_argument("--from", dest="from_number", default=None, metavar="N",
                        help=f"caller number posted as From (default {DEFAULT_FROM})")
    parser.add_argument("--to", dest="to_number", default=None, metavar="N",
                        help=f"called number posted as To (default {DEFAULT_TO})")
    parser.add_argument("--say", action=_TurnAction, const="say", metavar="TEXT",
                        help="a caller turn spoken by the TTS engine (repeatable)")
    parser.add_argument("--audio", action=_TurnAction, const="audio", metavar="WAV",
                        help="a caller turn from a WAV file, any rate (repeatable)")
    parser.add_argument("--silence", action=_TurnAction, const="silence", metavar="SECONDS",
                        help="a silent caller turn (repeatable)")
    parser.add_argument("--dtmf", action="append", default=[], metavar="SPEC",
                        help='key presses: "1@2.5s" at 2.5 s, "12#" when input is asked for')
    parser.add_argument("--voice", default=None, metavar="ENGINE",
                        help="TTS engine for --say and Speak (default espeak; piper if "
                             "installed)")
    parser.add_argument("--fast", action="store_true",
                        help="send caller speech faster than real time; skip Speak/Wait time")
    parser.add_argument("--record-out", metavar="WAV",
                        help="write the call as heard: caller left, flowc right")
    parser.add_argument("--script", metavar="SCENARIO",
                        help="scenario file: turns with expectations; exit 1 if one fails")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--listen", metavar="ENGINE", default=None,
                        help="transcribe the agent's replies after the call with this "
                             "transcriber engine (by default only when the agent does not "
                             "report what it says; then whisper if installed)")
    parser.add_argument("--no-listen", action="store_true",
                        help="do not transcribe the agent's replies after the call")
    parser.add_argument("--auth-token", metavar="TOKEN", default=os.environ.get("PLIVO_AUTH_TOKEN"),
                        help="sign requests and handshakes like Plivo (default: "
                             "$PLIVO_AUTH_TOKEN); the in-process server checks them")
    parser.add_argument("--reply-timeout", type=float, default=None, metavar="S",
                        help="seconds to wait for the agent's reply (default 20)")
    parser.add_argument("--quiet-after", type=float, default=None, metavar="S",
                        help="agent silence that ends its reply (default 1.2 s)")
    parser.add_argument("--max-call", type=float, default=None, metavar="S",
                        help="longest call in seconds (default 900)")
    add_variable_options(parser)


def run(args: argparse.Namespace) -> int:
    """Run the call: 0 on success; 1 if a scenario expectation failed (with ``--script``)
    or the call had errors (HTTP errors, dropped streams; without it); 2 on bad input."""
    from flowc.simulator.caller import CallerError
    from flowc.simulator.scenario import ScenarioError

    try:
        return _run(args)
    except (CallerError, ScenarioError, _Usage) as exc:
        print(f"flowc call: {exc}", file=sys.stderr)
        return 2


class _Usage(Exception):
    """A bad command line or flow."""


def _run(args: argparse.Namespace) -> int:
    from flowc.plugins import load_plugins
    from flowc.simulator import scenario as scenarios
    from flowc.simulator.call import CallSimulator
    from flowc.simulator.caller import Voice, parse_dtmf
    from flowc.simulator.observer import ServerObserver
    from flowc.simulator.report import LivePrinter, record, render_summary, to_json
    from flowc.simulator.results import CallOptions
    from flowc.simulator.timeline import CallClock, Timeline

    script = scenarios.load(args.script) if args.script else None
    data = script.data if script else {}
    target = args.target or (script.flow if script else None)
    if not target:
        raise _Usage("give a flow file or answer URL (or a scenario with `flow:`)")
    fast = bool(args.fast or data.get("fast", False))
    observer = ServerObserver()
    host = load_plugins(extra=[observer])

    voice_name = args.voice or data.get("voice") or "espeak"
    needs_voice = any(kind == "say" for kind, _ in getattr(args, "turns", None) or []) or (
        script is not None and any("say" in t for t in script.turns))
    voice: Voice | None = None
    try:
        voice = Voice(host, voice_name)
    except Exception:
        if needs_voice:
            raise
    turns = _turns(args, script, voice)
    presses = parse_dtmf(",".join([*args.dtmf, str(data.get("dtmf", ""))]))

    timeouts = data.get("timeouts", {})
    clock = CallClock(fast=fast)
    timeline = Timeline(clock)
    if not args.json:
        timeline.listeners.append(LivePrinter())

    with _server(target, args, host) as (answer_url, served_flow):
        options = CallOptions(
            answer_url=answer_url,
            from_number=args.from_number or data.get("from") or DEFAULT_FROM,
            to_number=args.to_number or data.get("to") or DEFAULT_TO,
            auth_token=args.auth_token,
            fast=fast,
            greeting_wait=float(timeouts.get("greeting", 3.0)),
            quiet=float(args.quiet_after or timeouts.get("quiet", 1.2)),
            reply_timeout=float(args.reply_timeout or timeouts.get("reply", 20.0)),
            max_call=float(args.max_call or timeouts.get("call", 900.0)),
        )
        if not args.json:
            where = "served in-process" if served_flow is not None else "server"
            who = f"caller voice {voice.name}" if voice is not None else "no caller voice"
            print(f"flowc call {target} ({where}; {who}; {len(turns)} turn"
                  f"{'s' if len(turns) != 1 else ''}{'; fast' if fast else ''})", flush=True)
        call = CallSimulator(options, turns, presses, voice=voice, timeline=timeline)
        if served_flow is not None:
            observer.sink = call.observe
            call.observing = True
        asyncio.run(call.run())

    reported = bool(call.greeting_said) or any(r.agent_text for r in call.results)
    if not args.no_listen and (args.listen or not reported):
        _listen(call, host, args.listen, quiet=args.json)
    extra: dict[str, Any] = {}
    checks = []
    if script is not None:
        checks = scenarios.evaluate(call, script.expect)
        extra["scenario"] = {
            "name": data.get("name", script.path.stem),
            "ok": all(c.ok for c in checks),
            "checks": [c.to_json() for c in checks],
        }
    if args.record_out:
        seconds = record(call, args.record_out)
        extra["record_out"] = {"path": args.record_out, "seconds": round(seconds, 3)}
    report = to_json(call, extra)
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        print(render_summary(report))
        if args.record_out:
            print(f"  recording        {args.record_out} ({extra['record_out']['seconds']:.1f} s, "
                  "caller left, flowc right)")
        if script is not None:
            print(f"\nscenario {extra['scenario']['name']}")
            for check in checks:
                mark = "ok  " if check.ok else "FAIL"
                print(f"  {mark} {check.scope:<8} {check.name:<20} {check.detail}")
    if script is not None:
        return 0 if all(c.ok for c in checks) else 1
    return 1 if call.errors else 0


def _listen(call: Any, host: Any, engine: str | None, *, quiet: bool) -> None:
    from flowc.simulator.listen import ReplyListener, listen

    if not any(r.client is not None and r.client.heard for r in call.streams):
        return
    try:
        listener = ReplyListener(host, engine)
    except LookupError as exc:
        if engine:
            print(f"flowc call: --listen: {exc}", file=sys.stderr)
        return
    if not quiet:
        print(f"\ntranscribing what the caller heard ({listener.name})...", flush=True)
    listen(call, listener)


def _turns(args: argparse.Namespace, script: Any, voice: Any) -> list[Any]:
    from flowc.simulator.caller import CallerError, Turn, load_wav, silence

    turns: list[Turn] = []
    for kind, value in getattr(args, "turns", None) or []:
        if kind == "say":
            if voice is None:
                raise CallerError("--say needs a TTS engine (install flowc-agent)")
            turns.append(voice.turn(value))
        elif kind == "audio":
            pcm, rate = load_wav(value)
            turns.append(Turn(pcm, rate, label=Path(value).name))
        else:
            try:
                seconds = float(value)
            except ValueError as exc:
                raise CallerError(f"--silence {value!r}: not a number of seconds") from exc
            turns.append(silence(seconds))
    if script is not None:
        turns += script.build_turns(voice)
    return turns


@contextmanager
def _server(target: str, args: argparse.Namespace, host: Any) -> Iterator[tuple[str, Any]]:
    """Yield (answer URL, compiled flow or None); start the server here when needed."""
    if "://" in target:
        yield target, None
        return
    flow = _compile(target, args, host)
    if args.server:
        yield args.server.rstrip("/") + document_path(flow.name, "answer"), None
        return
    with serve_in_thread(flow, host, auth_token=args.auth_token) as base:
        yield base + document_path(flow.name, "answer"), flow


def _compile(target: str, args: argparse.Namespace, host: Any) -> Any:
    from flowc.compile import compile_file
    from flowc.compile.options import report, variables

    if not Path(target).is_file():
        raise _Usage(f"{target}: no such flow file")
    values, diagnostics, sources = variables(args)
    result = compile_file(target, variables=values, host=host, env=args.env)
    sources[result.filename or target] = result.source
    diagnostics = [*diagnostics, *result.diagnostics]
    if any(d.is_error for d in diagnostics) or result.flow is None:
        report(diagnostics, sources, "text", 1, stream=sys.stderr)
        raise _Usage(f"{target} does not compile")
    return result.flow


@contextmanager
def serve_in_thread(flow: Any, host: Any, *, auth_token: str | None = None,
                    timeout: float = 20.0) -> Iterator[str]:
    """Run ``flowc serve`` for ``flow`` on a free 127.0.0.1 port in a thread; yield its URL."""
    import logging

    import uvicorn

    from flowc.runtime.app import create_app
    from flowc.runtime.server import WEBSOCKET_OPTIONS
    from flowc.runtime.settings import ServeSettings

    logging.getLogger("flowc.serve").setLevel(logging.ERROR)  # "not authenticated" is expected
    app = create_app(flow, host=host, settings=ServeSettings(auth_token=auth_token,
                                                            close_timeout=5.0))
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error",
                            access_log=False, lifespan="off", server_header=False,
                            timeout_graceful_shutdown=5, **WEBSOCKET_OPTIONS)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="flowc-call-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise _Usage("the in-process server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)

"""``flowc serve FLOW_OR_DIR``: the whole Plivo application for one or more flows."""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

ENV_CONFIG = "FLOWC_SERVE_CONFIG"
"""Environment variable through which ``--workers`` hands the configuration to workers."""

log = logging.getLogger("flowc.serve")


def configure(parser: argparse.ArgumentParser) -> None:
    """Options of ``flowc serve``."""
    from flowc.compile.options import add_format_option, add_variable_options

    parser.description = (
        "Serve flows: every named document (GET/POST, rendered per request), one WebSocket "
        "per <Stream> running its pipeline, the stream status callback, /healthz, /readyz "
        "and /metrics. SIGTERM drains: new streams are refused, active ones run to their "
        "end (up to --drain-timeout), every processor is closed, exit status 0."
    )
    parser.add_argument("flow", metavar="FLOW_OR_DIR",
                        help="a flow file, or a directory of *.yaml/*.yml flows")
    parser.add_argument("--host", default=None,
                        help="interface to bind (default 0.0.0.0 with an auth token or "
                             "--insecure, else 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--public-url", metavar="URL", default=None,
                        help="base URL Plivo reaches this server at (https://host[/prefix]); "
                             "default: each request's own scheme and host")
    parser.add_argument("--trust-forwarded", action="store_true",
                        help="honour X-Forwarded-Proto/Host (only behind your own proxy)")
    parser.add_argument("--workers", type=int, default=1, metavar="N",
                        help="processes serving the same port (default 1)")
    parser.add_argument("--auth-token", default=os.environ.get("PLIVO_AUTH_TOKEN"),
                        help="Plivo auth token; every callback must be signed with it "
                             "(default: $PLIVO_AUTH_TOKEN)")
    parser.add_argument("--insecure", action="store_true",
                        help="allow serving unauthenticated requests on a public interface")
    parser.add_argument("--no-verify-websocket", action="store_true",
                        help="with a token, do not check stream handshake signatures")
    parser.add_argument("--drain-timeout", type=float, default=30.0, metavar="S",
                        help="seconds active streams may run after SIGTERM (default 30)")
    parser.add_argument("--failure-policy", choices=("bypass", "end", "auto"), default="auto",
                        help="a processor that raises ends its stream if it plays audio "
                             "(auto, the default), always (end), or is bypassed (bypass)")
    parser.add_argument("--access-log", action="store_true", help="log every HTTP request")
    # limits (flowc/runtime/limits.py); 0 disables one
    parser.add_argument("--max-streams", type=int, default=1000, metavar="N",
                        help="concurrent streams per process; more are refused (default 1000)")
    parser.add_argument("--handshake-rate", type=float, default=200.0, metavar="R",
                        help="stream handshakes per second per process, bursts of 5 x R "
                             "allowed (default 200)")
    parser.add_argument("--idle-timeout", type=float, default=30.0, metavar="S",
                        help="end a stream after S seconds without a message (default 30)")
    parser.add_argument("--max-message-bytes", type=int, default=65536, metavar="B",
                        help="largest WebSocket message; bigger closes the stream (default 64 KiB)")
    add_variable_options(parser)
    add_format_option(parser)


def _flow_files(target: str) -> list[Path]:
    path = Path(target)
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    return [path]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _compile(config: dict[str, Any], host: Any, *, quiet: bool) -> list[Any] | None:
    """Compile every flow of the configuration; None (diagnostics printed) on errors."""
    from flowc.compile import compile_file
    from flowc.compile.options import report, variables

    args = argparse.Namespace(define=config["define"], vars=config["vars"], env=config["env"])
    values, diagnostics, sources = variables(args)
    flows = []
    files = _flow_files(config["target"])
    for path in files:
        result = compile_file(path, variables=values, host=host, env=config["env"])
        sources[result.filename or str(path)] = result.source
        diagnostics.extend(result.diagnostics)
        if result.flow is not None:
            flows.append(result.flow)
    errors = any(d.is_error for d in diagnostics)
    if diagnostics and (errors or not quiet):
        report(diagnostics, sources, config.get("format", "text"), len(files))
    if errors:
        return None
    if not files:
        print(f"flowc serve: no flow files in {config['target']}", file=sys.stderr)
        return None
    return flows


def _settings(config: dict[str, Any]) -> Any:
    from flowc.runtime.settings import ServeSettings

    return ServeSettings.from_json_dict(config["settings"])


def worker_app() -> Any:
    """App factory for ``--workers N``: reads :data:`ENV_CONFIG`, compiles, serves."""
    from flowc.plugins import load_plugins
    from flowc.runtime.app import create_app
    from flowc.runtime.server import install_drain, settle_gc

    config = json.loads(os.environ[ENV_CONFIG])
    logging.basicConfig(level=config.get("log_level", logging.WARNING),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    host = load_plugins()
    flows = _compile(config, host, quiet=True)
    if flows is None:
        raise SystemExit(2)
    settings = _settings(config)
    app = create_app(flows, host=host, settings=settings)
    install_drain(app.state.flowc, settings.drain_timeout)
    settle_gc()
    return app


def run(args: argparse.Namespace) -> int:
    """Compile, check the security settings, then serve until SIGTERM."""
    from flowc.plugins import load_plugins
    from flowc.runtime import server
    from flowc.runtime.app import create_app
    from flowc.runtime.settings import ServeSettings

    token = args.auth_token or None
    bind = args.host or ("0.0.0.0" if token or args.insecure else "127.0.0.1")
    if not token:
        if not _is_loopback(bind) and not args.insecure:
            print(f"flowc serve: refusing to serve unauthenticated requests on {bind}: set "
                  "PLIVO_AUTH_TOKEN (or --auth-token), or pass --insecure", file=sys.stderr)
            return 2
        print("flowc serve: WARNING: no Plivo auth token; requests are NOT authenticated "
              f"(anyone who reaches {bind}:{args.port or '<port>'} can drive these flows)",
              file=sys.stderr)
    if args.workers < 1:
        print("flowc serve: --workers must be at least 1", file=sys.stderr)
        return 2
    settings = ServeSettings(
        public_url=args.public_url, auth_token=token, trust_forwarded=args.trust_forwarded,
        verify_websocket=not args.no_verify_websocket, drain_timeout=args.drain_timeout,
        failure_policy=args.failure_policy, max_streams=args.max_streams,
        handshake_rate=args.handshake_rate, handshake_burst=max(1, int(5 * args.handshake_rate)),
        idle_timeout=args.idle_timeout, max_message_bytes=args.max_message_bytes)
    level = logging.WARNING - 10 * min(args.verbose + 1, 2)
    logging.getLogger("flowc").setLevel(level)
    config: dict[str, Any] = {
        "target": args.flow, "define": args.define, "vars": args.vars, "env": args.env,
        "format": args.format, "settings": settings.to_json_dict(), "log_level": level,
    }
    host = load_plugins()
    flows = _compile(config, host, quiet=False)
    if flows is None:
        return 2

    def listening(port: int) -> None:
        base = (args.public_url or f"http://{bind}:{port}").rstrip("/")
        log.info("listening on http://%s:%d", bind, port)
        for flow in flows:
            log.info("serving flow %s (version %s): %d documents, %d streams; answer URL "
                     "%s%s", flow.name, flow.version, len(flow.documents), len(flow.streams),
                     base, flow.answer.path if "answer" in flow.documents else "")
    uvicorn_level = "info" if args.verbose else "warning"
    if args.workers > 1:
        import shutil
        import tempfile

        # the answer request and its stream may reach different workers: share the
        # calls' parameters through a directory that lives as long as the server
        shared = tempfile.mkdtemp(prefix="flowc-calls-")
        config["settings"]["call_params_dir"] = shared
        os.environ[ENV_CONFIG] = json.dumps(config)
        try:
            return server.run("flowc.commands.serve:worker_app", host=bind, port=args.port,
                              workers=args.workers, log_level=uvicorn_level,
                              access_log=args.access_log,
                              ws_max_size=settings.max_message_bytes, on_listening=listening)
        finally:
            shutil.rmtree(shared, ignore_errors=True)
    factory = server.drainable(lambda: create_app(flows, host=host, settings=settings),
                               settings.drain_timeout)
    return server.run(factory, host=bind, port=args.port, log_level=uvicorn_level,
                      access_log=args.access_log, ws_max_size=settings.max_message_bytes,
                      on_listening=listening)

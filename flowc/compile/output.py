"""Writing results and rendering documents for ``flowc build``."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from flowc.model import Element, RouteRef


def write_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and rename (no partial files)."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent or ".")
    try:
        if target.exists():
            mode = target.stat().st_mode & 0o7777
        else:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def emit(text: str, output: str | None, command: str) -> int:
    """Write ``text`` to ``output`` (atomically) or stdout; the exit status of ``command``."""
    if not output:
        sys.stdout.write(text)
        return 0
    try:
        write_atomic(output, text)
    except OSError as exc:
        print(f"flowc {command}: cannot write {output}: {exc}", file=sys.stderr)
        return 2
    return 0


def route_refs(element: Element) -> list[RouteRef]:
    """Every flowc route an element tree references (they need a public URL)."""
    found = [v for _, v in element.attributes if isinstance(v, RouteRef)]
    if isinstance(element.text, RouteRef):
        found.append(element.text)
    for child in element.children:
        found.extend(route_refs(child))
    return found

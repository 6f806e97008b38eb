"""Recording file names from the ``filename`` template."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

FIELDS = ("flow", "version", "call_id", "stream_id", "stream_key", "account_id", "date",
          "time", "from", "to")
TEMPLATE_PATTERN = r"^(?:[^{}]|\{(?:" + "|".join(FIELDS) + r")\})+$"
_FIELD = re.compile(r"\{(\w+)\}")
_UNSAFE = re.compile(r"[^A-Za-z0-9._+@=-]+")
_DOTS = re.compile(r"\.\.+")


def safe(value: str) -> str:
    """A value usable as one path component: no separators, no leading dots."""
    cleaned = _DOTS.sub("_", _UNSAFE.sub("_", value)).lstrip(".")
    return cleaned or "unknown"


def render(template: str, values: Mapping[str, str]) -> str:
    """Fill ``{field}`` placeholders with path-safe values."""
    if not re.fullmatch(TEMPLATE_PATTERN, template):
        raise ValueError(f"recorder: bad filename template {template!r}: use text and "
                         f"{{{'}, {'.join(FIELDS)}}} placeholders")
    return _FIELD.sub(lambda m: safe(values.get(m.group(1), "")), template)


def recording_path(directory: Path, template: str, values: Mapping[str, str]) -> Path:
    """``directory/<rendered template>.wav``, refusing names that leave ``directory``."""
    root = directory.resolve()
    path = (root / (render(template, values) + ".wav")).resolve()
    if not path.is_relative_to(root) or path == root:
        raise ValueError(f"recorder: filename template {template!r} leaves {directory}")
    return path

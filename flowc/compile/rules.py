"""Plivo rules the schema cannot express and the SDK does not enforce (plivo.md §1.5, §2.3).

Each check reads a verb's (already normalized) mapping and reports through the compiler;
values that failed the schema are skipped, so one mistake gives one diagnostic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flowc.compile.catalog import ElementSpec
from flowc.compile.loader import Path
from flowc.compile.templates import is_template

if TYPE_CHECKING:
    from flowc.compile.compiler import Compiler

EXTRA_HEADERS_MAX_BYTES = 512
_ENDS_DOCUMENT = ("Hangup", "Redirect")


def _literal(value: Any) -> bool:
    return isinstance(value, str) and not is_template(value)


def check_element(c: Compiler, spec: ElementSpec, m: dict[str, Any], path: Path) -> None:
    """Cross-attribute rules of one element."""
    if spec.name == "Stream":
        _stream(c, m, path)
    elif spec.name == "Speak":
        _speak(c, m, path)
    elif spec.name == "Dial":
        steps = m.get("steps")
        if not steps:
            c.error(path, "Dial needs at least one Number or User under `steps`",
                    "dial.no-target", key=True)
    elif spec.name == "GetInput":
        input_type = m.get("inputType")
        if "numDigits" in m and input_type == "speech":
            c.warn((*path, "numDigits"), "numDigits has no effect when inputType is speech",
                   "getinput.unused-attribute", key=True)
        if "speechModel" in m and input_type == "dtmf":
            c.warn((*path, "speechModel"), "speechModel has no effect when inputType is dtmf",
                   "getinput.unused-attribute", key=True)


def _stream(c: Compiler, m: dict[str, Any], path: Path) -> None:
    track = m.get("audioTrack")
    if m.get("bidirectional") is True and track in ("outbound", "both"):
        c.error((*path, "audioTrack"), f"audioTrack must be inbound (or unset) when "
                f"bidirectional is true, not {track!r}", "stream.bidirectional-track")
    if "noiseCancellationLevel" in m and m.get("noiseCancellation") is not True:
        c.error((*path, "noiseCancellationLevel"), "noiseCancellationLevel applies only with "
                "noiseCancellation: true", "stream.noise-level-without-cancellation", key=True)
    headers = m.get("extraHeaders")
    if isinstance(headers, str) and _literal(headers):
        size = len(headers.encode("utf-8"))
        if size > EXTRA_HEADERS_MAX_BYTES >= len(headers):  # longer ones fail the schema
            c.error((*path, "extraHeaders"), f"extraHeaders is {size} bytes; Plivo allows at "
                    f"most {EXTRA_HEADERS_MAX_BYTES}", "stream.extra-headers-size")


def _speak(c: Compiler, m: dict[str, Any], path: Path) -> None:
    has_text = m.get("text") is not None
    has_ssml = m.get("ssml") is not None
    if has_text and has_ssml:
        c.error((*path, "ssml"), "Speak takes `text` or `ssml`, not both",
                "speak.text-and-ssml", key=True)
    elif not has_text and not has_ssml:
        c.error(path, "Speak needs `text` (or `ssml`)", "content.missing", key=True)
    voice = m.get("voice")
    if has_ssml and isinstance(voice, str) and _literal(voice) and not voice.startswith("Polly."):
        c.warn((*path, "voice"), f"SSML tags need a Polly voice (Polly.Joanna...), not "
               f"{voice!r}", "speak.ssml-voice")


def check_document(c: Compiler, steps: list[Any], path: Path) -> None:
    """Document-level rules: unreachable steps, a final Stream that ends at once."""
    ended_at: str | None = None
    for index, step in enumerate(steps):
        if not isinstance(step, dict):
            continue
        verbs = [k for k in step if k != "if"]
        if len(verbs) != 1:
            continue
        verb = verbs[0]
        if ended_at is not None:
            c.warn((*path, index, verb), f"{verb} never runs: the {ended_at} before it ends "
                   "this document", "doc.unreachable-step", key=True)
            break
        if verb in _ENDS_DOCUMENT and "if" not in step:
            ended_at = verb
    last = steps[-1] if steps else None
    if isinstance(last, dict) and "Stream" in last and len(set(last) - {"if"}) == 1:
        value = steps[-1]["Stream"]
        keep = value.get("keepCallAlive", False) if isinstance(value, dict) else False
        if keep is False:  # a non-boolean was reported by the schema
            c.warn((*path, len(steps) - 1, "Stream"), "the call ends right after this Stream "
                   "(it is the last element); set keepCallAlive: true to keep streaming",
                   "stream.ends-call", key=True)

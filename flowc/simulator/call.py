"""One simulated Plivo call: fetch the answer XML, walk it, run its streams, follow actions.

What Plivo does, step by step (plivo.md §1.3, §3, §4.4):

* the answer URL gets a form POST with ``CallUUID``, ``From``, ``To``, ``Direction``,
  ``CallStatus`` (signed with ``X-Plivo-Signature-V3`` when a token is set);
* ``Speak``/``Play``/``Wait`` take time on the call (``Speak`` is spoken with the
  caller's TTS engine when one is available, so ``--record-out`` has it);
* ``Stream`` opens a WebSocket (two retries, then ``DroppedStream``); without
  ``keepCallAlive`` the next element runs at once and the stream lives until the call
  ends; with it, the XML waits for the stream to end;
* ``GetDigits``/``GetInput`` collect keys from ``--dtmf`` (or the next turn's text as
  ``Speech``) and post them to ``action``; ``Redirect`` fetches new XML; ``Record`` and
  ``Dial`` post their actions; the end of a document or ``Hangup`` ends the call.

The caller's turns are spoken into the first stream that carries the caller's audio;
with a bidirectional stream the caller lets the agent speak first, then talks, waits for
the reply (voice-to-voice latency = end of caller speech to first ``playAudio``) and
hangs up after the last reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlparse

import httpx

from flowc.runtime.frames import PCM
from flowc.simulator.caller import CallerError, KeyPress, Turn, Voice, load_wav
from flowc.simulator.conversation import Caller
from flowc.simulator.observer import Observed
from flowc.simulator.plivo_http import PlivoHttp
from flowc.simulator.results import CallOptions, DocumentFetch, StreamRun, TurnResult
from flowc.simulator.stream_client import (
    CONTENT_TYPES,
    HandshakeRejected,
    PlivoStreamClient,
    Segment,
    StreamEvent,
    StreamSpec,
)
from flowc.simulator.timeline import CallClock, Timeline

DEFAULT_CONTENT_TYPE = "audio/x-l16;rate=8000"
"""Plivo's XML reference default for ``contentType`` (flowc always emits it)."""

MAX_DOCUMENT = 100 * 1024
"""Plivo's limit on an XML document's size (plivo.md §2.1)."""



class _Transfer(Exception):
    """Control moves to another document (action or Redirect)."""

    def __init__(self, url: str, method: str, params: dict[str, str]) -> None:
        super().__init__(url)
        self.url = url
        self.method = method
        self.params = params


class _Hangup(Exception):
    """The call ends."""

    def __init__(self, by: str) -> None:
        super().__init__(by)
        self.by = by


@dataclass
class _Press:
    press: KeyPress
    used: bool = False


class CallSimulator:
    """Runs one call; see the module docstring. ``await run()`` returns ``self``."""

    def __init__(
        self,
        options: CallOptions,
        turns: list[Turn] | None = None,
        presses: list[KeyPress] | None = None,
        *,
        voice: Voice | None = None,
        timeline: Timeline | None = None,
        on_stream_event: Callable[[StreamRun, StreamEvent], None] | None = None,
    ) -> None:
        self.options = options
        self.clock = timeline.clock if timeline is not None else CallClock(fast=options.fast)
        self.timeline = timeline or Timeline(self.clock)
        self.voice = voice
        self.pending_turns = list(turns or [])
        self.results: list[TurnResult] = []
        self.presses = [_Press(p) for p in presses or []]
        self.streams: list[StreamRun] = []
        self.documents: list[DocumentFetch] = []
        self.prompts: list[Segment] = []
        """Audio the caller heard from Speak (on the call clock), when a voice is set."""
        self.status_posts: list[dict[str, Any]] = []
        self.observed: list[tuple[float, Observed]] = []
        self.errors: list[str] = []
        self.greeting_heard = ""
        self.greeting_said: list[str] = []
        """What the agent reported saying before the caller's first turn."""
        """The agent's first words (before the caller's first turn), transcribed."""
        self.ended_by = "end of document"
        self.on_stream_event = on_stream_event
        self._http: PlivoHttp | None = None
        self._turn_index = 0
        self._server = urlparse(options.answer_url).netloc
        self._loop: asyncio.AbstractEventLoop | None = None
        self._caller = Caller(self)
        self.conversation: asyncio.Task[None] | None = None
        """The caller speaking the turns (runs while streams carry the caller's audio)."""
        self.observing = False
        """A server observer feeds :meth:`observe` (set when the server runs in-process)."""
        self._observer_event = asyncio.Event()
        self._stopped_seen = 0
        self.waiting_for_caller = asyncio.Event()
        """Set while the XML waits (keepCallAlive stream, Wait, Dial...): the caller talks."""

    # ------------------------------------------------------------------ public

    @property
    def call_params(self) -> dict[str, str]:
        """What Plivo posts to the answer URL (plivo.md §4.4)."""
        return {
            "CallUUID": self.options.call_uuid,
            "From": self.options.from_number,
            "To": self.options.to_number,
            "Direction": "inbound",
            "CallStatus": "in-progress",
        }

    def observe(self, item: Observed) -> None:
        """Thread-safe sink for :class:`~flowc.simulator.observer.ServerObserver`."""
        if item.call_id not in (None, self.options.call_uuid):
            return
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._on_observed, item)

    async def run(self) -> CallSimulator:
        """Place the call and run it to its end."""
        self._loop = asyncio.get_running_loop()
        options = self.options
        if not self.timeline.entries:
            self.clock.restart()
        self.timeline.add(
            "call", f"call {options.call_uuid[:8]} from {options.from_number} to "
            f"{options.to_number} -> {options.answer_url}", call_uuid=options.call_uuid)
        pump = asyncio.create_task(self._dtmf_pump())
        async with httpx.AsyncClient(timeout=options.http_timeout) as http:
            self._http = PlivoHttp(http, options.auth_token)
            try:
                async with asyncio.timeout(options.max_call):
                    await self._run_documents()
            except TimeoutError:
                self.ended_by = "max call length"
                self.timeline.add("warning", f"call cut after {options.max_call:g} s")
            finally:
                pump.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pump
                await self._hang_up_streams()
                self.timeline.add("call", f"call ended ({self.ended_by})",
                                  ended_by=self.ended_by)
        await self._drain_observer()
        return self

    async def _drain_observer(self) -> None:
        """With the server's observer attached, wait (a little) until it has closed every
        stream, so transcripts finalized at hang-up still count."""
        connected = sum(1 for r in self.streams if r.client is not None)
        if not self.observing or not connected:
            await asyncio.sleep(0.05)
            return
        deadline = time.monotonic() + self.options.observer_drain
        while self._stopped_seen < connected and time.monotonic() < deadline:
            self._observer_event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._observer_event.wait(),
                                       deadline - time.monotonic())
        await asyncio.sleep(0.05)

    # ------------------------------------------------------------------ documents

    async def _run_documents(self) -> None:
        url, method = self.options.answer_url, self.options.answer_method
        params: dict[str, str] = {}
        for _ in range(self.options.max_documents):
            root = await self._fetch(url, method, params)
            if root is None:
                self.ended_by = "document error"
                return
            try:
                await self._walk(list(root), url)
            except _Transfer as transfer:
                url, method, params = transfer.url, transfer.method, transfer.params
                continue
            except _Hangup as hangup:
                self.ended_by = hangup.by
                return
            self.ended_by = "end of document"
            return
        self.errors.append(f"more than {self.options.max_documents} documents: stopped")
        self.timeline.add("error", f"stopped after {self.options.max_documents} documents "
                          "(a Redirect loop?)")
        self.ended_by = "too many documents"

    def _plivo(self) -> PlivoHttp:
        assert self._http is not None, "only while the call runs"
        return self._http

    async def _fetch(self, url: str, method: str, extra: dict[str, str]) -> ET.Element | None:
        params = {**self.call_params, **extra}
        method = method.upper()
        started = time.monotonic()
        try:
            response = await self._plivo().request(url, method, params)
        except httpx.HTTPError as exc:
            self.report_error(f"{method} {url} failed: {exc}")
            return None
        elapsed = (time.monotonic() - started) * 1000
        if response.status_code != 200:
            self.report_error(f"{method} {url} -> HTTP {response.status_code}: "
                              f"{response.text.strip()[:200]}")
            return None
        content_type = response.headers.get("content-type", "").split(";")[0].strip()
        if content_type not in ("application/xml", "text/xml"):
            self.timeline.add("warning", f"{url}: Content-Type {content_type or 'missing'!r}; "
                              "Plivo expects text/xml or application/xml")
        if len(response.content) > MAX_DOCUMENT:
            self.timeline.add("warning", f"{url}: {len(response.content)} bytes; Plivo's "
                              f"limit is {MAX_DOCUMENT // 1024} KB")
        try:
            root = ET.fromstring(response.content)
        except ET.ParseError as exc:
            self.report_error(f"{url}: not XML ({exc})")
            return None
        if root.tag != "Response":
            self.report_error(f"{url}: root element is <{root.tag}>, Plivo expects <Response>")
            return None
        names = [child.tag for child in root]
        self.documents.append(DocumentFetch(url, method, response.status_code, elapsed, names,
                                            extra))
        path = urlparse(url).path
        self.timeline.add("document", f"{method} {path} -> {len(names)} elements "
                          f"({elapsed:.0f} ms)", url=url, elements=names, params=extra)
        return root

    def report_error(self, message: str) -> None:
        """Record a call error (shown on the timeline, fails scenarios)."""
        self.errors.append(message)
        self.timeline.add("error", message)

    async def _walk(self, elements: list[ET.Element], url: str) -> None:
        for element in elements:
            handler = getattr(self, f"_verb_{element.tag}", None)
            if handler is None:
                self.timeline.add("warning", f"<{element.tag}> is not simulated; skipped")
                continue
            await handler(element, url)

    # ------------------------------------------------------------------ verbs

    async def _say_prompt(self, text: str, loops: int = 1) -> None:
        """Plivo speaks ``text`` to the caller: takes its time on the call."""
        duration = max(0.6, 0.33 * len(text.split()))
        if self.voice is not None and text:
            pcm, rate = await asyncio.to_thread(self.voice.say, text)
            duration = len(pcm) / rate
            now = self.clock.now()
            for loop_index in range(loops):
                self.prompts.append(Segment(now + loop_index * duration, pcm, rate))
            for run in self._active_streams():
                if run.client is not None and "outbound" in run.spec.tracks:
                    run.client.play_to_caller(pcm, rate)
        await self.clock.sleep(duration * loops)

    async def _verb_Speak(self, element: ET.Element, url: str) -> None:
        text = " ".join("".join(element.itertext()).split())
        loops = _int(element.get("loop"), 1)
        if loops == 0:
            self.timeline.add("warning", "Speak loop=0 (forever) simulated once")
        loops = max(loops, 1)
        self.timeline.add("verb", f'Speak "{text}"', verb="Speak", say=text,
                          voice=element.get("voice", "WOMAN"))
        await self._say_prompt(text, loops)

    async def _verb_Play(self, element: ET.Element, url: str) -> None:
        target = urljoin(url, (element.text or "").strip())
        loops = max(_int(element.get("loop"), 1), 1)
        audio = await self._fetch_audio(target)
        if audio is None:
            self.timeline.add("verb", f"Play {target} (not a WAV the simulator can play; "
                              "takes no time)", verb="Play", url=target)
            return
        pcm, rate = audio
        duration = len(pcm) / rate
        self.timeline.add("verb", f"Play {target} ({duration:.1f} s)", verb="Play", url=target)
        now = self.clock.now()
        for loop_index in range(loops):
            self.prompts.append(Segment(now + loop_index * duration, pcm, rate))
        await self.clock.sleep(duration * loops)

    async def _fetch_audio(self, target: str) -> tuple[PCM, int] | None:
        """GET a ``<Play>`` URL; its audio when it is a PCM WAV."""
        if urlparse(target).scheme not in ("http", "https"):
            return None
        try:
            response = await self._plivo().client.get(target)
        except httpx.HTTPError:
            return None
        if response.status_code != 200 or not response.content.startswith(b"RIFF"):
            return None
        try:
            return load_wav(io.BytesIO(response.content))
        except CallerError:
            return None

    async def _verb_Wait(self, element: ET.Element, url: str) -> None:
        length = _float(element.get("length"), 1.0)
        self.timeline.add("verb", f"Wait {length:g} s", verb="Wait", length=length)
        await self._hold(length)

    async def _verb_PreAnswer(self, element: ET.Element, url: str) -> None:
        self.timeline.add("verb", "PreAnswer", verb="PreAnswer")
        await self._walk(list(element), url)

    async def _verb_DTMF(self, element: ET.Element, url: str) -> None:
        digits = (element.text or "").strip()
        self.timeline.add("verb", f"DTMF {digits} played to the caller", verb="DTMF",
                          digits=digits)
        await self.clock.sleep(0.1 * len(digits))

    async def _verb_Message(self, element: ET.Element, url: str) -> None:
        self.timeline.add("verb", f"Message to {element.get('dst', '?')} (not sent)",
                          verb="Message")

    async def _verb_Hangup(self, element: ET.Element, url: str) -> None:
        reason = element.get("reason")
        self.timeline.add("verb", "Hangup" + (f" ({reason})" if reason else ""), verb="Hangup")
        raise _Hangup("Hangup")

    async def _verb_Redirect(self, element: ET.Element, url: str) -> None:
        target = urljoin(url, (element.text or "").strip())
        method = element.get("method", "POST").upper()
        self.timeline.add("verb", f"Redirect {urlparse(target).path}", verb="Redirect",
                          url=target)
        raise _Transfer(target, method, {})

    async def _verb_GetDigits(self, element: ET.Element, url: str) -> None:
        await self._gather(element, url, input_types={"dtmf"})

    async def _verb_GetInput(self, element: ET.Element, url: str) -> None:
        kinds = set((element.get("inputType") or "dtmf").split())
        await self._gather(element, url, input_types=kinds)

    async def _gather(self, element: ET.Element, url: str, *, input_types: set[str]) -> None:
        tag = element.tag
        is_input = tag == "GetInput"
        self.timeline.add("verb", f"{tag} ({' '.join(sorted(input_types))})", verb=tag)
        await self._walk([c for c in element if c.tag in ("Speak", "Play", "Wait")], url)
        num_digits = _int(element.get("numDigits"), 99 if not is_input else 32)
        finish = element.get("finishOnKey", "#")
        if finish.lower() == "none":
            finish = ""
        if is_input:
            timeout = _float(element.get("executionTimeout"), 15.0)
            digit_timeout = _float(element.get("digitEndTimeout"), 5.0, auto=5.0)
        else:
            timeout = _float(element.get("timeout"), 5.0)
            digit_timeout = _float(element.get("digitTimeout"), 2.0)
        valid = element.get("validDigits", "1234567890*#")
        digits = ""
        deadline = self.clock.now() + timeout
        while len(digits) < num_digits:
            press = self._next_press(deadline)
            if press is None:
                break
            press.used = True
            if press.press.at is not None:
                await self.clock.sleep_until(press.press.at)
            digit = press.press.digit
            self.timeline.add("dtmf", f"caller presses {digit}", digit=digit)
            if digit == finish and finish:
                break
            if digit not in valid:
                self.timeline.add("warning", f"{digit} is not in validDigits; ignored")
                continue
            digits += digit
            deadline = self.clock.now() + digit_timeout
        params: dict[str, str] = {}
        if digits:
            params = {"Digits": digits}
            if is_input:
                params["InputType"] = "dtmf"
        elif is_input and "speech" in input_types and self._next_speech_turn() is not None:
            turn = self.pending_turns.pop(0)
            result = self.new_result(turn)
            result.speech_input = True
            result.started = self.clock.now()
            self.timeline.add("caller", f"caller says {turn.describe()}", turn=result.index)
            await self.clock.sleep(turn.duration)
            result.ended = self.clock.now()
            params = {"InputType": "speech", "Speech": turn.text or "",
                      "SpeechConfidenceScore": "0.9"}
        else:
            await self.clock.sleep_until(deadline)
            self.timeline.add("verb", f"{tag}: no input before the timeout; next element")
            return
        action = element.get("action")
        if not action:
            action = url
        target = urljoin(url, action)
        method = element.get("method", "POST").upper()
        shown = ", ".join(f"{k}={v}" for k, v in params.items() if k != "SpeechConfidenceScore")
        self.timeline.add("verb", f"{tag} -> {urlparse(target).path} with {shown}",
                          verb=tag, params=params)
        if element.get("redirect", "true") == "false":
            await self._post_callback(target, method, params)
            return
        raise _Transfer(target, method, params)

    def _next_press(self, deadline: float) -> _Press | None:
        for press in self.presses:
            if press.used:
                continue
            if press.press.at is None or press.press.at <= deadline:
                return press
            return None
        return None

    def _next_speech_turn(self) -> Turn | None:
        if self.pending_turns and self.pending_turns[0].text:
            return self.pending_turns[0]
        return None

    async def _verb_Record(self, element: ET.Element, url: str) -> None:
        max_length = _float(element.get("maxLength"), 60.0)
        self.timeline.add("verb", f"Record (up to {max_length:g} s)", verb="Record")
        started = self.clock.now()
        if self.pending_turns:
            turn = self.pending_turns.pop(0)
            result = self.new_result(turn)
            result.started = started
            self.timeline.add("caller", f"caller says {turn.describe()} (recorded)",
                              turn=result.index)
            await self.clock.sleep(min(turn.duration, max_length))
            result.ended = self.clock.now()
        else:
            await self.clock.sleep(min(_float(element.get("timeout"), 15.0), max_length))
        duration = self.clock.now() - started
        action = element.get("action")
        if not action:
            return
        params = {
            "RecordUrl": f"https://simulator.flowc.invalid/recordings/{uuid.uuid4()}.mp3",
            "RecordingDuration": str(round(duration)),
            "RecordingDurationMs": str(round(duration * 1000)),
            "RecordingID": str(uuid.uuid4()),
            "Digits": element.get("finishOnKey", "#") if self.pending_turns else "hangup",
        }
        target = urljoin(url, action)
        self.timeline.add("verb", f"Record -> {urlparse(target).path}", verb="Record")
        if element.get("redirect", "true") == "false":
            await self._post_callback(target, element.get("method", "POST"), params)
            return
        raise _Transfer(target, element.get("method", "POST").upper(), params)

    async def _verb_Dial(self, element: ET.Element, url: str) -> None:
        await self._bridge(element, url)

    async def _verb_Conference(self, element: ET.Element, url: str) -> None:
        await self._bridge(element, url)

    async def _verb_MultiPartyCall(self, element: ET.Element, url: str) -> None:
        await self._bridge(element, url)

    async def _bridge(self, element: ET.Element, url: str) -> None:
        target = " ".join(t.strip() for t in element.itertext() if t.strip())
        self.timeline.add("verb", f"{element.tag} {target} (simulated: connected until the "
                          "caller's script ends)", verb=element.tag)
        await self._hold(None)
        self.timeline.add("verb", f"{element.tag}: the other party hangs up")
        action = element.get("action")
        if action and element.tag == "Dial":
            params = {
                "DialStatus": "completed",
                "DialALegUUID": self.options.call_uuid,
                "DialBLegUUID": str(uuid.uuid4()),
                "DialHangupCause": "NORMAL_CLEARING",
            }
            target = urljoin(url, action)
            if element.get("redirect", "true") == "false":
                await self._post_callback(target, element.get("method", "POST"), params)
                return
            raise _Transfer(target, element.get("method", "POST").upper(), params)
        # without an action, Plivo goes on with the next element once the bridge ends

    async def _hold(self, limit: float | None) -> None:
        """Time passes on the call while the caller talks (real time), up to ``limit``."""
        started = self.clock.now()
        caller = self.conversation
        if caller is not None and not caller.done():
            self.waiting_for_caller.set()
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(caller), limit)
            finally:
                self.waiting_for_caller.clear()
        if limit is not None:
            await self.clock.sleep(limit - (self.clock.now() - started))

    # ------------------------------------------------------------------ streams

    def _active_streams(self) -> list[StreamRun]:
        return [r for r in self.streams if r.client is not None and not r.client.closed]

    async def _verb_Stream(self, element: ET.Element, url: str) -> None:
        target = (element.text or "").strip()
        content_type = element.get("contentType") or DEFAULT_CONTENT_TYPE
        index = len(self.streams) + 1
        if content_type not in CONTENT_TYPES:
            self.report_error(f"Stream {index}: contentType {content_type!r} is not one Plivo "
                              "supports")
            return
        try:
            spec = StreamSpec(
                target,
                content_type=content_type,
                audio_track=element.get("audioTrack", "inbound"),
                bidirectional=element.get("bidirectional") == "true",
                extra_headers=element.get("extraHeaders"),
                stream_timeout=_float(element.get("streamTimeout"), 86400.0),
            )
        except ValueError as exc:
            self.report_error(f"Stream {index}: {exc}")
            return
        run = StreamRun(index, spec, element.get("keepCallAlive") == "true")
        status = element.get("statusCallbackUrl")
        if status:
            run.status_url = urljoin(url, status)
            run.status_method = element.get("statusCallbackMethod", "POST").upper()
        self.streams.append(run)
        flags = [content_type, spec.audio_track]
        flags += ["bidirectional"] if spec.bidirectional else []
        flags += ["keepCallAlive"] if run.keep_call_alive else []
        self.timeline.add("stream", f"Stream {urlparse(target).path} ({', '.join(flags)})",
                          stream=index, url=target)
        client = await self._open(run)
        if client is None:
            return
        if "inbound" in spec.tracks and (self.conversation is None or self.conversation.done()):
            self.conversation = asyncio.create_task(self._caller.converse())
        if not run.keep_call_alive:
            return
        await self._until_stream_ends(run)

    async def _open(self, run: StreamRun) -> PlivoStreamClient | None:
        last_error = ""
        for attempt in range(3):  # Plivo retries twice (plivo.md §1.3)
            client = PlivoStreamClient(
                run.spec,
                call_id=self.options.call_uuid,
                auth_token=self.options.auth_token,
                fast=self.options.fast,
                clock=self.clock,
                on_event=functools.partial(self._on_stream_event, run),
            )
            try:
                await client.connect()
            except HandshakeRejected as exc:
                last_error = f"HTTP {exc.status}"
            except (OSError, TimeoutError) as exc:
                last_error = str(exc) or type(exc).__name__
            else:
                run.client = client
                self.timeline.add("stream", f"stream {run.index} connected "
                                  f"(streamId {client.stream_id[:8]})", stream=run.index)
                await self._status(run, "StartStream")
                return client
            if attempt < 2:
                await asyncio.sleep(0.2)
        run.error = last_error
        run.ended_by = "dropped"
        self.report_error(f"stream {run.index} could not connect ({last_error}); dropped")
        await self._status(run, "DroppedStream")
        return None

    async def _until_stream_ends(self, run: StreamRun) -> None:
        client = run.client
        assert client is not None
        closed = asyncio.ensure_future(client.wait_closed())
        waiters: set[asyncio.Future[Any]] = {closed}
        if self.conversation is not None:
            waiters.add(self.conversation)
        self.waiting_for_caller.set()
        try:
            done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.waiting_for_caller.clear()
        if closed in done or client.closed:
            run.ended_by = "timeout" if client.close_reason == "streamTimeout" else "server"
            reason = f" ({client.close_reason})" if client.close_reason else ""
            self.timeline.add("stream", f"stream {run.index} ended by the server{reason}; "
                              "the XML continues", stream=run.index)
            await self._status(run, "StopStream")
            return
        closed.cancel()
        raise _Hangup("caller hung up")

    async def _hang_up_streams(self) -> None:
        if self.conversation is not None and not self.conversation.done():
            self.conversation.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.conversation
        for run in self.streams:
            client = run.client
            if client is None:
                continue
            if not client.closed:
                await client.close()
                run.ended_by = run.ended_by or "call ended"
                self.timeline.add("stream", f"stream {run.index} closed (call ended)",
                                  stream=run.index)
                await self._status(run, "StopStream")
            elif run.ended_by is None:
                run.ended_by = "server"
                await self._status(run, "StopStream")

    async def _status(self, run: StreamRun, event: str) -> None:
        """Post a stream status callback when it points at the server under test."""
        if run.status_url is None:
            return
        if urlparse(run.status_url).netloc != self._server:
            self.timeline.add("status", f"{event} not posted: {run.status_url} is not the "
                              "server under test")
            return
        params = {
            "Event": event,
            "CallUUID": self.options.call_uuid,
            "StreamID": run.client.stream_id if run.client is not None else "",
            "ServiceURL": run.spec.url,
        }
        status = await self._post_callback(run.status_url, run.status_method, params)
        self.status_posts.append({"event": event, "stream": run.index, "status": status})
        self.timeline.add("status", f"{event} -> HTTP {status}", stream=run.index, event=event,
                          status=status)

    async def _post_callback(self, url: str, method: str, params: dict[str, str]) -> int:
        try:
            response = await self._plivo().request(url, method.upper(), params)
        except httpx.HTTPError as exc:
            self.report_error(f"callback {url} failed: {exc}")
            return 0
        return response.status_code

    def _on_stream_event(self, run: StreamRun, event: StreamEvent) -> None:
        if self.on_stream_event is not None:
            self.on_stream_event(run, event)
        name = event.event
        if event.direction == "received" and name == "playAudio":
            self.timeline.add("agent", "<- playAudio: agent audio starts", at=event.time,
                              stream=run.index, event=name)
            return
        if name in ("start",):
            return
        detail = ""
        if name in ("checkpoint", "playedStream"):
            detail = f" {event.message.get('name')}"
        elif name == "sendDTMF":
            detail = f" {event.message.get('dtmf')}"
        elif name == "dtmf":
            detail = f" {event.message.get('dtmf', {}).get('digit')}"
        arrow = "<-" if event.direction == "received" else "->"
        self.timeline.add("event", f"{arrow} {name}{detail}", at=event.time, stream=run.index,
                          event=name, direction=event.direction)

    # ------------------------------------------------------------------ the caller

    def new_result(self, turn: Turn) -> TurnResult:
        """Start the result of the next caller turn."""
        result = TurnResult(len(self.results) + 1, turn)
        self.results.append(result)
        return result

    async def _dtmf_pump(self) -> None:
        """Send timed key presses into the streams that are open when they fall due."""
        for press in sorted((p for p in self.presses if p.press.at is not None),
                            key=lambda p: p.press.at or 0.0):
            at = press.press.at or 0.0
            await self.clock.wait_until(at)
            if press.used:
                continue
            streams = [r for r in self._active_streams() if "inbound" in r.spec.tracks]
            if not streams:
                continue  # kept for the next GetDigits/GetInput
            press.used = True
            self.timeline.add("dtmf", f"caller presses {press.press.digit}",
                              digit=press.press.digit)
            for run in streams:
                if run.client is not None:
                    await run.client.send_dtmf(press.press.digit)

    # ------------------------------------------------------------------ observer

    def _on_observed(self, item: Observed) -> None:
        now = self.clock.now()
        self.observed.append((now, item))
        if item.hook == "stream_stopped":
            self._stopped_seen += 1
        self._observer_event.set()
        if item.hook == "transcript":
            text = str(item.data.get("text", "")).strip()
            final = bool(item.data.get("final"))
            track = item.data.get("track", "inbound")
            if not text or not final:
                return
            if track != "inbound" and item.data.get("engine") == "agent":
                # an agent that reports what it says as outbound transcripts
                self.timeline.add("agent", f"agent says: {text}", said=text)
            else:
                who = "caller" if track == "inbound" else "agent"
                self.timeline.add("transcript", f"{who} (transcribed): {text}",
                                  transcript=text, track=track)
            target = self._turn_at(now)
            if target is not None:
                (target.transcripts if track == "inbound" else target.agent_text).append(text)
            elif track != "inbound" and item.data.get("engine") == "agent":
                self.greeting_said.append(text)
        elif item.hook in ("agent_reply", "agent_said"):
            text = str(item.data.get("text", "")).strip()
            self.timeline.add("agent", f"agent says: {text}", said=text)
            target = self._turn_at(now)
            if target is not None:
                target.agent_text.append(text)

    def _turn_at(self, now: float) -> TurnResult | None:
        """The turn a transcript arriving at ``now`` belongs to (the latest started one)."""
        started = [r for r in self.results if r.started is not None and r.started <= now]
        return started[-1] if started else None


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def _float(value: str | None, default: float, *, auto: float | None = None) -> float:
    if value is None:
        return default
    if value == "auto" and auto is not None:
        return auto
    try:
        return float(value)
    except ValueError:
        return default

"""The ``agent`` stage: greeting, turn-taking, barge-in, heard context, actions.

Inbound, it watches the caller's audio with a :class:`SpeechDetector`, collects final
:class:`Transcript` results from a transcriber upstream, and takes :class:`Dtmf` keys as
turns. Outbound, each reply sentence is synthesized off the event loop and emitted as
``AudioOut`` + ``Checkpoint``; ``Played`` confirmations build the heard history. Every
inbound frame is passed on unchanged.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from contextlib import aclosing
from typing import Any

import anyio
from anyio.abc import ObjectReceiveStream, TaskGroup

from flowc.runtime.frames import (
    PCM,
    AudioIn,
    AudioOut,
    Checkpoint,
    ClearAudio,
    Cleared,
    Dtmf,
    EndStream,
    Frame,
    Played,
    Transcript,
)
from flowc.runtime.processor import Emit, Processor, StreamContext
from flowc_agent.brains import Act, Brain, Message, ReplyPart, Say, UserTurn
from flowc_agent.history import HeardHistory
from flowc_agent.listen import CallerSpeech
from flowc_agent.metrics import AgentStats, TurnMetrics, publish_barge_in, publish_turn
from flowc_agent.plivo_rest import PlivoRest
from flowc_agent.settings import with_defaults
from flowc_agent.tts import TtsEngine, sentences

log = logging.getLogger("flowc.agent")

_stream_ids = itertools.count(1)


async def _greeting(text: str) -> AsyncGenerator[ReplyPart, None]:
    from flowc_agent.text import split_sentences

    for sentence in split_sentences(text):
        yield Say(sentence)


def make_brain(settings: Mapping[str, Any], params: Mapping[str, str]) -> Brain:
    """The brain the settings choose (ValueError on bad rules)."""
    if settings["brain"] == "openai":
        from flowc_agent.brains.openai import OpenAIBrain

        return OpenAIBrain(settings["openai"])
    from flowc_agent.brains.rules import RuleBrain

    return RuleBrain(settings["rules"], params)


class AgentProcessor(Processor):
    """One voice agent per stream. ``stats`` holds its per-turn metrics and barge-ins."""

    def __init__(self, settings: Mapping[str, Any], context: StreamContext, *,
                 brain: Brain | None = None, tts: TtsEngine | None = None) -> None:
        super().__init__(with_defaults(settings), context)
        self.stats = AgentStats()
        self.history = HeardHistory()
        self.brain: Brain | None = brain
        self.tts: TtsEngine | None = tts
        self.rest: PlivoRest | None = None
        self._prefix = f"agent{next(_stream_ids)}"
        self._clock0 = time.monotonic()
        self._emit: Emit | None = None
        self._tg: TaskGroup | None = None
        self.speech = CallerSpeech(self.settings["vad"])
        self._turn = 0
        self._generation = 0
        self._reply_scope: anyio.CancelScope | None = None
        self._reply_turn = 0
        self._reply_done = anyio.Event()
        self._reply_done.set()
        self._barge_decided: float | None = None
        self._play_end = 0.0
        self._outstanding: set[str] = set()
        self._played_event = anyio.Event()
        self._caller_speaking = False
        self._pending_text: list[str] = []
        self._pending_digits = ""
        self._partial_open = False
        self._partial: Transcript | None = None
        self._partial_at = 0.0
        self._skip_final = False
        self._transcript_at: float | None = None
        self._transcript_event = anyio.Event()
        self._waiter: anyio.CancelScope | None = None
        self._ended = False

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        if self.tts is None:
            tts = self.settings["tts"]
            self.tts = await self._run_sync(engine_for, tts["engine"], tts.get("options", {}),
                                            self.context.engines)
        if self.brain is None:
            self.brain = make_brain(self.settings, self.context.params)
        self.rest = PlivoRest.from_settings(self.settings["plivo"])
        self.speech.take(self.context.sample_rate)

    async def close(self) -> None:
        self.speech.release()
        for closer in (self.brain, self.rest):
            if closer is not None:
                with anyio.CancelScope(shield=True), anyio.move_on_after(2):
                    await closer.aclose()
        log.info("agent %s: %s", self.context.stream_id, self.stats.summary())
        log.debug("agent %s heard: %s", self.context.stream_id, self.history.transcript())

    async def run(self, inbox: ObjectReceiveStream[Frame], emit: Emit) -> None:
        if self.tts is None or self.brain is None:
            await self.start()
        self._emit = emit
        async with anyio.create_task_group() as tg:
            self._tg = tg
            tg.start_soon(self.speech.load, self._run_sync)  # no-op when pooled
            greeting = str(self.settings["greeting"]).strip()
            if greeting:
                self._start_reply(0, _greeting(greeting), None)
            async with inbox:
                async for frame in inbox:
                    await self._handle(frame)
                    await emit(frame)
            tg.cancel_scope.cancel()

    # -- inbound -----------------------------------------------------------------------

    async def _handle(self, frame: Frame) -> None:
        if isinstance(frame, AudioIn):
            if frame.track == "inbound":
                await self._on_audio(frame)
        elif isinstance(frame, Transcript):
            if frame.track == "inbound":
                await self._on_transcript(frame)
        elif isinstance(frame, Dtmf):
            if frame.track == "inbound":
                await self._on_dtmf(frame)
        elif isinstance(frame, Played):
            self._outstanding.discard(frame.name)
            self.history.played(frame.name)
            self._played_event.set()
        elif isinstance(frame, Cleared):
            dropped = self.history.cleared()
            self._outstanding.clear()
            if dropped:
                log.debug("cleared before playing: %s", dropped)

    async def _on_audio(self, frame: AudioIn) -> None:
        events = self.speech.feed(frame.pcm, frame.rate)
        now = time.monotonic()
        for event in events:
            if event.kind == "start":
                self._caller_speaking = True
                if self._waiter is not None:  # the caller goes on: one turn, not two
                    self._waiter.cancel()
                    self._waiter = None
                if self.settings["barge_in"] and self.agent_talking:
                    await self._barge_in(now)
            else:
                self._caller_speaking = False
                speech_end = now - (event.decided_ms - event.at_ms) / 1000.0
                self._end_of_utterance(TurnMetrics(0, "speech", speech_end, eou=now),
                                       event.at_ms)

    async def _on_transcript(self, frame: Transcript) -> None:
        if not frame.final:
            self._partial_open = bool(frame.text.strip())
            self._partial, self._partial_at = frame, time.monotonic()
            return
        self._partial_open = False
        text = frame.text.strip()
        if self._skip_final:  # the turn went ahead on a partial: keep the final's words
            self._skip_final = False
            if text:
                self.history.correct_user(self._turn, text)
            return
        if text:
            self._pending_text.append(text)
            self._transcript_at = time.monotonic()
        self._transcript_event.set()
        self._transcript_event = anyio.Event()
        if text and not self._caller_speaking and self._waiter is None:
            # a result with no utterance end of ours (VAD missed it, or it came late)
            now = time.monotonic()
            self._dispatch(TurnMetrics(0, "transcript", now, transcript=now))

    async def _on_dtmf(self, frame: Dtmf) -> None:
        now = time.monotonic()
        if self.settings["barge_in"] and self.agent_talking:
            await self._barge_in(now)
        self._pending_digits += frame.digit
        self._dispatch(TurnMetrics(0, "dtmf", now))

    # -- turn-taking ---------------------------------------------------------------------

    @property
    def agent_talking(self) -> bool:
        """A reply is being produced, or sent audio is (probably) still playing."""
        if not self._reply_done.is_set():
            return True
        return bool(self._outstanding) and time.monotonic() < self._play_end + 1.0

    def _end_of_utterance(self, metrics: TurnMetrics, speech_end_ms: float) -> None:
        if self._pending_text and not self._partial_open:
            metrics.transcript = self._transcript_at
            self._dispatch(metrics)
            return
        partial = self._partial
        if (self.settings["reply_on_partial"] and not self._pending_text and self._partial_open
                and partial is not None
                and partial.end_ms >= speech_end_ms - self.settings["partial_lag_ms"]):
            # the partial already covers the speech: answer now, not after the final
            self._pending_text = [partial.text.strip()]
            self._partial_open, self._skip_final = False, True
            metrics.transcript = self._partial_at
            self._dispatch(metrics)
            return
        assert self._tg is not None
        scope = anyio.CancelScope()
        self._waiter = scope
        self._tg.start_soon(self._await_transcript, scope, metrics)

    async def _await_transcript(self, scope: anyio.CancelScope, metrics: TurnMetrics) -> None:
        with scope:
            with anyio.move_on_after(self.settings["transcript_wait_ms"] / 1000.0):
                while not self._pending_text or self._partial_open:
                    await self._transcript_event.wait()
            if self._waiter is scope:
                self._waiter = None
            metrics.transcript = self._transcript_at if self._pending_text else None
            self._dispatch(metrics)

    def _dispatch(self, metrics: TurnMetrics) -> None:
        text = " ".join(self._pending_text)
        digits = self._pending_digits
        self._pending_text, self._pending_digits = [], ""
        self._transcript_at = None
        if self._ended:
            return
        if not text and not digits:
            self.stats.ignored_turns += 1
            log.info("caller spoke, no words (no transcriber, or nothing recognised)")
            return
        self._turn += 1
        metrics.turn, metrics.text = self._turn, text or digits
        turn = UserTurn(text, digits)
        history: Sequence[Message] = self.history.messages()
        self.history.user(self._turn, text or f"(pressed {digits})")
        assert self.brain is not None
        self.stats.turns.append(metrics)
        self._start_reply(self._turn, self.brain.reply(turn, history), metrics)

    # -- outbound ------------------------------------------------------------------------

    def _start_reply(self, turn: int, parts: AsyncGenerator[ReplyPart, None],
                     metrics: TurnMetrics | None) -> None:
        assert self._tg is not None
        previous = self._reply_done
        if not previous.is_set() and self.settings["barge_in"] and self._reply_scope:
            self._generation += 1
            self._reply_scope.cancel()
        scope = anyio.CancelScope()
        done = anyio.Event()
        self._reply_scope, self._reply_done, self._reply_turn = scope, done, turn
        self._tg.start_soon(self._reply, scope, done, previous, turn, parts, metrics)

    async def _reply(self, scope: anyio.CancelScope, done: anyio.Event, previous: anyio.Event,
                     turn: int, parts: AsyncGenerator[ReplyPart, None],
                     metrics: TurnMetrics | None) -> None:
        try:
            with scope:
                await previous.wait()  # barge-in off: finish the previous reply first
                generation = self._generation
                action = await self._speak(turn, parts, metrics, generation)
                if action is not None and generation == self._generation:
                    await self._act(action)
        finally:
            if self._barge_decided is not None and scope.cancel_called:
                self._record_stop()
            done.set()

    async def _speak(self, turn: int, parts: AsyncGenerator[ReplyPart, None],
                     metrics: TurnMetrics | None, generation: int) -> Act | None:
        assert self.tts is not None and self._emit is not None
        action: Act | None = None
        index = 0
        async with aclosing(parts):
            async for part in parts:
                if isinstance(part, Act):
                    action = part
                    continue
                if metrics is not None and metrics.reply_text is None:
                    metrics.reply_text = time.monotonic()
                    metrics.intent = self.brain.last_intent if self.brain else None
                for sentence, pcm in await self._run_sync(_synth_all, self.tts, part.text):
                    if generation != self._generation or pcm.size == 0:
                        continue
                    index += 1
                    name = f"{self._prefix}-t{turn}-s{index}"
                    self.history.sent(name, turn, sentence)
                    self._outstanding.add(name)
                    seconds = pcm.size / self.tts.rate
                    starts = max(self._play_end, time.monotonic())
                    self._play_end = starts + seconds
                    await self._emit(AudioOut(pcm, self.tts.rate))
                    if metrics is not None and metrics.first_audio is None:
                        metrics.first_audio = time.monotonic()
                        self._report_turn(metrics)
                    await self._emit(Checkpoint(name))
                    # What the agent says, for observers (flowc call shows "agent says").
                    await self._emit(Transcript(
                        sentence, True, "outbound", self._ms(starts), self._ms(self._play_end),
                        "agent"))
        if metrics is not None and metrics.first_audio is None:
            self._report_turn(metrics)
        return action

    def _ms(self, monotonic: float) -> int:
        """A ``time.monotonic()`` instant in ms since this stream's agent started."""
        return round(1000 * (monotonic - self._clock0))

    async def _barge_in(self, decided: float) -> None:
        assert self._emit is not None
        self._generation += 1
        self._barge_decided = decided
        if self._reply_scope is not None:
            self._reply_scope.cancel()
        self.history.interrupted(self._reply_turn)
        await self._emit(ClearAudio())
        if self._reply_done.is_set():  # only queued audio was left: it stops with the clear
            self._record_stop()
        self._play_end = 0.0
        self.stats.barge_ins += 1
        self.stats.barge_in_clear_ms.append(round(1000 * (time.monotonic() - decided), 2))
        publish_barge_in(self.context.metrics, self.context.flow)
        log.info("barge-in on turn %d: clearAudio %.1f ms after the VAD decision",
                 self._reply_turn, self.stats.barge_in_clear_ms[-1])

    async def _act(self, action: Act) -> None:
        assert self._emit is not None
        # let the goodbye play: wait for its checkpoints (or their duration plus a grace)
        deadline = self._play_end + float(self.settings["played_timeout_s"])
        with anyio.move_on_after(max(0.0, deadline - time.monotonic())):
            while self._outstanding:
                self._played_event = anyio.Event()
                await self._played_event.wait()
        call = self.context.call_id
        if action.kind == "hangup" and self.rest is not None:
            log.info("hanging up call %s", call)
            await self.rest.hangup(call)
        elif action.kind == "transfer" and self.rest is not None and action.url:
            log.info("transferring call %s to %s", call, action.url)
            await self.rest.transfer(call, action.url)
        elif action.kind == "transfer" and not action.url:
            log.warning("transfer without a transfer_url; ending the stream instead")
        elif action.kind != "end":
            log.warning("%s needs Plivo credentials (plivo.auth_id/auth_token or "
                        "PLIVO_AUTH_ID/PLIVO_AUTH_TOKEN); ending the stream instead",
                        action.kind)
        self._ended = True
        await self._emit(EndStream(f"agent: {action.kind}"))

    def _record_stop(self) -> None:
        if self._barge_decided is not None:
            stop_ms = round(1000 * (time.monotonic() - self._barge_decided), 2)
            self.stats.barge_in_stop_ms.append(stop_ms)
            self._barge_decided = None
            log.info("barge-in: reply stopped %.1f ms after the VAD decision", stop_ms)

    def _report_turn(self, metrics: TurnMetrics) -> None:
        d = metrics.durations_ms()
        log.info("turn %d (%s, intent %s): eou %s ms, transcript %s ms, reply %s ms, "
                 "voice-to-voice %s ms", metrics.turn, metrics.trigger, metrics.intent,
                 d["eou_ms"], d["transcript_ms"], d["reply_text_ms"], d["voice_to_voice_ms"])
        log.debug("turn %d: caller said %r", metrics.turn, metrics.text)
        publish_turn(self.context.metrics, self.context.flow, metrics)

    async def _run_sync(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self.context.run_sync is not None:
            return await self.context.run_sync(fn, *args)
        return await anyio.to_thread.run_sync(fn, *args)


def _synth_all(engine: TtsEngine, text: str) -> list[tuple[str, PCM]]:
    return list(sentences(engine, text))


_ENGINES: dict[tuple[str, str], TtsEngine] = {}


def engine_for(name: str, options: Mapping[str, Any],
               lookup: Callable[[str], Mapping[str, Any]] | None = None) -> TtsEngine:
    """A shared TTS engine instance (built-in or from a plugin), created once per options.

    ``lookup`` is ``StreamContext.engines`` when serving."""
    import orjson

    key = (name, orjson.dumps(dict(options), option=orjson.OPT_SORT_KEYS).decode())
    if key not in _ENGINES:
        _ENGINES[key] = tts_factory(name, lookup)(**options)
    return _ENGINES[key]


def tts_factory(name: str, lookup: Callable[[str], Mapping[str, Any]] | None = None
                ) -> Callable[..., TtsEngine]:
    """The factory of TTS engine ``name``: built-in, else any plugin's ``tts`` engine."""
    if name == "espeak":
        from flowc_agent.tts.espeak import factory as espeak

        return espeak
    if name == "piper":
        from flowc_agent.tts.piper import factory as piper

        return piper
    if lookup is None:
        from flowc.plugins import load_plugins

        lookup = load_plugins().engines_of
    engines = lookup("tts")
    if name not in engines:
        raise ValueError(f"unknown tts engine {name!r} (installed: {sorted(engines)})")
    factory: Callable[..., TtsEngine] = engines[name].factory
    return factory

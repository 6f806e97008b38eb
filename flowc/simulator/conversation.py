"""The caller's side of the call: turn-taking on the streams, replies, latency.

The caller talks when the call waits for them (the XML holds in a keepCallAlive stream, a
``Wait``, a ``Dial``...), not over prompts. Their voice reaches every open stream that
carries the inbound track, as on a real call; the *lead* stream (the newest bidirectional
one, else the newest) is the one whose replies are awaited. With a bidirectional lead the
caller first lets the agent speak (up to ``greeting_wait``), then for each turn presses the
turn's keys, says its audio, waits for the reply (the first ``playAudio`` of a *new*
reply: voice-to-voice latency is measured from the last frame of the caller's speech to
it) and for the reply to end (``quiet`` seconds without audio). A ``barge_in`` turn starts
that many seconds into the previous reply instead.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from flowc.simulator.caller import Turn
from flowc.simulator.results import StreamRun, TurnResult
from flowc.simulator.stream_client import PlivoStreamClient, Utterance

if TYPE_CHECKING:
    from flowc.simulator.call import CallSimulator

REPLY_GAP = 0.3
"""Seconds without ``playAudio`` that separate two replies (servers pace audio in real time,
so one reply's messages arrive much closer together than this)."""


class Caller:
    """Speaks the call's pending turns into its open streams."""

    def __init__(self, call: CallSimulator) -> None:
        self.call = call
        self._greeted: set[int] = set()

    async def converse(self) -> None:
        """Speak every pending turn (while streams are open), then return: the caller is
        done. Failures are reported as call errors, never raised."""
        try:
            await self._turns()
        except Exception as exc:  # a bug here must end the call cleanly, not hang it
            self.call.report_error(f"the caller failed: {type(exc).__name__}: {exc}")

    def _streams(self) -> list[StreamRun]:
        """Open streams that carry the caller's audio, lead first."""
        open_runs = [r for r in self.call.streams if r.client is not None
                     and not r.client.closed and "inbound" in r.spec.tracks]
        return sorted(open_runs, key=lambda r: (r.spec.bidirectional, r.index), reverse=True)

    async def _greet(self, lead: StreamRun) -> None:
        """Let a bidirectional lead's agent speak first."""
        client = lead.client
        if lead.index in self._greeted or client is None or not lead.spec.bidirectional:
            return
        self._greeted.add(lead.index)
        options = self.call.options
        if await client.wait_audio(1, within=options.greeting_wait):
            await client.wait_idle(options.quiet, within=options.reply_timeout)

    async def _turns(self) -> None:
        call = self.call
        while True:
            await call.waiting_for_caller.wait()
            streams = self._streams()
            if not streams:
                return
            lead = streams[0]
            await self._greet(lead)
            if not call.pending_turns or lead.client is None or lead.client.closed:
                return
            turn = call.pending_turns.pop(0)
            result = call.new_result(turn)
            result.stream = f"stream {lead.index}"
            await self._speak_turn(lead, lead.client, turn, result, streams[1:])

    async def _speak_turn(
        self, run: StreamRun, client: PlivoStreamClient, turn: Turn, result: TurnResult,
        others: list[StreamRun],
    ) -> None:
        options = self.call.options
        if turn.pause:
            await asyncio.sleep(turn.pause)
        pressed: list[float] = []
        for index, digit in enumerate(turn.dtmf):
            if index:
                await asyncio.sleep(0.1)
            pressed.append(self.call.clock.now())
            await client.send_dtmf(digit)
            for other in others:
                if other.client is not None and not other.client.closed:
                    await other.client.send_dtmf(digit)
            self.call.timeline.add("dtmf", f"caller presses {digit}", digit=digit, stream=run.index)
        if len(turn.pcm) == 0:
            now = self.call.clock.now()
            result.started = pressed[0] if pressed else now
            result.ended = pressed[-1] if pressed else now
        else:
            self.call.timeline.add("caller", f"caller says {turn.describe()} "
                              f"({turn.duration:.1f} s)", turn=result.index)
            utterance = client.say(turn.pcm, turn.rate, label=turn.label)
            for other in others:  # the caller's voice is on every inbound stream
                if other.client is not None and not other.client.closed:
                    other.client.say(turn.pcm, turn.rate, label=turn.label)
            await utterance.begun.wait()
            if utterance.barge_in:
                self.call.timeline.add("event", "barge-in: the caller talks over the agent",
                                  turn=result.index, event="barge-in")
            await self._progress(client, utterance, result)
            result.started, result.ended = utterance.started, utterance.ended
            result.barge_in = utterance.barge_in
        if client.closed or result.ended is None:
            return
        if not run.spec.bidirectional:
            # Nobody answers on a one-way stream: stay on the line (silence) long enough
            # for the server to hear the end of the utterance.
            await asyncio.sleep(options.quiet)
            return
        result.reply_expected = True
        reply = await self._first_reply(client, result.ended, options.reply_timeout)
        if reply is None:
            self.call.timeline.add("warning", f"no reply within {options.reply_timeout:g} s",
                              turn=result.index)
            return
        result.reply_at = reply
        self.call.timeline.add("latency", f"agent replies after {result.latency_ms:.0f} ms",
                          at=reply, turn=result.index, latency_ms=round(result.latency_ms or 0))
        upcoming = self.call.pending_turns[0] if self.call.pending_turns else None
        if upcoming is not None and upcoming.barge_in is not None:
            await asyncio.sleep(upcoming.barge_in)
            result.reply_seconds = upcoming.barge_in
            return
        await client.wait_idle(options.quiet, within=120.0, since=reply)
        result.reply_seconds = sum(
            s.duration for s in client.heard if s.start >= result.ended - 1e-6)
        self.call.timeline.add("agent", f"agent reply: {result.reply_seconds:.1f} s of audio",
                          turn=result.index, seconds=round(result.reply_seconds, 3))

    async def _first_reply(
        self, client: PlivoStreamClient, after: float, within: float
    ) -> float | None:
        """Arrival time of the first ``playAudio`` of a new reply after ``after``.

        Audio of an earlier reply that is still arriving (the caller barged in, and the
        server has not cleared it yet) does not count: a new reply starts after a gap of
        at least :data:`REPLY_GAP` seconds in the arrivals.
        """
        deadline = self.call.clock.now() + within
        index = sum(1 for t, _ in client.audio_arrivals if t <= after)
        while True:
            arrivals = client.audio_arrivals
            while index < len(arrivals):
                at = arrivals[index][0]
                previous = arrivals[index - 1][0] if index else None
                if previous is None or at - previous >= REPLY_GAP:
                    return at
                index += 1
            remaining = deadline - self.call.clock.now()
            if remaining <= 0 or not await client.wait_audio(index + 1, within=remaining):
                return None

    async def _progress(self, client: PlivoStreamClient, utterance: Utterance,
                        result: TurnResult) -> None:
        """Wait for the utterance to be sent, reporting progress for long audio."""
        total = len(utterance.pcm)
        if total / client.spec.sample_rate < 5 or self.call.options.fast:
            await utterance.done.wait()
            return
        last = -1
        while not utterance.done.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(utterance.done.wait(), 1.0)
            percent = int(100 * utterance.offset / total)
            if percent != last and not utterance.done.is_set():
                last = percent
                self.call.timeline.add("progress", f"sending caller audio {percent}%",
                                  turn=result.index, percent=percent)

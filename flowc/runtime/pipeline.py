"""One stream's pipeline: processors built from the flow's ``pipeline:``, in its order.

Each stage runs in its own task. The first stage pulls inbound frames from the stream's
reader itself (:meth:`Pipeline.start`'s ``pull``: no task hop between socket and first
stage); stage *i* > 1 reads a bounded memory channel (:mod:`flowc.runtime.channel`) that
stage *i-1*'s ``emit`` sends into (backpressure reaches the socket); the last stage's
``emit`` hands frames straight to the writer. A tap gets copies with ``send_nowait``
where it stands in the chain, plus every :class:`AudioSent`; a full tap buffer drops the
copy and counts it. When a stage's input ends it closes its output, so end-of-stream
flows down the chain.

Failure policy (``ServeSettings.failure_policy``), for an exception from a processor's
factory, ``start``, ``run`` or ``process``: it is logged with the plugin's name and counted
(``flowc_plugin_errors_total``), and then

* ``bypass``: the stage is taken out of the path; its later frames pass around
  it unchanged (a failed tap just stops getting copies);
* ``end``: the stream is ended (``EndStream``), and the other processors close normally;
* ``auto`` (default): ``end`` for a processor that plays audio (an agent that fails would otherwise
  leave the caller in silence; ending the stream lets Plivo run the next verb of the XML
  with ``keepCallAlive``), ``bypass`` for the others.

Either way no other stream notices. :meth:`Pipeline.aclose` calls every processor's
``close()`` exactly once, however the stream ended.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
from anyio.abc import ObjectReceiveStream, TaskGroup

from flowc.plugins import ProcessorSpec
from flowc.runtime.channel import ChannelReceiveStream, ChannelSendStream, open_channel
from flowc.runtime.frames import AudioSent, EndStream, Frame, Transcript
from flowc.runtime.metrics import Metrics, StageStats
from flowc.runtime.processor import Processor, StreamContext

log = logging.getLogger("flowc.pipeline")

Emit = Callable[[Frame], Awaitable[None]]


Pull = Callable[[], Awaitable[Frame]]
"""The stream's next inbound frame; raises :class:`anyio.EndOfStream` when input ends."""


class _Inbox(ObjectReceiveStream[Frame]):
    """A stage's view of its input: times the work between receives; closing it
    only detaches the processor (the pipeline may keep forwarding frames around it)."""

    def __init__(self, source: ObjectReceiveStream[Frame], stats: StageStats) -> None:
        self._source = source
        self._stats = stats
        self._since: float | None = None
        self._closed = False

    async def receive(self) -> Frame:
        now = time.perf_counter()
        if self._since is not None:
            self._stats.busy_seconds += now - self._since
            self._since = None
        if self._closed:
            raise anyio.EndOfStream
        frame = await self._source.receive()
        self._since = time.perf_counter()
        self._stats.frames += 1
        return frame

    async def aclose(self) -> None:
        self._closed = True


class _PulledInput(ObjectReceiveStream[Frame]):
    """The first stage's input: each ``receive`` pulls the next inbound frame from the
    reader in the stage's own task and copies it to the taps at the head of the chain.
    When input ends it closes those taps' inboxes and stays at end of stream."""

    def __init__(self, pull: Pull, taps: list[_Node], copy: Callable[[_Node, Frame], None],
                 close: Callable[[_Node], Awaitable[None]]) -> None:
        self._pull = pull
        self._taps = taps
        self._copy = copy
        self._close = close
        self._ended = False

    async def receive(self) -> Frame:
        if self._ended:
            raise anyio.EndOfStream
        try:
            frame = await self._pull()
        except anyio.EndOfStream:
            await self.end()
            raise
        for tap in self._taps:  # after end(), copies to the closed taps are no-ops
            self._copy(tap, frame)
        return frame

    async def end(self) -> None:
        """Input is over: the head taps' inboxes close (once)."""
        if self._ended:
            return
        self._ended = True
        for tap in self._taps:
            await self._close(tap)

    def close(self) -> None:
        """Nothing to release: the reader is not a channel."""

    async def aclose(self) -> None:
        self.close()


@dataclass(eq=False)
class _Node:
    """One processor in the chain."""

    name: str
    spec: ProcessorSpec
    processor: Processor | None
    stats: StageStats
    inbox_send: ChannelSendStream[Frame] | None = None
    """Where the stage before (or the taps' copier) puts this node's frames."""
    inbox_recv: ChannelReceiveStream[Frame] | _PulledInput | None = None
    """What this node reads: its channel, or for the first stage the pulled input."""
    failed: bool = False
    alive: bool = True
    drops: int = 0
    emit: Emit | None = None
    """Where this stage's output goes (stages only)."""
    taps_after: list[_Node] = field(default_factory=list)

    @property
    def is_tap(self) -> bool:
        return self.spec.kind == "tap"


@dataclass(frozen=True)
class StepPlan:
    """A processor to build: its spec and the validated settings from the flow."""

    spec: ProcessorSpec
    settings: Mapping[str, Any]


class Pipeline:
    """Builds and runs the processors of one stream (see the module docstring)."""

    def __init__(
        self,
        steps: Sequence[StepPlan],
        context: StreamContext,
        *,
        sink: Callable[[Frame], None],
        metrics: Metrics,
        notify: Callable[[str, Mapping[str, Any]], None],
        failure_policy: str = "auto",
        stage_buffer: int = 64,
        tap_buffer: int = 256,
    ) -> None:
        self.context = context
        self._sink = sink
        self._metrics = metrics
        self._notify = notify
        self._reported_transcripts: deque[Transcript] = deque(maxlen=64)
        self._policy = failure_policy
        self._stage_buffer = stage_buffer
        self.errors: list[dict[str, str]] = []
        self.nodes: list[_Node] = []
        self._closed = False
        for step in steps:
            node = self._build(step)
            if node is not None:
                self.nodes.append(node)
        # Wire the chain from the end: each stage's emit copies to the taps standing after
        # it and hands the frame to the next stage (or the sink), in one call per frame.
        following: _Node | None = None
        pending_taps: list[_Node] = []
        for node in reversed(self.nodes):
            if node.is_tap:
                node.inbox_send, node.inbox_recv = open_channel(tap_buffer)
                pending_taps.insert(0, node)
                continue
            node.emit = self._link(pending_taps, following, observe=True)
            node.taps_after = pending_taps
            pending_taps = []
            following = node
        self._input: _PulledInput | None = None
        self._first = following
        """The first stage (it pulls from the reader), if the chain has one."""
        self._head_taps = pending_taps
        self.taps = [n for n in self.nodes if n.is_tap]

    # ----------------------------------------------------------------- construction

    def _build(self, step: StepPlan) -> _Node | None:
        spec = step.spec
        stats = self._metrics.stage(spec.name)
        context = dataclasses.replace(
            self.context, logger=logging.getLogger(f"flowc.processor.{spec.name}"))
        try:
            processor = spec.factory(step.settings, context)
            if not isinstance(processor, Processor):
                raise TypeError(f"factory returned {type(processor).__name__}, not a Processor")
        except Exception as exc:
            node = _Node(spec.name, spec, None, stats)
            self._fail(node, exc, "factory")
            return None
        return _Node(spec.name, spec, processor, stats)

    def _link(self, taps: list[_Node], following: _Node | None, *, observe: bool) -> Emit:
        """An emit: report transcripts (stages only), copy to ``taps``, pass on."""
        copy, transcript, sink = self._copy, self._transcript, self._sink
        if following is None:

            async def to_sink(frame: Frame) -> None:
                if observe and type(frame) is Transcript:
                    transcript(frame)
                for tap in taps:
                    copy(tap, frame)
                sink(frame)

            return to_sink
        following.inbox_send, following.inbox_recv = open_channel(self._stage_buffer)
        send = following.inbox_send

        async def to_stage(frame: Frame) -> None:
            if observe and type(frame) is Transcript:
                transcript(frame)
            for tap in taps:
                copy(tap, frame)
            await send.send(frame)  # waits only when the next stage is behind

        return to_stage

    def _copy(self, tap: _Node, frame: Frame) -> None:
        if not tap.alive or tap.inbox_send is None:
            return
        try:
            tap.inbox_send.send_nowait(frame)
        except anyio.WouldBlock:
            tap.drops += 1
            tap.stats.drops += 1
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            tap.alive = False

    async def _tap_emit(self, frame: Frame) -> None:
        """Frames a tap emits are observed (transcripts) and dropped."""
        if type(frame) is Transcript:
            self._transcript(frame)

    def _transcript(self, frame: Transcript) -> None:
        # A transcript passed on by later stages is the same object: report it once.
        if any(seen is frame for seen in self._reported_transcripts):
            return
        self._reported_transcripts.append(frame)
        self._notify("transcript", {
            "stream": self.context.describe(),
            "result": {"text": frame.text, "final": frame.final, "track": frame.track,
                       "start_ms": frame.start_ms, "end_ms": frame.end_ms,
                       "engine": frame.engine},
        })

    def sent(self, frame: AudioSent) -> None:
        """Give a chunk the writer sent to every tap."""
        for tap in self.taps:
            self._copy(tap, frame)

    # ------------------------------------------------------------------------ run

    def start(self, tg: TaskGroup, pull: Pull) -> None:
        """Start one task per processor in ``tg``; the first stage's task gets inbound
        frames by awaiting ``pull()`` (a chain of taps only gets a task that does)."""
        head = self._input = _PulledInput(pull, self._head_taps, self._copy, self._close_send)
        if self._first is not None:
            self._first.inbox_recv = head
        else:
            tg.start_soon(self._run_stageless, head, name="reader")
        for node in self.nodes:
            if node.is_tap:
                tg.start_soon(self._run_tap, node, name=f"tap {node.name}")
            else:
                tg.start_soon(self._run_stage, node, name=f"stage {node.name}")

    async def end_input(self) -> None:
        """End inbound input now (the reader was stopped): the taps at the head see end of
        stream, and the first stage does at its next receive."""
        if self._input is not None:
            await self._input.end()

    async def _run_stageless(self, head: _PulledInput) -> None:
        """No stage: inbound frames go to the taps (copied by ``head``) and the sink."""
        sink = self._sink
        async for frame in head:
            sink(frame)

    async def _close_send(self, node: _Node) -> None:
        if node.inbox_send is not None:
            await node.inbox_send.aclose()

    async def _run_stage(self, node: _Node) -> None:
        assert node.processor is not None and node.inbox_recv is not None
        assert node.emit is not None
        source, emit = node.inbox_recv, node.emit
        try:
            try:
                await node.processor.start()
                await node.processor.run(_Inbox(source, node.stats), emit)
            except Exception as exc:
                self._fail(node, exc, "run")
            # Bypass: whatever is still coming passes around the processor.
            async with source:
                async for frame in source:
                    await emit(frame)
        finally:
            source.close()  # hardening: also when the stage was cancelled (hung past close)
            with anyio.CancelScope(shield=True):
                for tap in node.taps_after:
                    await self._close_send(tap)
                await self._close_next(node)

    async def _close_next(self, node: _Node) -> None:
        index = self.nodes.index(node)
        nxt = next((n for n in self.nodes[index + 1:] if not n.is_tap), None)
        if nxt is not None:
            await self._close_send(nxt)

    async def _run_tap(self, node: _Node) -> None:
        assert node.processor is not None and node.inbox_recv is not None
        emit = self._tap_emit
        try:
            await node.processor.start()
            await node.processor.run(_Inbox(node.inbox_recv, node.stats), emit)
        except Exception as exc:
            node.alive = False
            self._fail(node, exc, "run")
        finally:
            node.alive = False
            node.inbox_recv.close()

    def _fail(self, node: _Node, exc: BaseException, where: str) -> None:
        node.failed = True
        plugin = node.spec.plugin or "?"
        self.context.logger.error(
            "stream %s: processor %r of plugin %r failed in %s: %s: %s (policy: %s)",
            self.context.stream_id, node.name, plugin, where, type(exc).__name__, exc,
            self._policy, exc_info=exc)
        self._metrics.plugin_error(plugin)
        self.errors.append({"processor": node.name, "plugin": plugin, "where": where,
                            "error": f"{type(exc).__name__}: {exc}"})
        if self._policy == "end" or (self._policy == "auto" and node.spec.plays_audio):
            self._sink(EndStream(f"processor {node.name!r} failed"))

    async def aclose(self, deadline_s: float) -> None:
        """Run every processor's ``close()`` once, concurrently (one slow close does not
        starve the others), shielded from cancellation, for at most ``deadline_s`` s."""
        if self._closed:
            return
        self._closed = True
        with anyio.CancelScope(shield=True), anyio.move_on_after(deadline_s) as scope:
            async with anyio.create_task_group() as tg:
                for node in self.nodes:
                    if node.processor is not None:
                        tg.start_soon(self._close_one, node, name=f"close {node.name}")
        if scope.cancelled_caught:
            log.error("stream %s: processors did not close within %.1f s",
                      self.context.stream_id, deadline_s)

    async def _close_one(self, node: _Node) -> None:
        assert node.processor is not None
        try:
            await node.processor.close()
        except Exception as exc:
            self._fail_close(node, exc)

    def _fail_close(self, node: _Node, exc: BaseException) -> None:
        plugin = node.spec.plugin or "?"
        self.context.logger.error("stream %s: %r (plugin %r) failed to close: %s",
                                  self.context.stream_id, node.name, plugin, exc, exc_info=exc)
        self._metrics.plugin_error(plugin)
        self.errors.append({"processor": node.name, "plugin": plugin, "where": "close",
                            "error": f"{type(exc).__name__}: {exc}"})

    def statistics(self) -> dict[str, Any]:
        """Per-processor counters for ``stream_stopped``."""
        return {
            "drops": {n.name: n.drops for n in self.nodes if n.is_tap},
            "failed": [n.name for n in self.nodes if n.failed],
            "errors": list(self.errors),
        }

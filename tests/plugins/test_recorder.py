"""The recorder tap driven directly: exact timelines, stereo alignment, a header valid
while the stream is live, sidecars, bad directories; real files in tmp_path."""

from __future__ import annotations

import json
import logging
import time
import wave
from pathlib import Path
from typing import Any

import anyio
import flowc_recorder.plugin as plugin
import jsonschema
import numpy as np
import numpy.typing as npt
import pytest
from flowc_recorder.naming import recording_path
from flowc_recorder.processor import RecorderProcessor
from flowc_recorder.timeline import StreamClock, TrackTimeline
from flowc_recorder.wavfile import DurableWav
from flowc_recorder.writer import RecordingWriter
from hypothesis import given
from hypothesis import strategies as st

from flowc.plugins import load_plugins
from flowc.runtime.frames import AudioIn, AudioSent, Dtmf, Frame
from tests.plugins.killed_recorder import record_until_killed

pytestmark = pytest.mark.anyio

EPOCH = 1_705_312_200_000
N = 160  # 20 ms at 8 kHz


def chunk(value: int, n: int = N) -> npt.NDArray[np.int16]:
    return np.full(n, value, np.int16)


def audio(track: str, index: int, *, ts: int | None = None, counter: int | None = None,
          value: int | None = None, n: int = N, rate: int = 8000) -> AudioIn:
    """Chunk ``index`` (0-based) of ``track``: timestamp 20 ms * index, counter index + 1."""
    return AudioIn(chunk(index + 1 if value is None else value, n), rate,
                   track,  # type: ignore[arg-type]
                   20 * index if ts is None else ts,
                   index + 1 if counter is None else counter, index + 1)


def read_wav(path: Path) -> tuple[npt.NDArray[np.int16], int, int]:
    with wave.open(str(path)) as w:
        data = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.int16)
        return data.reshape(-1, w.getnchannels()), w.getnchannels(), w.getframerate()


def recorder(tmp_path: Path, stream_context: Any, settings: dict[str, Any] | None = None,
             **fields: Any) -> RecorderProcessor:
    context = stream_context(**fields)
    processor = plugin.make_recorder({"directory": str(tmp_path), **(settings or {})}, context)
    assert isinstance(processor, RecorderProcessor)
    return processor


def first_wav(directory: Path) -> Path | None:
    return next(directory.rglob("*.wav"), None)


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


async def discard(frame: Frame) -> None:
    raise AssertionError(f"a tap emitted {frame!r}")


def only_file(tmp_path: Path, suffix: str = ".wav") -> Path:
    files = sorted(tmp_path.rglob(f"*{suffix}"))
    assert len(files) == 1, files
    return files[0]


@pytest.mark.parametrize("epoch", [False, True], ids=["relative-ms", "epoch-ms"])
async def test_mono_has_exact_samples_with_gaps_as_silence(
        tmp_path: Path, stream_context: Any, run_processor: Any, epoch: bool) -> None:
    base = EPOCH if epoch else 0
    frames: list[Frame] = [audio("inbound", i, ts=base + 20 * i) for i in range(5)]
    frames.append(audio("inbound", 8, ts=base + 160))   # chunks 6-8 never arrived
    frames.append(audio("inbound", 8, ts=base + 160, value=99))  # a repeat: dropped
    frames.append(Dtmf("5", "inbound", base + 170))
    frames.append(audio("inbound", 9, ts=base + 180))
    processor = recorder(tmp_path, stream_context)
    assert await run_processor(processor, frames) == []  # a tap emits nothing
    data, channels, rate = read_wav(only_file(tmp_path))
    assert (channels, rate) == (1, 8000)
    expected = np.concatenate([chunk(1), chunk(2), chunk(3), chunk(4), chunk(5),
                               chunk(0, 3 * N), chunk(9), chunk(10)])
    assert np.array_equal(data[:, 0], expected)
    meta = json.loads(only_file(tmp_path, ".json").read_text())
    assert meta["frames"] == {"inbound": 7}
    assert meta["gaps"] == {"inbound": {"count": 1, "ms": 60.0}}
    assert meta["drops"]["duplicates"] == 1 and meta["drops"]["total"] == 1
    assert meta["samples"] == 10 * N and meta["duration_s"] == 0.2


async def test_timestamps_alone_place_chunks(tmp_path: Path, stream_context: Any,
                                             run_processor: Any) -> None:
    # no chunk counters; jitter of a few ms is absorbed, a 100 ms jump is a gap
    stamps = [EPOCH, EPOCH + 23, EPOCH + 38, EPOCH + 160, EPOCH + 181]
    frames = [audio("inbound", i, ts=t, counter=0) for i, t in enumerate(stamps)]
    await run_processor(recorder(tmp_path, stream_context), frames)
    data, _, _ = read_wav(only_file(tmp_path))
    expected = np.concatenate([chunk(1), chunk(2), chunk(3), chunk(0, 160 * 8 - 3 * N),
                               chunk(4), chunk(5)])
    assert np.array_equal(data[:, 0], expected)


async def test_a_time_jump_with_consecutive_counters_is_a_gap(
        tmp_path: Path, stream_context: Any, run_processor: Any) -> None:
    frames = [audio("inbound", 0), audio("inbound", 1),
              audio("inbound", 2, ts=1040, counter=3)]  # 1 s later, counter still +1
    await run_processor(recorder(tmp_path, stream_context), frames)
    data, _, _ = read_wav(only_file(tmp_path))
    assert len(data) == 1040 * 8 + N
    assert np.array_equal(data[1040 * 8 :, 0], chunk(3))
    assert not data[2 * N : 1040 * 8].any()


async def test_both_tracks_are_stereo_aligned_on_timestamps(
        tmp_path: Path, stream_context: Any, run_processor: Any) -> None:
    frames: list[Frame] = []
    for i in range(10):
        frames.append(audio("inbound", i, ts=EPOCH + 20 * i, value=1000 + i))
        if i >= 2:  # outbound starts 100 ms late and its first chunk is lost
            frames.append(audio("outbound", i - 2, ts=EPOCH + 100 + 20 * (i - 2),
                                counter=i - 1, value=-(1 + i)))
    del frames[3]  # outbound chunk 1 (at 100 ms)
    processor = recorder(tmp_path, stream_context, tracks=("inbound", "outbound"))
    await run_processor(processor, frames)
    data, channels, _ = read_wav(only_file(tmp_path))
    assert channels == 2
    assert len(data) == 100 * 8 + 8 * N  # the outbound track ends last
    left, right = data[:, 0], data[:, 1]
    for i in range(10):
        assert np.array_equal(left[i * N : (i + 1) * N], chunk(1000 + i))
    assert not left[10 * N :].any()
    assert not right[: 120 * 8].any()  # silence, then outbound chunk 2 at 120 ms
    for j in range(1, 8):
        assert np.array_equal(right[800 + j * N : 800 + (j + 1) * N], chunk(-(3 + j)))
    meta = json.loads(only_file(tmp_path, ".json").read_text())
    assert meta["channels"] == ["inbound", "outbound"]
    assert meta["outbound_source"] == "outbound"
    assert meta["gaps"]["outbound"] == {"count": 1, "ms": 120.0}


async def test_audio_flowc_sent_is_the_right_channel(
        tmp_path: Path, stream_context: Any, run_processor: Any) -> None:
    frames: list[Frame] = [audio("inbound", i) for i in range(20)]
    # a reply sent from 100 ms in, paced a bit ahead of real time, then one at 360 ms
    for k in range(5):
        frames.insert(6 + k, AudioSent(chunk(-100 - k), 8000, 100.0 + 15 * k))
    frames.append(AudioSent(chunk(-7), 8000, 360.0))
    processor = recorder(tmp_path, stream_context, bidirectional=True)
    await run_processor(processor, frames)
    data, channels, _ = read_wav(only_file(tmp_path))
    assert channels == 2 and len(data) == 20 * N
    right = data[:, 1]
    assert not right[:800].any()
    assert np.array_equal(right[800 : 800 + 5 * N], np.repeat(np.arange(-100, -105, -1), N))
    assert not right[800 + 5 * N : 360 * 8].any()
    assert np.array_equal(right[360 * 8 : 360 * 8 + N], chunk(-7))
    assert np.array_equal(data[:, 0], np.repeat(np.arange(1, 21), N))
    meta = json.loads(only_file(tmp_path, ".json").read_text())
    assert meta["outbound_source"] == "sent" and meta["frames"]["outbound"] == 6


@pytest.mark.parametrize(("setting", "fields", "layout"), [
    ("auto", {"tracks": ("inbound",)}, ["inbound"]),
    ("auto", {"tracks": ("outbound",)}, ["outbound"]),
    ("auto", {"tracks": ("inbound",), "bidirectional": True}, ["inbound", "outbound"]),
    ("inbound", {"tracks": ("inbound", "outbound")}, ["inbound"]),
    ("outbound", {"tracks": ("inbound", "outbound")}, ["outbound"]),
    ("both", {"tracks": ("inbound",)}, ["inbound", "outbound"]),
])
async def test_tracks_setting_picks_the_channels(
        tmp_path: Path, stream_context: Any, run_processor: Any, setting: str,
        fields: dict[str, Any], layout: list[str]) -> None:
    frames = [audio("inbound", 0, value=5), audio("outbound", 0, value=-5)]
    processor = recorder(tmp_path, stream_context, {"tracks": setting}, **fields)
    await run_processor(processor, frames)
    data, channels, _ = read_wav(only_file(tmp_path))
    assert channels == len(layout)
    recorded = "outbound" in fields["tracks"]
    for index, track in enumerate(layout):
        value = 5 if track == "inbound" else (-5 if recorded else 0)
        assert np.array_equal(data[:, index], chunk(value)), track


async def test_header_is_valid_while_the_stream_is_live(
        tmp_path: Path, stream_context: Any, run_processor: Any) -> None:
    signal = np.random.default_rng(3).integers(-20000, 20000, 100 * N).astype(np.int16)
    frames = [AudioIn(signal[i * N : (i + 1) * N], 8000, "inbound", 20 * i, i + 1, i + 1)
              for i in range(100)]
    seen: list[int] = []

    async def peek(index: int) -> None:
        if index not in (24, 74):
            return
        wanted = (index + 1) * N
        with anyio.fail_after(10):
            while True:  # wait for the worker thread, then read the live file
                path = first_wav(tmp_path)
                if path is not None:
                    data, _, _ = read_wav(path)
                    if len(data) >= wanted:
                        break
                await anyio.sleep(0.01)
        assert np.array_equal(data[:, 0], signal[: len(data)])
        seen.append(len(data))

    processor = recorder(tmp_path, stream_context)
    await run_processor(processor, frames, between=peek)
    assert seen[0] >= 25 * N and seen[1] >= 75 * N
    data, _, _ = read_wav(only_file(tmp_path))
    assert np.array_equal(data[:, 0], signal)


async def test_sidecar_describes_the_call(tmp_path: Path, stream_context: Any,
                                         run_processor: Any) -> None:
    processor = recorder(
        tmp_path, stream_context, {"filename": "{flow}/{from}-{to}/{call_id}"},
        params={"From": "+14155550100", "To": "+14155550199", "CallUUID": "x"},
        extra_headers={"userId": "42"}, flow="support", flow_version="2026-11-28")
    await processor.start()
    sidecar = only_file(tmp_path, ".json")
    early = json.loads(sidecar.read_text())
    assert early["complete"] is False and early["ended_at"] is None
    send, receive = anyio.create_memory_object_stream[Frame](10)
    async with anyio.create_task_group() as tg:
        tg.start_soon(processor.run, receive, discard)
        async with send:
            for i in range(50):
                await send.send(audio("inbound", i))
    await processor.close()
    await processor.close()  # once only
    meta = json.loads(sidecar.read_text())
    assert sidecar == tmp_path / "support" / "+14155550100-+14155550199" / (
        "11111111-1111-1111-1111-111111111111.json")
    assert meta["file"] == "11111111-1111-1111-1111-111111111111.wav"
    assert (meta["from"], meta["to"]) == ("+14155550100", "+14155550199")
    assert meta["extra_headers"] == {"userId": "42"}
    assert (meta["flow"], meta["flow_version"]) == ("support", "2026-11-28")
    assert meta["call_id"] == "11111111-1111-1111-1111-111111111111"
    assert meta["stream_id"] == "22222222-2222-2222-2222-222222222222"
    assert meta["complete"] is True and meta["ended_at"] >= meta["started_at"]
    assert meta["duration_s"] == 1.0 and meta["frames"] == {"inbound": 50}
    assert meta["drops"]["total"] == 0 and meta["error"] is None


async def test_unwritable_directory_is_logged_and_the_stream_goes_on(
        tmp_path: Path, stream_context: Any, run_processor: Any,
        caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the directory should be")
    processor = plugin.make_recorder({"directory": str(blocker / "calls")}, stream_context())
    with caplog.at_level(logging.ERROR):
        emitted = await run_processor(processor, [audio("inbound", i) for i in range(10)])
    assert emitted == []
    messages = [r.getMessage() for r in caplog.records]
    assert any("recorder: cannot record stream" in m and "not-a-directory" in m
               and "the call goes on" in m for m in messages), messages
    assert listing(tmp_path) == ["not-a-directory"]


def test_file_names_stay_inside_the_directory(tmp_path: Path) -> None:
    path = recording_path(tmp_path, "{flow}/{from}", {"flow": "../..", "from": "a/b\\c"})
    assert path == tmp_path.resolve() / "___" / "a_b_c.wav"
    with pytest.raises(ValueError, match="leaves"):
        recording_path(tmp_path, "../{call_id}", {"call_id": "x"})
    with pytest.raises(ValueError, match="placeholders"):
        recording_path(tmp_path, "{nope}", {})


def test_plugin_registers_a_tap_with_a_settings_schema() -> None:
    host = load_plugins()
    spec = host.processors["recorder"]
    assert spec.kind == "tap" and spec.plugin == "recorder"
    jsonschema.Draft202012Validator.check_schema(spec.settings_schema)
    validator = jsonschema.Draft202012Validator(spec.settings_schema)
    assert not list(validator.iter_errors(plugin.DEFAULTS))
    assert list(validator.iter_errors({"filename": "{caller}"}))
    assert list(validator.iter_errors({"tracks": "left"}))
    assert list(validator.iter_errors({"fsync": -1}))


def test_timeline_drops_repeats_and_fills_missing_chunks() -> None:
    line = TrackTimeline(8000)
    assert line.place(N, 0, 1) == 0
    assert line.place(N, None, 3) == 2 * N  # chunk 2 missing
    assert line.place(N, None, 3) is None
    assert line.place(N, None, 2) is None  # late: its slot is already silence
    assert line.place(N, 80 * 8, 4) == 3 * N  # timestamp within 60 ms: back to back
    assert (line.stats.gaps, line.stats.gap_samples, line.stats.duplicates) == (1, N, 2)


def test_a_full_queue_drops_and_counts(tmp_path: Path) -> None:
    wav = DurableWav(tmp_path / "x.wav", 8000, 1)
    writer = RecordingWriter(wav, queue_size=1, fsync_interval=0,
                             logger=logging.getLogger("test"))
    accepted = sum(writer.submit(0, i * N, chunk(i + 1)) for i in range(2000))
    assert writer.finish(10)
    assert writer.queue_drops == 2000 - accepted > 0
    data, _, _ = read_wav(tmp_path / "x.wav")
    assert np.count_nonzero(data) == accepted * N  # dropped chunks left silence


class CountingWav(DurableWav):
    """A DurableWav that counts the writer thread's writes."""

    writes = 0

    def write_header(self) -> None:
        self.writes += 1
        super().write_header()


def test_the_writer_batches_a_live_stream_a_few_times_a_second(tmp_path: Path) -> None:
    wav = CountingWav(tmp_path / "b.wav", 8000, 1)
    wav.writes = 0
    writer = RecordingWriter(wav, queue_size=500, fsync_interval=0,
                             logger=logging.getLogger("test"))
    for i in range(50):  # one second of chunks at real-time pace
        assert writer.submit(0, i * N, chunk(i + 1))
        time.sleep(0.02)
    assert writer.finish(10)
    # one write (and header) per 0.2 s batch, not one per 20 ms chunk
    assert 1 <= wav.writes <= 10
    data, _, _ = read_wav(tmp_path / "b.wav")
    assert np.array_equal(data[:, 0], np.concatenate([chunk(i + 1) for i in range(50)]))


def test_header_written_before_any_audio(tmp_path: Path) -> None:
    wav = DurableWav(tmp_path / "y.wav", 16000, 2)
    data, channels, rate = read_wav(tmp_path / "y.wav")
    assert (len(data), channels, rate) == (0, 2, 16000)
    wav.write([(1, 16000, chunk(7, 320))])  # one second in, right channel only
    wav.write_header()
    data, _, _ = read_wav(tmp_path / "y.wav")
    assert len(data) == 16320 and not data[:16000].any()
    assert np.array_equal(data[16000:, 1], chunk(7, 320)) and not data[16000:, 0].any()
    wav.close()
    wav.close()
    assert time.time() > 0


def test_sigkill_leaves_a_playable_file_missing_at_most_a_second(tmp_path: Path) -> None:
    signal = np.random.default_rng(5).integers(-30000, 30000, 16000 * 60).astype(np.int16)
    # 1.8 s of audio handed to the recorder, then SIGKILL
    fed = record_until_killed(tmp_path, signal.tobytes(), {}, chunks=90)
    data, channels, rate = read_wav(tmp_path / "call.wav")
    assert (channels, rate) == (1, 16000)
    fed_samples = fed * 320
    assert fed_samples - 16000 <= len(data) <= fed_samples
    assert np.array_equal(data[:, 0], signal[: len(data)])
    meta = json.loads((tmp_path / "call.json").read_text())
    assert meta["complete"] is False  # the sidecar written at the start is intact


DISK_FULL_CHILD = r'''
import json, logging, resource, signal, sys
import anyio
import numpy as np
from flowc.runtime.frames import AudioIn
from flowc.runtime.processor import StreamContext
from flowc_recorder.plugin import make_recorder

logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (64_000, 64_000))

async def main(directory):
    context = StreamContext(
        flow="full", flow_version="v1", stream_key="answer-1", call_id="call", stream_id="s",
        account_id="MA", content_type="audio/x-l16;rate=16000", encoding="audio/x-l16",
        sample_rate=16000, tracks=("inbound",), bidirectional=False)
    recorder = make_recorder({"directory": directory, "filename": "{call_id}"}, context)
    await recorder.start()
    pcm = np.full(320, 1000, np.int16)
    for i in range(200):  # 4 s, 128 kB: twice what the disk takes
        recorder.take(AudioIn(pcm, 16000, "inbound", 20 * i, i + 1, i + 1))
        await anyio.sleep(0.001)
    await recorder.close()
    print("closed", flush=True)

anyio.run(main, sys.argv[1])
'''


def test_a_disk_error_mid_call_stops_the_recording_cleanly(tmp_path: Path) -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", DISK_FULL_CHILD, str(tmp_path)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and "closed" in done.stdout, done.stderr
    assert "recorder: writing" in done.stderr and "failed" in done.stderr
    assert done.stderr.count("recorder: writing") == 1  # logged once
    data, _, _ = read_wav(tmp_path / "call.wav")  # still a valid file
    assert 0 < len(data) * 2 + 44 <= 64_000 and (data == 1000).all()
    meta = json.loads((tmp_path / "call.json").read_text())
    assert meta["complete"] is True and "File too large" in meta["error"]
    assert meta["drops"]["disk"] > 0 and meta["frames"] == {"inbound": 200}


@given(st.lists(st.sampled_from(["keep", "keep", "keep", "drop", "repeat"]), min_size=1,
                max_size=60),
       st.booleans())
def test_every_chunk_lands_on_its_slot(fates: list[str], epoch: bool) -> None:
    """Whatever chunks are lost or repeated, each one kept lands at (counter - 1) * size,
    and the timeline ends after the last chunk kept."""
    line = TrackTimeline(8000)
    base = EPOCH if epoch else 0
    clock = StreamClock(8000)
    placed: dict[int, int] = {}
    for index, fate in enumerate(fates):
        if fate == "drop":
            continue
        for _ in range(2 if fate == "repeat" else 1):
            start = line.place(N, clock.from_timestamp(base + 20 * index), index + 1)
            if start is not None:
                placed[index] = start
    if not placed:
        return
    first = min(placed)
    assert placed == {i: (i - first) * N + (first * N if not epoch else 0) for i in placed}
    assert line.cursor == max(placed.values()) + N

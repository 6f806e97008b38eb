"""A recorder fed in real time, to be killed: shared by the recorder's SIGKILL tests.

``python killed_recorder.py DIRECTORY [SETTINGS_JSON] < pcm16`` records the mono 16 kHz
PCM16 read from stdin as stream ``s`` of call ``call`` (file ``DIRECTORY/call.wav``),
20 ms per chunk on a real-time schedule, printing ``fed N`` after each chunk.
:func:`record_until_killed` runs it and sends SIGKILL after a given number of chunks.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

CHUNK = 320  # 20 ms at 16 kHz


def record_until_killed(directory: Path, pcm: bytes, settings: dict[str, Any],
                        chunks: int) -> int:
    """Run this script on ``pcm``; SIGKILL it once ``chunks`` chunks were handed to the
    recorder. Returns the number of chunks fed."""
    fed = 0
    with subprocess.Popen([sys.executable, __file__, str(directory), json.dumps(settings)],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE) as child:
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write(pcm)
        child.stdin.close()
        try:
            for line in child.stdout:
                fed = int(line.split()[1])
                if fed >= chunks:
                    child.send_signal(signal.SIGKILL)
                    break
        finally:
            child.kill()
            child.wait(10)
    assert child.returncode == -signal.SIGKILL
    return fed


async def _record(directory: str, settings: dict[str, Any]) -> None:
    import anyio
    import numpy as np
    from flowc_recorder.plugin import make_recorder

    from flowc.runtime.frames import AudioIn
    from flowc.runtime.processor import StreamContext

    context = StreamContext(
        flow="kill", flow_version="v1", stream_key="answer-1", call_id="call", stream_id="s",
        account_id="MA", content_type="audio/x-l16;rate=16000", encoding="audio/x-l16",
        sample_rate=16000, tracks=("inbound",), bidirectional=False)
    recorder = make_recorder({"directory": directory, "filename": "{call_id}", **settings},
                             context)
    await recorder.start()
    pcm = np.frombuffer(sys.stdin.buffer.read(), np.int16)
    t0 = time.monotonic()
    for i in range(len(pcm) // CHUNK):
        recorder.take(AudioIn(pcm[i * CHUNK:(i + 1) * CHUNK], 16000, "inbound", 20 * i,
                              i + 1, i + 1))
        print("fed", i + 1, flush=True)
        await anyio.sleep(max(0.0, t0 + 0.02 * (i + 1) - time.monotonic()))


if __name__ == "__main__":
    import anyio

    anyio.run(_record, sys.argv[1], json.loads(sys.argv[2]) if len(sys.argv) > 2 else {})

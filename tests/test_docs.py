"""The documentation site: it builds with warnings as errors, its pages are
the README's sections and benchmarks/README.md, and every example on it runs:
the Python blocks of every page, and the docstrings' examples (doctest)."""

from __future__ import annotations

import doctest
import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
sys.path.insert(0, str(ROOT / "docs"))

import hooks  # noqa: E402  (docs/hooks.py: how the pages include the README)


def _pages() -> dict[str, str]:
    """Every page of the site as MkDocs renders it (includes expanded)."""
    return {p.name: hooks.on_page_markdown(p.read_text()) for p in sorted((ROOT / "docs").glob("*.md"))}


def test_site_builds_strictly(tmp_path):
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    build = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)]
    done = subprocess.run(build, cwd=ROOT, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    for page in ("python", "cli", "numerics", "conventions", "speed", "benchmarks", "bad-inputs", "api"):
        assert (site / page / "index.html").exists(), page
    api = (site / "api" / "index.html").read_text()
    for name in ("ssim_multiscale", "ssim_multiscale_parts", "MultiScaleParts", "read_image", "MSSSIMLoss"):
        assert f"msssim.{name}" in api or f"{name}</code>" in api, name
    assert "convention" in api and "power_factors" in api  # the parameters' documentation, not just names


def test_pages_include_every_readme_section():
    pages = _pages()
    readme = (ROOT / "README.md").read_text()
    sections = re.findall(r"<!-- --8<-- \[start:(\w+)\] -->", readme)
    included = "".join(pages.values())
    for name in sections:
        body = readme.split(f"[start:{name}] -->", 1)[1].split(f"<!-- --8<-- [end:{name}]", 1)[0]
        assert body.strip().splitlines()[0] in included, name
    assert "--8<--" not in included


PYTHON_BLOCKS = [
    pytest.param(code, id=f"{page}-{n}")
    for page, text in _pages().items()
    for n, code in enumerate(re.findall(r"```python\n(.*?)```", text, flags=re.S))
]


@pytest.mark.parametrize("code", PYTHON_BLOCKS)
def test_python_examples_run(code):
    exec(compile(code, "docs", "exec"), {})


@pytest.mark.parametrize("module", ["msssim._ssim", "msssim.torch"])
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0

"""msssim against TensorFlow's stored answers (tests/golden_tf.json, made by
tests/make_golden.py with the TF version recorded in its provenance)."""

from __future__ import annotations

import json
from pathlib import Path

import cases
import numpy as np
import pytest

from msssim import _window

GOLDEN = json.loads((Path(__file__).parent / "golden_tf.json").read_text())


def test_provenance_names_tensorflow():
    provenance = GOLDEN["provenance"]
    assert provenance["generator"] == "tests/make_golden.py"
    assert provenance["tensorflow"].startswith("2.")
    assert provenance["kernels"] in _window.KERNELS
    assert len(GOLDEN["cases"]) >= 40


@pytest.mark.parametrize("engine", ["numba", "reference"])
@pytest.mark.parametrize("entry", GOLDEN["cases"], ids=lambda e: f"{e['recipe']['function']}-{e['recipe']['seed']}")
def test_tensorflow_cpu_numerics_match_tensorflow_golden(entry, engine, monkeypatch):
    # TF's kernels (window and taps) are those of the machine that made the
    # file, oneDNN's with 16-float vectors; others were 1.3e-6 (8-float) and
    # 6.5e-6 (Eigen's window) from its scores, measured 2026-12-03
    monkeypatch.setattr(_window, "tensorflow_kernels", lambda: GOLDEN["provenance"]["kernels"])
    recipe = entry["recipe"]
    img1, img2 = cases.build(recipe)
    got = cases.run_msssim(recipe, img1, img2, engine=engine, numerics="tensorflow-cpu")
    want = np.asarray(entry["value"], dtype=np.float32).reshape(entry["shape"])
    assert isinstance(got, np.ndarray)
    assert got.dtype == np.float32
    assert got.shape == want.shape
    cases.assert_close(recipe, got, want)
    # with TF's kernels pinned: within 2 float32 ulp of 1 (1.2e-7 seen; the maps exact)
    np.testing.assert_allclose(got, want, rtol=0, atol=2.4e-7, err_msg=str(recipe))

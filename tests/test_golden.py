"""msssim against TensorFlow's stored answers (tests/golden_tf.json, made by
tests/make_golden.py with the TF version recorded in its provenance)."""

from __future__ import annotations

import json
from pathlib import Path

import cases
import numpy as np
import pytest

GOLDEN = json.loads((Path(__file__).parent / "golden_tf.json").read_text())


def test_provenance_names_tensorflow():
    provenance = GOLDEN["provenance"]
    assert provenance["generator"] == "tests/make_golden.py"
    assert provenance["tensorflow"].startswith("2.")
    assert len(GOLDEN["cases"]) >= 40


@pytest.mark.parametrize("engine", ["numba", "reference"])
@pytest.mark.parametrize("entry", GOLDEN["cases"], ids=lambda e: f"{e['recipe']['function']}-{e['recipe']['seed']}")
def test_tensorflow_cpu_numerics_match_tensorflow_golden(entry, engine):
    recipe = entry["recipe"]
    img1, img2 = cases.build(recipe)
    got = cases.run_msssim(recipe, img1, img2, engine=engine, numerics="tensorflow-cpu")
    want = np.asarray(entry["value"], dtype=np.float32).reshape(entry["shape"])
    assert isinstance(got, np.ndarray)
    assert got.dtype == np.float32
    assert got.shape == want.shape
    cases.assert_close(recipe, got, want)

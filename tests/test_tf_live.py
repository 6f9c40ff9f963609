"""``numerics="tensorflow-cpu"`` against the real TensorFlow, run live: a
randomized sweep and the bundled sample. Each seed draws a recipe (cases.draw):
odd and even sizes down to the minimum, broadcast batches, channels-first,
every dtype, max_val and parameter."""

from __future__ import annotations

from pathlib import Path

import cases
import numpy as np
import pytest

SEEDS = range(210)
ENGINES = ("numba", "reference")


@pytest.mark.parametrize("seed", SEEDS)
def test_random_case_matches_tensorflow(tf, seed):
    recipe = cases.draw(seed)
    img1, img2 = cases.build(recipe)
    want = cases.run_tensorflow(tf, recipe, img1, img2)
    results = {e: cases.run_msssim(recipe, img1, img2, engine=e, numerics="tensorflow-cpu") for e in ENGINES}
    for got in results.values():
        assert got.dtype == np.float32
        assert got.shape == want.shape, recipe
        cases.assert_close(recipe, got, want)
        # TF's own kernels (msssim._window.tensorflow_kernels): TF's digits, maps included
        # (the sweep: 1.2e-7 with oneDNN's, 1.8e-7 with Eigen's, every map identical)
        np.testing.assert_allclose(got, want, rtol=0, atol=2.4e-7, err_msg=str(recipe))
    # These two do the same float32 arithmetic; only float64 sums may differ.
    np.testing.assert_allclose(results["numba"], results["reference"], rtol=0, atol=1e-6, err_msg=str(recipe))


def test_sweep_covers_the_space():
    recipes = [cases.draw(seed) for seed in SEEDS]
    seen = lambda key: {str(r[key]) for r in recipes}  # noqa: E731
    assert set(cases.INT_DTYPES + cases.FLOAT_DTYPES) <= seen("dtype")
    assert set(cases.KINDS) <= seen("kind")
    assert {"ssim_multiscale", "ssim", "ssim_map"} <= seen("function")
    assert {"True", "False"} <= seen("channels_first")
    sizes = {(r["shape1"][-3] % 2, r["shape1"][-2] % 2) for r in recipes}
    assert sizes == {(0, 0), (0, 1), (1, 0), (1, 1)}
    assert any(len(r["shape1"]) != len(r["shape2"]) for r in recipes)  # broadcast batches
    assert any(
        r["shape1"][-3] == cases.minimum_size(r["filter_size"], len(r.get("power_factors", [1]))) for r in recipes
    )
    assert len({len(r.get("power_factors", [])) for r in recipes}) == 6


@pytest.mark.parametrize("engine", ENGINES)
def test_bundled_sample_matches_tensorflow(tf, engine):
    """A real 8-bit pair with flat areas, where the filter's rounding order shows."""
    import msssim

    root = Path(__file__).parent.parent / "examples"
    ref, dist = msssim.read_image(root / "reference.png"), msssim.read_image(root / "distorted.png")
    for function in ("ssim_multiscale", "ssim"):
        recipe = {"function": function, "kind": "sample"}
        want = getattr(tf.image, function)(ref, dist, 255).numpy()
        got = getattr(msssim, function)(ref, dist, 255, engine=engine, numerics="tensorflow-cpu")
        cases.assert_close(recipe, got, want)

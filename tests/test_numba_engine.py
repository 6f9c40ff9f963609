"""The Numba engines' paths that the 2-core test machine would not take by itself."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import msssim

SCRIPT = """
import numpy as np, msssim
from msssim._engines import numba_cpu
rng = np.random.default_rng(3)
a = rng.random((1, 190, 201, 3), dtype=np.float32)
b = np.clip(a + 0.2 * rng.standard_normal(a.shape, dtype=np.float32), 0, 1)
assert numba_cpu._blocks(3, 180, 3) > 1  # three planes, four threads: rows are split, maps summed
fast = msssim.ssim_multiscale_parts(a, b, 1.0, engine="numba", numerics="tensorflow-cpu")
slow = msssim.ssim_multiscale_parts(a, b, 1.0, engine="reference", numerics="tensorflow-cpu")
shared = msssim.ssim_multiscale_parts(a, b, 1.0)  # the exact engine: bands shared by four threads
alone = msssim.ssim_multiscale_parts(a, b, 1.0, threads=1)
for name in ("ms_ssim", "cs", "ssim", "luminance"):
    np.testing.assert_array_equal(getattr(fast, name), getattr(slow, name))
    np.testing.assert_array_equal(getattr(shared, name), getattr(alone, name))
print("ok")
"""


def test_split_planes_with_maps_equal_the_reference():
    env = {**os.environ, "NUMBA_NUM_THREADS": "4"}
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


@pytest.mark.parametrize("numerics", ["exact", "tensorflow-cpu"])
def test_integer_and_float_inputs_read_directly_match_reference(numerics):
    # The exact kernels read any dtype and the 2x2 means of the first halving
    # as they go; the float64 reference converts first. Both are held to 1e-6
    # of each other (float32 kernels against float64); TF-CPU's two engines do
    # the same float32 steps, so they are equal.
    rng = np.random.default_rng(9)
    for dtype in (np.uint8, np.uint16, np.int16, np.float64):
        top = np.iinfo(dtype).max if dtype != np.float64 else 1.0
        a = rng.integers(0, 256, (2, 170, 165, 2)) * (top / 255)
        b = np.clip(a + rng.integers(-40, 41, a.shape) * (top / 255), 0, top)
        a, b = a.astype(dtype), b.astype(dtype)
        fast = msssim.ssim_multiscale(a, b, top, engine="numba", numerics=numerics)
        slow = msssim.ssim_multiscale(a, b, top, engine="reference", numerics=numerics)
        if numerics == "exact":
            np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-6)
        else:
            np.testing.assert_array_equal(fast, slow)


def test_exact_kernels_on_narrow_and_wide_images():
    """Narrower than a tile (zero columns never counted), one column past a
    tile (the last tile overlaps the one before), many channels."""
    rng = np.random.default_rng(4)
    for shape in ((40, 11, 1), (20, 75, 3), (30, 140, 5), (150, 12, 2)):
        a = rng.random(shape, dtype=np.float32)
        b = np.clip(a + 0.1 * rng.standard_normal(shape, dtype=np.float32), 0, 1)
        got = msssim.ssim(a, b, 1.0, return_index_map=True)
        want = msssim.ssim(a, b, 1.0, return_index_map=True, engine="reference")
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6, err_msg=str(shape))


def test_forked_children_score_after_the_parent_did():
    """A fork after a call (a multiprocessing pool's workers, a torch
    DataLoader's): the children score as the parent did. The exact engine's
    threads do not survive a fork; its pool was inherited, and the children
    waited for ever on jobs no thread would run."""
    code = """
    import multiprocessing, numpy as np, msssim
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (2, 300, 301, 3), dtype=np.uint8)
    b = np.clip(a + rng.integers(-30, 30, a.shape), 0, 255).astype(np.uint8)
    parent = [float(v) for v in msssim.ssim_multiscale(a, b, 255, threads=2)]
    parent += [float(v) for v in msssim.ssim_multiscale(a, b, 255, numerics="tensorflow-cpu", threads=2)]

    def score(i):
        numerics = "exact" if i < 2 else "tensorflow-cpu"
        return float(msssim.ssim_multiscale(a[i % 2], b[i % 2], 255, numerics=numerics, threads=2))

    with multiprocessing.get_context("fork").Pool(2) as pool:
        print(pool.map(score, range(4)) == parent)
    """
    import textwrap

    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300)
    assert done.stdout.split() == ["True"], done.stderr[-3000:]

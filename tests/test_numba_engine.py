"""The Numba engine's paths that the 2-core test machine would not take by itself."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

import msssim

SCRIPT = """
import numpy as np, msssim
from msssim._engines import numba_cpu
rng = np.random.default_rng(3)
a = rng.random((1, 190, 201, 3), dtype=np.float32)
b = np.clip(a + 0.2 * rng.standard_normal(a.shape, dtype=np.float32), 0, 1)
assert numba_cpu._blocks(3, 180, 3) > 1  # three planes, four threads: rows are split, maps summed
fast = msssim.ssim_multiscale_parts(a, b, 1.0, engine="numba")
slow = msssim.ssim_multiscale_parts(a, b, 1.0, engine="reference")
separable = msssim.ssim_multiscale_parts(a, b, 1.0, engine="separable")
whole = msssim.ssim_multiscale_parts(a, b, 1.0, engine="separable", threads=1)
for name in ("ms_ssim", "cs", "ssim", "luminance"):
    np.testing.assert_array_equal(getattr(fast, name), getattr(slow, name))
    np.testing.assert_array_equal(getattr(separable, name), getattr(whole, name))
np.testing.assert_allclose(separable.ms_ssim, fast.ms_ssim, rtol=0, atol=1e-5)
print("ok")
"""


def test_split_planes_with_maps_equal_the_reference():
    env = {**os.environ, "NUMBA_NUM_THREADS": "4"}
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_integer_and_float_inputs_read_directly_match_reference():
    rng = np.random.default_rng(9)
    for dtype in (np.uint8, np.uint16, np.int16):
        top = np.iinfo(dtype).max
        a = rng.integers(0, top, (2, 170, 165, 2), endpoint=True).astype(dtype)
        b = rng.integers(0, top, (2, 170, 165, 2), endpoint=True).astype(dtype)
        np.testing.assert_array_equal(
            msssim.ssim_multiscale(a, b, top, engine="numba"), msssim.ssim_multiscale(a, b, top, engine="reference")
        )

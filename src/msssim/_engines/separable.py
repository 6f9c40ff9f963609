"""The Numba engine with the gaussian applied as two 1-D passes (``engine="separable"``).

The 2-D window costs 121 multiply-adds per moment and pixel, the two passes 22.
Rounded in another order than TF's, scores move from TF's by up to 6.3e-6 on
the test sweep (the exact engine: 1.2e-7), within the 1e-5 the tests hold.
"""

from __future__ import annotations

from msssim._engines.numba_cpu import (  # noqa: F401  (the engine's share of the interface)
    all_finite,
    convert_image,
    downsample_2x,
    first_nonfinite,
    float32,
    mean,
    meta,
    power,
    prod,
    relu,
    session,
    stack,
)
from msssim._engines.numba_cpu import scale_statistics as _exact_order


def scale_statistics(x, y, window, c1, c2, index_map=False):
    return _exact_order(x, y, window, c1, c2, index_map, separable=True)

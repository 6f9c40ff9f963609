"""The CuPy engine: the reference engine's code, run by CuPy on the arrays' GPU.
Chosen when an input is a CuPy array; the result is a CuPy array on the same
device.

The filter adds the 2-D kernel's taps in TF's order with TF's rounding, as the
reference does on the CPU; the H×W means are accurate, as TF's GPU reduction
(TF's CPU one adds in float32, in order; see ``reference.mean_hw``). CuPy has
no automatic differentiation: for gradients on a GPU pass torch or JAX arrays.
"""

from __future__ import annotations

import cupy
import numpy as np

from msssim._engines.reference import (  # noqa: F401  (the engine's share of the interface)
    all_finite,
    convert_image,
    downsample_2x,
    filter_valid,
    first_nonfinite,
    float32,
    mean,
    mean_hw,
    meta,
    power,
    prod,
    relu,
    stack,
)


def arrays(img1, img2):
    """Both inputs as CuPy arrays; a NumPy one is copied to the other's device."""
    device = next(i.device for i in (img1, img2) if isinstance(i, cupy.ndarray))
    out = []
    for img in (img1, img2):
        if isinstance(img, cupy.ndarray):
            if img.device != device:
                msg = f"img1 and img2 are on different devices ({img1.device} and {img2.device}); move one of them."
                raise ValueError(msg)
        else:
            arr = np.asarray(img)
            if arr.dtype.kind in "iufb":
                with device:
                    arr = cupy.asarray(arr)
            img = arr  # other dtypes are refused, with their message, by the checks
        out.append(img)
    return out[0], out[1]


def moveaxis(x, channel_axis: int):
    return cupy.moveaxis(x, channel_axis, -1)

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

from msssim._engines._numpy_ops import different_devices, host_array
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
    """Both inputs as CuPy arrays on the current device; a NumPy one is copied there."""
    device = next(i.device for i in (img1, img2) if isinstance(i, cupy.ndarray))
    if device != cupy.cuda.Device():
        msg = (
            f"the CuPy arrays are on {device}, not the current device {cupy.cuda.Device()}; score them "
            f"inside `with cupy.cuda.Device({device.id}):`."
        )
        raise ValueError(msg)
    out = []
    for img in (img1, img2):
        if isinstance(img, cupy.ndarray):
            if img.device != device:
                raise different_devices(img1, img2)
        else:
            arr = host_array(img)
            img = cupy.asarray(arr) if arr.dtype.kind in "iufb" else arr  # others are refused by the checks
        out.append(img)
    return out[0], out[1]


def moveaxis(x, channel_axis: int):
    return cupy.moveaxis(x, channel_axis, -1)

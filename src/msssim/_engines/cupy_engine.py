"""The CuPy engine: the float64 engine's code, run by CuPy on the arrays' GPU.
Chosen when an input is a CuPy array; the result is a CuPy array on the same
device.

With ``numerics="exact"`` the GPU evaluates the formula in float64, the same
number as every other backend within 1e-6. TF-CPU's digits
(``"tensorflow-cpu"``) exist only on the CPU: the arrays are copied to the host,
scored by the Numba engine, and the result copied back. CuPy has no automatic
differentiation: for gradients on a GPU pass torch or JAX arrays.
"""

from __future__ import annotations

import cupy

from msssim._engines._numpy_ops import different_devices, host_array
from msssim._engines.float64 import (  # noqa: F401  (the engine's share of the interface)
    all_finite,
    clip,
    convert_image,
    data_range,
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


def moveaxis(x, source: int, destination: int):
    return cupy.moveaxis(x, source, destination)


def exact_values(on_host, compute, x, y, host_only: bool) -> tuple:
    """``compute(x, y)`` on the GPU; with ``host_only`` (TF-CPU's digits), the
    values of ``on_host`` (the Numba engine) on copies of the arrays, copied back."""
    if not host_only:
        return compute(x, y)
    return tuple(cupy.asarray(v) for v in on_host(cupy.asnumpy(x), cupy.asnumpy(y)))

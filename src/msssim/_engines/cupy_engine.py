"""The CuPy engine: the float64 engine's code, run by CuPy on the arrays' GPU
(the images converted to float32, as TF does, and to float64 only where that
code takes them), with step 4 of ``numerics="exact"`` on the fused Triton kernels of the torch
engine (``triton_kernels``, the arrays shared through DLPack) where torch with
CUDA and Triton are installed. Chosen when an input is a CuPy array; the result
is a CuPy array on the same device.

With ``numerics="exact"`` the GPU evaluates the formula within 1e-6 of float64,
the same number as every other backend: on the kernels (float32 about local
values), or else in float64. TF-CPU's digits
(``"tensorflow-cpu"``) exist only on the CPU: the arrays are copied to the host,
scored by the Numba engine, and the result copied back. CuPy has no automatic
differentiation: for gradients on a GPU pass torch or JAX arrays.
"""

from __future__ import annotations

import functools

import cupy
import numpy as np

from msssim._engines import float64
from msssim._engines._numpy_ops import different_devices, host_array
from msssim._engines.float64 import (  # noqa: F401  (the engine's share of the interface)
    all_finite,
    clip,
    concat,
    filter_valid,
    first_nonfinite,
    float32,
    mean,
    mean_hw,
    meta,
    prod,
    relu,
    stack,
)

CARRIES_NAN = True  # a NaN or Inf pixel reaches the score or a term (as NumPy's): searched for then


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


def convert_image(img, scale: np.float32):
    """TF's float32 conversion, as the kernels take the images: a float64
    copy of every pixel (``float64.convert_image``) would cost the GPU more
    memory traffic than the kernels' own work. The float64 code takes them
    as float64 (``_float64``). Not a copy where it need not be (float32
    images in [0, 1]); the input is never modified."""
    x = img.astype(np.float32, copy=False)
    return x * scale if scale != 1 else x


def _float64(x):
    return x.astype(np.float64, copy=False)


def downsample_2x(x, dims: int):
    """Step 5 in float64 (where the kernels do not take the scales)."""
    return float64.downsample_2x(_float64(x), dims)


def data_range(x, y):
    """The larger of the two arrays' ranges, in float64 (torchmetrics' ``data_range=None``)."""
    return float64.data_range(_float64(x), _float64(y))


def moveaxis(x, source: int, destination: int):
    return cupy.moveaxis(x, source, destination)


def power(x, exponents):
    """``x ** w``, the exponents copied to the GPU once (each copy from the
    host's memory waits for the GPU)."""
    w = np.asarray(exponents, np.float32)
    return x ** _constant(w.tobytes(), w.shape, x.device.id)


@functools.lru_cache(maxsize=64)
def _constant(data: bytes, shape: tuple, device: int):
    with cupy.cuda.Device(device):
        return cupy.asarray(np.frombuffer(data, np.float32).reshape(shape))


def exact_values(on_host, compute, x, y, host_only: bool) -> tuple:
    """``compute(x, y)`` on the GPU; with ``host_only`` (TF-CPU's digits), the
    values of ``on_host`` (the Numba engine) on copies of the arrays, copied back."""
    if not host_only:
        return compute(x, y)
    return tuple(cupy.asarray(v) for v in on_host(cupy.asnumpy(x), cupy.asnumpy(y)))


def _kernels():
    """``triton_kernels`` where torch (with CUDA) and Triton import, else None."""
    try:
        import torch

        from msssim._engines import triton_kernels
    except ImportError:
        return None
    return triton_kernels if torch.cuda.is_available() and triton_kernels.compiled() else None


def pyramid_statistics(x, y, window, c1, c2, levels: int, power_factors=None):
    """Steps 4 and 5 of all ``levels`` scales at once (TF's step 5, fixed
    constants, 2-D exact numerics) on the fused kernels: statistics ``[...,
    levels, C]``; given ``power_factors``, step 6's product of each channel
    ``[..., C]`` too, first. None where there are none (the scales then take
    ``scale_statistics`` and ``downsample_2x``)."""
    from msssim._ssim import means_statistics

    out = _pyramid_means(x, y, window, c1, c2, levels, power_factors)
    if out is None or power_factors is None:
        return None if out is None else means_statistics(out)
    return out[1], means_statistics(out[0])


def _pyramid_means(x, y, window, c1, c2, levels: int, power_factors=None):
    kernels = _kernels()
    if kernels is None or not kernels.takes(window, *x.shape[-3:-1], levels):  # (or they did not compile for this GPU)
        return None
    return kernels.channels_last_means(x, y, window, c1, c2, levels, cupy, power_factors)


def scale_statistics(x, y, window, c1, c2, index_map=False, only_cs=False):
    """Step 4: on the fused kernels for exact numerics' images (no index map,
    fixed constants); else the float64 engine's filters."""
    from msssim._ssim import ScaleStatistics, filtered_statistics

    if not index_map and not isinstance(c1, cupy.ndarray):
        fused = pyramid_statistics(x, y, window, c1, c2, 1)
        if fused is not None:
            return ScaleStatistics(*(t[..., 0, :] for t in fused[:3]))
    return filtered_statistics(float64, _float64(x), _float64(y), window, c1, c2, index_map)

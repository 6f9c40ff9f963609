"""The PyTorch engine: the algorithm's primitives in torch ops, on the tensors'
device, differentiable with autograd. Chosen when an input is a torch tensor.

Inside, images are ``[..., C, H, W]`` (volumes ``[..., C, D, H, W]``)
float32; the gaussian is one 1-D grouped convolution per spatial axis, applied
to the four moments of a scale at once. The
clamp ``relu(t) ** w`` has gradient 0 where ``t <= 0`` (TF's is NaN there,
``0 · ∞``), and ``0 ** 0`` is 1, as in TF.

Separable convolution rounds differently from TF's 2-D depthwise one, and TF's
CPU mean of a colour map is a sequential float32 sum (``reference.mean_hw``):
together up to ~1e-5 on a score. So on the CPU the values come from the NumPy
engine, which repeats TF's arithmetic, and the gradients from these ops
(``exact_values``). On a GPU both are torch's, with accurate means, as TF's GPU
reduction.
"""

from __future__ import annotations

import functools
import math
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F
from torch._C import _functorch
from torch.autograd import forward_ad

from msssim._engines._numpy_ops import different_devices, host_array, interpreted, stand_in
from msssim._window import separable

CARRIES_NAN = True  # a NaN or Inf pixel makes the score or a term NaN: searched for then

_NUMPY_DTYPES = {
    torch.uint8: np.uint8,
    torch.int8: np.int8,
    torch.int16: np.int16,
    torch.int32: np.int32,
    torch.int64: np.int64,
    torch.float16: np.float16,
    torch.float32: np.float32,
    torch.float64: np.float64,
    torch.bool: np.bool_,
    torch.complex64: np.complex64,
    torch.complex128: np.complex128,
}
if hasattr(torch, "uint16"):
    _NUMPY_DTYPES[torch.uint16] = np.uint16


def _numpy_dtype(dtype: torch.dtype) -> np.dtype:
    if dtype == torch.bfloat16:
        try:
            import ml_dtypes

            return np.dtype(ml_dtypes.bfloat16)
        except ImportError:
            return np.dtype(np.float32)  # only max_val's cast would differ
    if dtype not in _NUMPY_DTYPES:
        msg = f"torch dtype {dtype} is not an image type; use an integer or floating tensor."
        raise TypeError(msg)
    return np.dtype(_NUMPY_DTYPES[dtype])


def arrays(img1, img2) -> tuple[torch.Tensor, torch.Tensor]:
    """Both inputs as tensors; a non-tensor joins the tensor's device."""
    device = next(i.device for i in (img1, img2) if isinstance(i, torch.Tensor))
    out = []
    for img in (img1, img2):
        if not isinstance(img, torch.Tensor):
            arr = host_array(img)
            img = torch.as_tensor(arr, device=device) if arr.dtype.kind in "iufb" else arr
        elif img.device != device:
            raise different_devices(img1, img2)
        out.append(img)
    return out[0], out[1]


def meta(x) -> np.ndarray:
    """A NumPy stand-in with the tensor's shape and dtype, for the checks."""
    if not isinstance(x, torch.Tensor):
        return np.asarray(x)
    return stand_in(x.shape, _numpy_dtype(x.dtype))


def moveaxis(x: torch.Tensor, source: int, destination: int) -> torch.Tensor:
    return torch.movedim(x, source, destination)


def first_nonfinite(x: torch.Tensor):
    if not x.is_floating_point() or x.numel() == 0:
        return None
    bad = ~torch.isfinite(x)
    if not bool(bad.any()):
        return None
    return tuple(int(i) for i in bad.nonzero()[0].tolist()), int(bad.sum())


@contextmanager
def session(threads: int | None):
    """One call: float32 throughout, even inside ``torch.autocast`` (left
    alone where it is off: entering it costs more host time than a GPU
    kernel's launch)."""
    if not any(_autocast(device) for device in ("cpu", "cuda")):
        yield
        return
    with torch.autocast("cpu", enabled=False), torch.autocast("cuda", enabled=False):
        yield


def _autocast(device: str) -> bool:
    """Whether ``torch.autocast`` is on for ``device`` (torch < 2.4 cannot say: as if it were)."""
    try:
        return torch.is_autocast_enabled(device)
    except TypeError:
        return True


CHANNELS_FIRST = True  # the engine's form: [..., C, H, W], [..., C, D, H, W]


def convert_image(img: torch.Tensor, scale: np.float32) -> torch.Tensor:
    """float32 ``img * scale`` (TF's cast, then multiply), contiguous."""
    x = img.to(torch.float32)
    if scale != 1:
        x = x * float(scale)
    return x.contiguous()


def constant(values: np.ndarray, device: torch.device) -> torch.Tensor:
    """A small array (taps, exponents) as a tensor on ``device``, copied there
    once: a copy from the host to a GPU waits for the GPU's queue to drain,
    which, once per scale, would keep the host from queueing work ahead of it."""
    values = np.ascontiguousarray(values)
    return _constant(values.tobytes(), values.shape, values.dtype.str, device)


@functools.lru_cache(maxsize=256)
def _constant(data: bytes, shape: tuple, dtype: str, device: torch.device) -> torch.Tensor:
    with torch.inference_mode(False):  # (one made under inference_mode could not join a graph later)
        return torch.from_numpy(np.frombuffer(data, dtype).reshape(shape).copy()).to(device)


_CONV = {2: F.conv2d, 3: F.conv3d}
_POOL = {2: F.avg_pool2d, 3: F.avg_pool3d}


def filter_valid(x: torch.Tensor, window: np.ndarray) -> torch.Tensor:
    """The separable gaussian, VALID, over the spatial axes of every plane
    (``window.ndim`` of them): one grouped convolution per axis over all
    channels (much faster than one per plane)."""
    dims = window.ndim
    channels = x.shape[-dims - 1]
    kernel = constant(separable(window), x.device).repeat(channels, 1)
    out = x.reshape(-1, channels, *x.shape[-dims:])
    for axis in range(dims):
        shape = [channels, 1] + [kernel.shape[1] if a == axis else 1 for a in range(dims)]
        out = _CONV[dims](out, kernel.view(shape), groups=channels)
    return out.reshape(*x.shape[:-dims], *out.shape[-dims:])


def downsample_2x(x: torch.Tensor, dims: int) -> torch.Tensor:
    """Repeat the last row/column (slice) of odd sizes (TF's one-pixel
    SYMMETRIC pad), then 2x2 (2x2x2) means."""
    sides = x.shape[-dims:]
    planes = x.reshape(-1, 1, *sides)
    if any(n % 2 for n in sides):
        planes = F.pad(planes, [p for n in reversed(sides) for p in (0, n % 2)], mode="replicate")
    out = _POOL[dims](planes, 2)
    return out.reshape(*x.shape[:-dims], *out.shape[-dims:])


def mean_hw(x: torch.Tensor, dims: int) -> torch.Tensor:
    """The mean over the spatial axes, ``[..., C, *spatial] -> [..., C]``."""
    return x.mean(dim=tuple(range(-dims, 0)))


def _fused(x: torch.Tensor):
    """The fused Triton kernels (``triton_kernels``) for ``x``'s device: on a
    GPU where Triton imports (and compiles them), or on the CPU under its
    interpreter; else None."""
    if not (x.is_cuda or interpreted()):
        return None
    try:
        from msssim._engines import triton_kernels
    except ImportError:  # no Triton: torch's own ops
        return None
    return triton_kernels if triton_kernels.compiled() else None


def exact_values(on_host, compute, x: torch.Tensor, y: torch.Tensor, host_only: bool) -> tuple:
    """On the CPU (with ``host_only``, everywhere), the values of ``on_host``
    (the NumPy engine, given the images as NumPy) with the gradients of
    ``compute`` (these ops), which runs only when a gradient is wanted; on a
    GPU, ``compute(x, y)``. Inside ``torch.func`` transforms, whose tensors have
    no storage to read, ``compute(x, y)`` too."""
    on_device = x.device.type != "cpu" or interpreted()
    if (on_device and not host_only) or any(_functorch.is_functorch_wrapped_tensor(t) for t in (x, y)):
        return compute(x, y)
    values = [
        torch.from_numpy(np.require(v, np.float32, ["W"])).to(x.device)
        for v in on_host(x.detach().cpu().numpy(), y.detach().cpu().numpy())
    ]
    backward = torch.is_grad_enabled() and (x.requires_grad or y.requires_grad)
    if not (backward or any(forward_ad.unpack_dual(t).tangent is not None for t in (x, y))):  # (forward AD's too)
        return tuple(values)
    return tuple(out + (value - out).detach() for out, value in zip(compute(x, y), values))


def scale_statistics(x, y, window, c1, c2, index_map=False, only_cs=False):
    """Step 4: on a GPU, the fused Triton kernels (float32 about each
    pixel's centre, float64 sums); else in the window's precision (float64 for
    ``numerics="exact"``), the four moments filtered in one convolution (the
    formulas are ``_ssim.luminance_cs``); the index map returned channels last."""
    from msssim._ssim import ScaleStatistics, luminance_cs

    if not index_map and not torch.is_tensor(c1):  # (a tensor c1: torchmetrics' estimated range)
        fused = pyramid_statistics(x, y, window, c1, c2, 1)
        if fused is not None:
            return ScaleStatistics(*(t.squeeze(-2) for t in fused[:3]))

    dtype = torch.float64 if window.dtype == np.float64 else torch.float32
    channel = -window.ndim - 1
    x, y = torch.broadcast_tensors(x.to(dtype), y.to(dtype))
    moments = filter_valid(torch.cat([x, y, x * x + y * y, x * y], dim=channel), window)
    mu_x, mu_y, filtered_sq, filtered_xy = moments.split(x.shape[channel], dim=channel)
    luminance, cs = luminance_cs(mu_x, mu_y, filtered_sq, filtered_xy, c1, c2)
    ssim_map = luminance * cs
    return ScaleStatistics(
        ssim=mean_hw(ssim_map, window.ndim),
        cs=mean_hw(cs, window.ndim),
        luminance=mean_hw(luminance, window.ndim),
        index_map=torch.movedim(ssim_map, channel, -1) if index_map else None,
    )


def pyramid_statistics(x, y, window, c1, c2, levels: int, power_factors=None):
    """Steps 4 and 5 of all ``levels`` scales at once (TF's step 5, fixed
    constants, 2-D exact numerics) on the fused Triton kernels: statistics
    ``[..., levels, C]``, finest first (views of one tensor: few operations
    in the backward); given ``power_factors``, step 6's product of each
    channel ``[..., C]`` too, taken in the kernels, first. None where the
    kernels are not for these tensors or did not compile for this GPU."""
    out = _pyramid_means(x, y, window, c1, c2, levels, power_factors)
    if out is None or power_factors is None:
        return None if out is None else _statistics(out)
    return out[1], _statistics(out[0])


def _pyramid_means(x, y, window, c1, c2, levels: int, power_factors=None):
    """``triton_kernels.pyramid_means`` where the kernels are for these tensors, else None."""
    kernels = _fused(x)
    if kernels is None or not kernels.takes(window, *x.shape[-2:], levels):
        return None
    return kernels.pyramid_means(x, y, window, c1, c2, levels, power_factors)


def _statistics(means):
    """Means ``[..., C, levels, 3]`` as statistics ``[..., levels, C]``."""
    from msssim._ssim import ScaleStatistics

    return ScaleStatistics(*means.movedim(-1, 0).transpose(-1, -2).unbind(0))


def float32(x) -> torch.Tensor:
    return torch.as_tensor(x).to(torch.float32)


def as_float64(x: torch.Tensor) -> torch.Tensor:
    return x.to(torch.float64)


def relu(x: torch.Tensor) -> torch.Tensor:
    return torch.relu(x)


def clip(x: torch.Tensor, low: float, high: float) -> torch.Tensor:
    return torch.clamp(x, low, high)


def data_range(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The larger of the two tensors' ranges (max - min), differentiable as
    torchmetrics' data_range=None: a tie goes to ``x``, as Python's ``max``."""
    a, b = x.max() - x.min(), y.max() - y.min()
    return torch.where(a >= b, a, b)


def concat(tensors, axis: int) -> torch.Tensor:
    return torch.cat(tensors, dim=axis)


def stack(tensors, axis: int) -> torch.Tensor:
    return torch.stack(tensors, dim=axis)


class _WeightedProduct(torch.autograd.Function):
    """``Π x^w`` along ``axis`` for ``x >= 0``: a power and a product, with
    the gradient written out, ``out · w / x``, and 0 where ``x`` is 0 (not the
    infinity of ``w · x^(w-1)`` for ``w < 1``); torch.prod's own backward
    counts the zeros on the host, a wait for the GPU. Five operations back
    where autograd through a guarded power and a chain of products took
    nineteen. A NaN stays NaN unless its ``w`` is 0, as TF's."""

    generate_vmap_rule = True  # (torch.func transforms take it too)

    @staticmethod
    def forward(x, w, axis):
        return torch.prod(torch.pow(x, w), dim=axis)

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, w, ctx.axis = inputs
        ctx.save_for_backward(x, w, output)
        ctx.save_for_forward(x, w, output)

    @staticmethod
    def _rate(x, w):
        """``w / x``, 0 where ``x`` is 0."""
        positive = x > 0  # (and no division by a 0: its 0 · inf would be a second derivative's NaN)
        return torch.where(positive, w / torch.where(positive, x, 1.0), 0.0)

    @staticmethod
    def jvp(ctx, x_tangent, w_tangent, axis_tangent):  # (forward-mode AD: torch.func.jvp, forward_ad)
        x, w, out = ctx.saved_tensors
        return torch.where(x > 0, _WeightedProduct._rate(x, w) * x_tangent, 0.0).sum(ctx.axis) * out

    @staticmethod
    def backward(ctx, grad):
        x, w, out = ctx.saved_tensors
        d_x = torch.where(x > 0, (grad * out).unsqueeze(ctx.axis) * _WeightedProduct._rate(x, w), 0.0)
        return d_x, None, None


def weighted_product(x: torch.Tensor, exponents, axis: int) -> torch.Tensor:
    """``prod(x ** w, axis)`` for ``x >= 0``, with gradient 0 (not NaN) where ``x`` is 0."""
    return _WeightedProduct.apply(x, constant(np.asarray(exponents, np.float32), x.device), axis)


def mean(x: torch.Tensor, axis: int) -> torch.Tensor:
    return x.mean(dim=axis)


def all_finite(*arrays: torch.Tensor) -> bool:
    """One read on the host for all of them (each read waits for the GPU):
    whether the sum of their sums is finite, as it is exactly when they all
    are (scores and their terms, at most 1 in size). Under ``torch.func.vmap``
    nothing can be read: True, and a NaN pixel scores NaN, as in traced code."""
    total = functools.reduce(torch.add, [x.sum() for x in arrays])
    return _batched(total) or math.isfinite(total.item())


def _batched(x: torch.Tensor) -> bool:
    """Whether ``x`` is inside ``torch.func.vmap`` (at any level of nested transforms)."""
    while _functorch.is_functorch_wrapped_tensor(x):
        if _functorch.is_batchedtensor(x):
            return True
        x = _functorch.get_unwrapped(x)
    return False

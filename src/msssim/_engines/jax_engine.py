"""The JAX engine: the algorithm's primitives in ``jax.numpy`` and ``lax``, so
``jax.grad``, ``jax.jit`` and ``jax.vmap`` work through it. Chosen when an input
is a JAX array (or a tracer).

The gaussian is two 1-D grouped convolutions (``lax.conv_general_dilated``).
On the CPU the values come from the NumPy engine, which repeats TF's float32
arithmetic (XLA's convolutions and TF's sequential CPU mean of a colour map
round differently, up to ~1e-5 on a score), and the derivatives from these
ops, which run only when JAX differentiates (``exact_values``). On a GPU,
exact numerics' images go through the torch engine's fused Triton kernels
where torch (with CUDA) and Triton import (``pyramid_statistics``): XLA hands
its buffers and its stream to them (``jax.experimental.buffer_callback``,
the buffers as torch tensors through DLPack), and their hand-derived backward
is the derivative (``jax.custom_vjp``: reverse mode only, as the torch
kernels give first derivatives only). Elsewhere on a GPU the values are
XLA's, float32 moments about local values with a written-out derivative
(``_scale_means``), which forward mode takes too. The clamp has gradient 0
where TF's is NaN. Under tracing the NaN/Inf check of the pixels is skipped.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.custom_derivatives import SymbolicZero

from msssim._engines._numpy_ops import host_array, interpreted, stand_in
from msssim._window import separable


def _traced(x) -> bool:
    return isinstance(x, jax.core.Tracer)


def arrays(img1, img2):
    """Both inputs as JAX arrays (a NumPy one in native byte order, as JAX takes them)."""
    return tuple(img if isinstance(img, jax.Array) else jnp.asarray(host_array(img)) for img in (img1, img2))


def meta(x) -> np.ndarray:
    """A NumPy stand-in with the array's shape and dtype, for the checks."""
    return stand_in(x.shape, np.dtype(x.dtype))


def moveaxis(x, source: int, destination: int):
    return jnp.moveaxis(x, source, destination)


def first_nonfinite(x):
    if _traced(x) or not jnp.issubdtype(x.dtype, jnp.floating) or x.size == 0:
        return None
    bad = ~np.isfinite(np.asarray(x, dtype=np.float32))
    if not bad.any():
        return None
    return tuple(int(i) for i in np.argwhere(bad)[0]), int(bad.sum())


def convert_image(img, scale: np.float32):
    x = img.astype(jnp.float32)
    return x * np.float32(scale) if scale != 1 else x


def _flat(x, dims: int):
    """``[N, *spatial, C]``."""
    return x.reshape(-1, *x.shape[-dims - 1 :])


_LAYOUTS = {2: ("NHWC", "HWIO", "NHWC"), 3: ("NDHWC", "DHWIO", "NDHWC")}


def filter_valid(x, window: np.ndarray):
    """The separable gaussian, VALID, as one grouped convolution per spatial
    axis (two for images, three for volumes: ``window.ndim``)."""
    dims, channels = window.ndim, x.shape[-1]
    taps = jnp.asarray(np.tile(separable(window).reshape(-1, 1), (1, channels)))  # [k, C]
    out = _flat(x, dims)
    for axis in range(dims):
        kernel = taps.reshape([len(taps) if a == axis else 1 for a in range(dims)] + [1, channels])
        out = lax.conv_general_dilated(
            out, kernel, (1,) * dims, "VALID", dimension_numbers=_LAYOUTS[dims], feature_group_count=channels,
            precision=lax.Precision.HIGHEST,  # (float32 on a GPU would otherwise take TF32's 10-bit products)
        )  # fmt: skip
    return out.reshape(*x.shape[: -dims - 1], *out.shape[1:])


def downsample_2x(x, dims: int):
    """Repeat the last row/column (slice) of odd sizes, then the means of 2x2
    (2x2x2) blocks (in float64 for float64 images: JAX's 64-bit mode on for the while)."""
    with jax.enable_x64(x.dtype == jnp.float64):
        flat = _flat(x, dims)
        flat = jnp.pad(flat, [(0, 0)] + [(0, n % 2) for n in flat.shape[1:-1]] + [(0, 0)], mode="edge")
        blocks = flat.reshape(flat.shape[0], *[m for n in flat.shape[1:-1] for m in (n // 2, 2)], flat.shape[-1])
        out = blocks.mean(axis=tuple(range(2, 2 * dims + 1, 2)))
        return out.reshape(*x.shape[: -dims - 1], *out.shape[1:])


def mean_hw(x, dims: int):
    return jnp.mean(x, axis=tuple(range(-dims - 1, -1)))


def _centred(z, taps: tuple, gain: float):
    """The window's mean and variance of ``z`` (``[..., H, W, C]`` float32) at
    each VALID pixel, in float32 about local values, as ``triton_kernels``:
    along W about each row's value in the output's column (the row's mean
    ``t`` and spread ``q``), then along H about the centre row's mean by the
    law of total variance; terms in ``1 - gain²`` for taps that do not sum to 1."""
    k, half, total = len(taps), len(taps) // 2, gain * gain
    rows, cols = z.shape[-3] - k + 1, z.shape[-2] - k + 1
    centre = z[..., :, half : half + cols, :]
    deviations = [z[..., :, j : j + cols, :] - centre for j in range(k)]
    s = sum(g * d for g, d in zip(taps, deviations))
    t = centre + s / gain
    q = sum(g * d * d for g, d in zip(taps, deviations)) - s * s / gain
    t0 = t[..., half : half + rows, :, :]
    deviations = [t[..., i : i + rows, :, :] - t0 for i in range(k)]
    d1 = sum(g * d for g, d in zip(taps, deviations))
    d2 = sum(g * d * d for g, d in zip(taps, deviations))
    spread = sum(g * q[..., i : i + rows, :, :] for i, g in enumerate(taps))
    variance = spread + gain * d2 - total * d1 * d1 + (1 - total) * gain * (2 * t0 * d1 + gain * t0 * t0)
    return gain * (d1 + gain * t0), variance


def _mean64(m):
    return jnp.mean(m.astype(jnp.float64), axis=(-3, -2)).astype(jnp.float32)


def _per_pixel(u, v, taps: tuple, gain: float, c1: float, c2: float):
    """Each VALID pixel's means and variances of ``u = x + y`` and ``v = x -
    y`` (:func:`_centred`), its cs and luminance, and the three means ``[...,
    C, 3]`` (SSIM, cs, luminance) in float64."""
    (mean_u, var_u), (mean_v, var_v) = _centred(u, taps, gain), _centred(v, taps, gain)
    cs = (var_u - var_v + 2 * c2) / (var_u + var_v + 2 * c2)
    luminance = (mean_u * mean_u - mean_v * mean_v + 2 * c1) / (mean_u * mean_u + mean_v * mean_v + 2 * c1)
    means = jnp.stack([_mean64(luminance * cs), _mean64(cs), _mean64(luminance)], axis=-1)
    return (mean_u, var_u, mean_v, var_v, cs, luminance), means


@functools.partial(jax.custom_jvp, nondiff_argnums=(2, 3, 4, 5))
def _scale_means(u, v, taps: tuple, gain: float, c1: float, c2: float):
    """The means of SSIM, cs and luminance of two ``[..., H, W, C]`` images
    given as their sum and difference, ``u = x + y`` and ``v = x - y``
    (float32, made from float64 ones: ``v`` of nearly equal images keeps its
    own precision, as halves of each image rounded apart would not),
    ``[..., C, 3]``: the moments about local values (:func:`_centred`), the
    means in float64. Its derivative is written out (:func:`_tangents`):
    XLA's own of these slices recomputed them per tap (seconds per call)."""
    with jax.enable_x64(True):
        return _per_pixel(u, v, taps, gain, c1, c2)[1]


@_scale_means.defjvp
def _tangents(taps, gain, c1, c2, primals, tangents):
    """Linear in the tangents, so JAX transposes it for reverse mode: the
    window's moments' tangents (``f(du)``, ``f(dv)``, ``f(u·du)``, ``f(v·dv)``,
    float32 convolutions) weighted by each pixel's partial derivatives.
    Written in ``u`` and ``v``, the weights of
    ``u``'s moments carry ``σv²`` and ``μv²`` (``1 - cs``, ``1 - luminance``),
    so nothing of a pixel's size cancels where ``x ≈ y`` (in ``x`` and ``y``
    the gradients of images 1e-4 apart were 3e-3 off)."""
    (u, v), (du, dv) = primals, tangents
    with jax.enable_x64(True):
        (mean_u, var_u, mean_v, var_v, cs, luminance), out = _per_pixel(u, v, taps, gain, c1, c2)
        window = np.outer(taps, taps).astype(np.float32)
        fields = jnp.concatenate([du, dv, u * du, v * dv], axis=-1)
        d_mu, d_mv, f_udu, f_vdv = jnp.split(filter_valid(fields, window), 4, axis=-1)
        d_var_u, d_var_v = 2 * (f_udu - mean_u * d_mu), 2 * (f_vdv - mean_v * d_mv)  # (σ² = f(z²) - μ²)
        b2 = var_u + var_v + 2 * c2  # cs = (σu² - σv² + 2c2) / b2
        d_cs = (2 * var_v * d_var_u - (2 * var_u + 4 * c2) * d_var_v) / (b2 * b2)
        b1 = mean_u * mean_u + mean_v * mean_v + 2 * c1  # luminance = (μu² - μv² + 2c1) / b1
        d_l = 4 * mean_v * (mean_v * mean_u * d_mu - (mean_u * mean_u + 2 * c1) * d_mv) / (b1 * b1)
        tangent = jnp.stack([_mean64(luminance * d_cs + cs * d_l), _mean64(d_cs), _mean64(d_l)], axis=-1)
        return out, tangent


class _Fused(NamedTuple):
    """What a call of the fused kernels is for, besides the images (hashable:
    static under ``jax.custom_vjp``)."""

    window: bytes  # float64 [size, size]
    size: int
    c1: float
    c2: float
    levels: int
    power_factors: tuple | None


def _kernels(*arrays):
    """The torch engine's fused Triton kernels (``triton_kernels``) where
    JAX runs on a GPU that torch sees too (or on the CPU under Triton's
    interpreter, for the tests) and both import; else None. Not for
    ``arrays`` that JAX keeps on the host of a GPU machine (``device_put``
    there, or ``jax.default_device``)."""
    if not (jax.default_backend() == "gpu" and not _on_host(arrays) or interpreted()):
        return None
    try:
        import torch
        from jax.experimental.buffer_callback import buffer_callback  # noqa: F401  (JAX 0.7 and later)

        from msssim._engines import triton_kernels
    except ImportError:
        return None
    on_device = interpreted() or torch.cuda.is_available()
    return triton_kernels if on_device and triton_kernels.compiled() and _handed_over() else None


def _on_host(arrays) -> bool:
    """Whether JAX computes with ``arrays`` on a CPU: concrete arrays say
    where they are; traced ones (a caller's ``jit``) go where
    ``jax.default_device`` says, if it says."""
    for x in arrays:
        if isinstance(x, jax.Array) and not _traced(x):
            return all(device.platform == "cpu" for device in x.devices())
    device = jax.config.jax_default_device
    return getattr(device, "platform", device) == "cpu"


@functools.cache
def _handed_over() -> bool:
    """Whether XLA's buffers reach torch here, on XLA's stream (a tiny
    callback run once, its result read back); where they do not, a warning,
    and the scales take XLA's own operations, as they do without torch."""
    from jax.experimental.buffer_callback import buffer_callback

    try:
        with jax.ensure_compile_time_eval():  # (run now, also while a caller is being traced)
            shape = jax.ShapeDtypeStruct((8,), jnp.float32)
            out = np.asarray(buffer_callback(_add_one, shape)(jnp.arange(8, dtype=jnp.float32)))
        problem = None if np.array_equal(out, np.arange(1, 9)) else f"wrong values came back: {out}"
    except Exception as error:  # noqa: BLE001  (any failure: the fallback is exact too)
        problem = f"{type(error).__name__}: {str(error).strip().splitlines()[-1]}"
    if problem is not None:
        msg = (
            f"msssim could not hand JAX's GPU buffers to its torch kernels ({problem}); scoring with XLA's own "
            "operations instead, which are slower."
        )
        warnings.warn(msg, RuntimeWarning, stacklevel=2)
    return problem is None


def _add_one(ctx, out, x) -> None:
    with _torch(ctx, x) as tensor:
        tensor(out).copy_(tensor(x) + 1)


def pyramid_statistics(x, y, window, c1, c2, levels: int, power_factors=None):
    """Steps 4 and 5 of all ``levels`` scales at once (TF's step 5, fixed
    constants, 2-D exact numerics) on the torch engine's fused kernels, which
    XLA calls with its own buffers and stream (``buffer_callback``; under
    ``jit``, ``grad`` and ``vmap``): statistics ``[..., levels, C]``; given
    ``power_factors``, step 6's product of each channel ``[..., C]`` too
    (float32), first. None where the kernels are not here (XLA's operations
    then take the scales: ``scale_statistics``)."""
    from msssim._ssim import means_statistics

    kernels = _kernels(x, y)
    if kernels is None or not kernels.takes(window, *x.shape[-3:-1], levels):
        return None
    window = np.ascontiguousarray(window)
    factors = None if power_factors is None else tuple(float(w) for w in power_factors)
    fused = _Fused(window.tobytes(), len(window), float(c1), float(c2), levels, factors)
    planes = [jnp.moveaxis(t.astype(jnp.float32), -1, -3) for t in jnp.broadcast_arrays(x, y)]  # [..., C, H, W]
    means, products = _fused_means(*planes, fused)  # [..., C, levels, 3], [..., C]
    stats = means_statistics(means)
    return stats if power_factors is None else (products, stats)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _fused_means(x, y, fused: _Fused):
    """Planes ``[..., H, W]`` -> the kernels' means ``[..., levels, 3]`` and
    products ``[...]`` (None without power factors)."""
    return _forward(x, y, fused, keep=False)[:2]


def _fused_forward(x, y, fused: _Fused):
    """The forward for a gradient: the moments kept, and whether y wants one
    (with ``symbolic_zeros``, JAX says which inputs are perturbed), told to
    the backward by the residuals' structure (a Python flag is no residual)."""
    means, products, px, py, maps = _forward(x.value, y.value, fused, keep=True)
    y_grad = () if y.perturbed else None
    return (means, products), (x.value, y.value, px, py, means, maps, y_grad)


def _fused_backward(fused: _Fused, residuals, cotangents):
    from jax.experimental.buffer_callback import buffer_callback

    x, y, px, py, means, maps, y_grad = residuals
    grads = [None if isinstance(g, SymbolicZero) else g for g in cotangents]
    operands = (x, y, px, py, means, maps, *grads)
    image, moments = (jax.ShapeDtypeStruct(t.shape, jnp.float32) for t in (x, maps))
    outputs = (image, None if y_grad is None else image, moments)
    flat = [t is not None for t in operands[:5]], [t is not None for t in outputs[:2]]  # (None: no leaf)
    call = buffer_callback(
        functools.partial(_backward_callback, fused),
        outputs,
        input_output_aliases={sum(flat[0]): sum(flat[1])},  # (the backward makes its maps of the moments in place)
        vmap_method="broadcast_all",
    )
    gx, gy, _ = _first_order(call)(*operands)
    return gx, gy


def _first_order(call):
    """``call`` (a kernels' callback), whose own derivative is asked for only
    by a derivative of the gradient (the ``custom_vjp`` takes the first): an
    error that says so, not JAX's about callbacks."""
    call = jax.custom_jvp(call)
    call.defjvp(_first_derivatives_only)
    return call


def _first_derivatives_only(primals, tangents):
    msg = (
        "msssim's GPU kernels give first derivatives only, and a derivative of their gradient was asked for (a "
        "second derivative); score on the CPU, or with numerics='tensorflow-cpu', for one."
    )
    raise RuntimeError(msg)


_fused_means.defvjp(_fused_forward, _fused_backward, symbolic_zeros=True)


def _forward(x, y, fused: _Fused, keep: bool):
    """The forward kernels: means, products (or None), and with ``keep``
    the coarser scales and the moments, for the backward (else None)."""
    from jax.experimental.buffer_callback import buffer_callback

    from msssim._engines import triton_kernels

    lead, (height, width) = x.shape[:-2], x.shape[-2:]
    k, levels = fused.size, fused.levels
    scales = (*lead, triton_kernels._pyramid_shape((1, height, width), levels)[1]) if keep and levels > 1 else None
    shapes = (
        (*lead, levels, 3),
        None if fused.power_factors is None else lead,
        scales,
        scales,
        (*lead, triton_kernels._maps_size(height, width, levels, k)) if keep else None,
    )
    out = tuple(None if s is None else jax.ShapeDtypeStruct(s, jnp.float32) for s in shapes)
    call = buffer_callback(functools.partial(_forward_callback, fused), out, vmap_method="broadcast_all")
    return _first_order(call)(x, y)


def _forward_callback(fused: _Fused, ctx, out, x, y) -> None:
    import torch

    from msssim._engines import triton_kernels

    with _torch(ctx, x) as tensor:
        x, y = (tensor(b).reshape(-1, *b.shape[-2:]) for b in (x, y))
        planes, levels, device = x.shape[0], fused.levels, x.device
        means, products, *kept = (None if b is None else tensor(b).view(planes, -1) for b in out)
        taps, gain, symmetric, weights = _constants(fused, device)
        if kept[2] is None:  # (no gradient to come: the coarser scales are the kernels' own)
            kept = triton_kernels.forward_outputs(x.shape, levels, fused.size, False, False, device)[2:]
        exact = None if products is None else means.new_empty(planes, dtype=torch.float64)  # (rounded below)
        buffers = (means.view(planes, levels, 3), exact, *kept)
        triton_kernels.forward(x, y, taps, gain, symmetric, fused.c1, fused.c2, levels, weights, buffers)
        if products is not None:
            products.view(-1).copy_(exact)


def _backward_callback(fused: _Fused, ctx, out, x, y, px, py, means, _moments, g_means, g_products) -> None:
    from msssim._engines import triton_kernels

    with _torch(ctx, x) as tensor:
        x, y = (tensor(b).reshape(-1, *b.shape[-2:]) for b in (x, y))
        planes, device = x.shape[0], x.device
        gx, gy, maps = (None if b is None else tensor(b).view(planes, -1) for b in out)
        scales = (None, None) if px is None else (tensor(px).view(planes, -1), tensor(py).view(planes, -1))
        taps, _, _, weights = _constants(fused, device)
        means = tensor(means).view(planes, fused.levels, 3)
        grad = None if g_means is None else tensor(g_means).view(planes, fused.levels, 3)
        grad_products = None if g_products is None else tensor(g_products).view(-1)
        triton_kernels.backward(
            x, y, *scales, taps, means, weights, maps.view(-1), grad, grad_products, fused.c1, fused.c2,
            gx.view_as(x), None if gy is None else gy.view_as(x),
        )  # fmt: skip


def _constants(fused: _Fused, device):
    """The window's float32 taps, their float64 sum and symmetry, and the
    power factors (float32, or None), as the torch engine's kernels take them."""
    from msssim._engines import torch_engine, triton_kernels

    taps, gain, symmetric = triton_kernels._taps(fused.window, fused.size, device)
    weights = None if fused.power_factors is None else torch_engine.constant(np.float32(fused.power_factors), device)
    return taps, gain, symmetric, weights


@contextlib.contextmanager
def _torch(ctx, buffer):
    """XLA's buffers as torch tensors (DLPack), and torch's launches on XLA's
    stream, where it runs this call, for the while."""
    import torch

    from msssim._engines import triton_kernels

    kind, index = buffer.__dlpack_device__()
    try:
        if kind in (2, 10):  # (DLPack's CUDA and ROCm devices)
            device = torch.device("cuda", index)
            stream = torch.cuda.ExternalStream(ctx.stream, device=device)
            with torch.cuda.device(device), torch.cuda.stream(stream):
                yield torch.from_dlpack
        elif interpreted():
            yield torch.from_dlpack
        else:
            msg = (
                "msssim's GPU kernels were given arrays on the CPU (a jit-compiled function whose inputs JAX "
                "keeps on the host of a GPU machine); call it inside `with jax.default_device(jax.devices('cpu')[0]):`"
                " for XLA's own operations there."
            )
            raise RuntimeError(msg)
    except triton_kernels.COMPILE_ERRORS as error:
        triton_kernels._NOT_COMPILED.append(error)
        msg = (
            f"msssim's Triton kernels did not compile for this GPU ({type(error).__name__}: {error}); JAX's "
            "next trace of the call takes XLA's own operations (call it again, or jit it again)."
        )
        raise RuntimeError(msg) from error


def scale_statistics(x, y, window, c1, c2, index_map=False, only_cs=False):
    """Step 4. On a GPU, images in exact numerics with fixed constants: the
    torch engine's kernels where they are here (:func:`pyramid_statistics`),
    else XLA's float32 about local values (:func:`_scale_means`), within 1e-6
    of float64, derivatives within 1e-4. Otherwise in the window's precision (float64,
    with JAX's 64-bit mode on for the while, for ``numerics="exact"``); the
    results as float32."""
    from msssim._ssim import ScaleStatistics, filtered_statistics

    fixed = all(isinstance(c, (float, np.floating)) for c in (c1, c2))
    if fixed and not index_map:
        fused = pyramid_statistics(x, y, window, c1, c2, 1)
        if fused is not None:
            return ScaleStatistics(*(t[..., 0, :] for t in fused[:3]))
    on_device = jax.default_backend() != "cpu"  # (XLA's CPU runs this slower than the float64 filters)
    if window.ndim == 2 and window.dtype == np.float64 and fixed and not index_map and on_device:
        taps = separable(window)
        gain = float(taps.sum())  # (the levels take the float64 sum; deviations the float32 taps)
        f32 = tuple(float(t) for t in taps.astype(np.float32))
        with jax.enable_x64(True):  # (the sum and difference of float64 pyramids, then float32)
            u, v = ((x + y).astype(jnp.float32), (x - y).astype(jnp.float32))
        means = _scale_means(u, v, f32, gain, float(c1), float(c2))
        return ScaleStatistics(ssim=means[..., 0], cs=means[..., 1], luminance=means[..., 2])
    with jax.enable_x64(window.dtype == np.float64):
        x, y = x.astype(window.dtype), y.astype(window.dtype)
        stats = filtered_statistics(sys.modules[__name__], x, y, window, c1, c2, index_map)
        return ScaleStatistics(*(None if s is None else s.astype(jnp.float32) for s in stats))


def exact_values(on_host, compute, x, y, host_only: bool) -> tuple:
    """On the CPU (with ``host_only``, everywhere), the values of ``on_host``
    (the NumPy engine, a host callback, so it works under jit and vmap) with the
    derivatives of ``compute`` (these ops), which run only when JAX
    differentiates; on a GPU, ``compute(x, y)``."""
    if (jax.default_backend() != "cpu" or interpreted()) and not host_only:
        return compute(x, y)

    def host(a, b):
        return tuple(np.asarray(v, np.float32) for v in on_host(np.asarray(a), np.asarray(b)))

    @jax.custom_jvp
    def valued(a, b):
        shapes = tuple(jax.ShapeDtypeStruct(s.shape, jnp.float32) for s in jax.eval_shape(compute, a, b))
        return jax.pure_callback(host, shapes, a, b, vmap_method="broadcast_all")

    @valued.defjvp
    def _(primals, tangents):
        return valued(*primals), jax.jvp(compute, primals, tangents)[1]

    return valued(x, y)


def float32(x):
    return jnp.asarray(x, dtype=jnp.float32)


def as_float64(x):
    """``x`` as float64 (which JAX keeps only where its 64-bit mode is on:
    :func:`float64_mode`, and in ``downsample_2x`` and ``scale_statistics``)."""
    with jax.enable_x64(True):
        return jnp.asarray(x, dtype=jnp.float64)


def float64_mode():
    """JAX's 64-bit mode, for the steps that take float64 arrays (a
    convention's padding, clamp and range too)."""
    return jax.enable_x64(True)


def relu(x):
    return jnp.maximum(x, 0)


def clip(x, low: float, high: float):
    return jnp.clip(x, low, high)


def data_range(x, y):
    """The larger of the two arrays' ranges (max - min), differentiable as
    torchmetrics' data_range=None: a tie goes to ``x``."""
    a, b = x.max() - x.min(), y.max() - y.min()
    return jnp.where(a >= b, a, b)


def concat(arrays_, axis: int):
    return jnp.concatenate(arrays_, axis=axis)


def stack(arrays_, axis: int):
    return jnp.stack(arrays_, axis=axis)


def power(x, exponents):
    """``x ** w`` for ``x >= 0``, with gradient 0 (not NaN) at ``x = 0``."""
    w = jnp.asarray(exponents, dtype=jnp.float32)
    positive = x > 0
    base = jnp.where(positive, x, 1.0)
    return jnp.where(positive | (w == 0), base**w, 0.0)


def prod(x, axis: int):
    return jnp.prod(x, axis=axis)


def mean(x, axis: int):
    return jnp.mean(x, axis=axis)


def all_finite(*arrays) -> bool:
    return all(_traced(x) or bool(jnp.isfinite(x).all()) for x in arrays)

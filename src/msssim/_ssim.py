"""MS-SSIM and SSIM: the formula of ``tf.image.ssim_multiscale`` / ``tf.image.ssim``, exactly.

This module is the algorithm. It follows the steps of the design note
(numerics.md) in order and leaves the array work to an *engine*
(``msssim._engines``). The ``numerics`` mode picks the engines: ``"exact"``
(the default) evaluates the formula within 1e-6 of float64, ``"tensorflow-cpu"``
repeats TF-CPU's float32 rounding of it. An engine supplies the window of its
mode (``make_window(size, sigma)``, step 3) and a few primitives:

``convert_image(img, scale)``
    the image in the engine's working form, with values ``float32(img) * scale``
    (step 2);
``downsample_2x(x, dims)``
    symmetric pad of odd sizes at the bottom/right, then 2x2 mean (step 5);

and either a fused ``scale_statistics(x, y, window, c1, c2, index_map, only_cs)``
or the two primitives from which :func:`scale_statistics` below builds it
(an engine may also fuse steps 4 and 5 of all scales, as
``pyramid_statistics(x, y, window, c1, c2, levels, power_factors=None)``,
returning statistics with a scales axis before the channels, or None, and
given ``power_factors``, step 6's product of powers of each channel too
(``[..., C]``, first); and that product alone, ``prod(power(x, w), axis)``,
as ``weighted_product(x, w, axis)``):

``filter_valid(x, window)``
    the 2-D gaussian ``window``, VALID, over H and W of ``[..., H, W, C]``;
``mean_hw(x, dims)``
    the mean over H and W (step 4).

Volumes (``spatial_dims=3``, ``[..., D, H, W, C]``) take the same steps with
one more spatial axis: ``dims`` is 3, the window is the 3-D gaussian (the
outer product of the same taps, ``window.ndim == 3``), and the means and
halvings are over D, H and W.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from msssim import _conventions, _dask, _validate
from msssim._conventions import Convention
from msssim._dask import is_dask
from msssim._engines import check_numerics, engine_for
from msssim._window import spread

MSSSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
"""Power factors of Wang, Simoncelli & Bovik (2003), as TensorFlow uses them."""


# Step 2: dtypes, as TF's ``convert_image_dtype(x, float32)``.
def image_scale(dtype: np.dtype) -> np.float32:
    """The factor that maps an image of ``dtype`` onto TF's float32 range.

    Integers are divided by their dtype's maximum (uint8 by 255, int16 by 32767);
    floats are cast without rescaling.
    """
    if dtype.kind in "iu":
        return np.float32(1.0 / np.iinfo(dtype).max)
    return np.float32(1.0)


def float32_max_val(max_val: float, dtype: np.dtype) -> float:
    """``max_val`` cast to the image dtype, then converted like the image."""
    if dtype.kind in "iu":
        return float(np.float32(int(max_val)) * image_scale(dtype))
    return float(np.float32(np.asarray(max_val).astype(dtype)))


# Step 4: one scale.
def luminance_cs(mu_x, mu_y, filtered_sq, filtered_xy, c1, c2):
    """Luminance and contrast-structure terms, elementwise.

    ``filtered_sq`` is ``f(x² + y²)`` and ``filtered_xy`` is ``f(x·y)``; the
    compensation factor is 1.0, as in TF and Wang's MATLAB code.
    """
    num0 = mu_x * mu_y * 2.0
    den0 = mu_x * mu_x + mu_y * mu_y
    luminance = (num0 + c1) / (den0 + c1)
    cs = (filtered_xy * 2.0 - num0 + c2) / (filtered_sq - den0 + c2)
    return luminance, cs


class ScaleStatistics(NamedTuple):
    """Per-channel means of one scale, shaped ``[..., C]``."""

    ssim: Any
    cs: Any
    luminance: Any
    index_map: Any = None  # ``luminance * cs`` per pixel, ``[..., H', W', C]``


def means_statistics(means) -> ScaleStatistics:
    """The fused kernels' means ``[..., C, levels, 3]`` (SSIM, cs, luminance)
    as statistics ``[..., levels, C]``, for channels-last arrays (CuPy's, JAX's)."""
    return ScaleStatistics(*(means[..., term].swapaxes(-1, -2) for term in range(3)))


def scale_statistics(engine, x, y, window, c1, c2, index_map=False, only_cs=False) -> ScaleStatistics:
    """SSIM, cs and luminance of one scale, averaged over H and W (step 4); with
    ``only_cs`` an engine may leave out the other two."""
    fused = getattr(engine, "scale_statistics", None)
    if fused is not None:
        return fused(x, y, window, c1, c2, index_map=index_map, only_cs=only_cs)
    return filtered_statistics(engine, x, y, window, c1, c2, index_map)


def filtered_statistics(engine, x, y, window, c1, c2, index_map=False) -> ScaleStatistics:
    """Step 4 from the engine's ``filter_valid`` and ``mean_hw``, in the dtype of ``x``."""
    dims = window.ndim

    def blur(a):
        return engine.filter_valid(a, window)

    mu_x, mu_y = blur(x), blur(y)
    luminance, cs = luminance_cs(mu_x, mu_y, blur(x * x + y * y), blur(x * y), c1, c2)
    ssim_map = luminance * cs
    return ScaleStatistics(
        ssim=engine.mean_hw(ssim_map, dims),
        cs=engine.mean_hw(cs, dims),
        luminance=engine.mean_hw(luminance, dims),
        index_map=ssim_map if index_map else None,
    )


@dataclass(frozen=True)
class MultiScaleParts:
    """The terms MS-SSIM is made of, per channel, before the power and product.

    Attributes
    ----------
    ms_ssim : ndarray, shape ``[...]``
        The MS-SSIM value, as :func:`ssim_multiscale` returns it.
    cs : ndarray, shape ``[..., scales, C]``
        ``relu(mean cs)`` of every scale, finest first. MS-SSIM uses all but the
        last.
    ssim : ndarray, shape ``[..., C]``
        ``relu(mean SSIM)`` of the coarsest scale.
    luminance : ndarray, shape ``[..., C]``
        The mean luminance term of the coarsest scale.
    power_factors : tuple of float
        The exponents, one per scale.

    Notes
    -----
    ``ms_ssim == mean over C of prod(cs[..., :-1, :] ** w[:-1]) * ssim ** w[-1]``.
    """

    ms_ssim: np.ndarray
    cs: np.ndarray
    ssim: np.ndarray
    luminance: np.ndarray
    power_factors: tuple[float, ...]


@dataclass(frozen=True)
class Constants:
    """Step 4's ``c1`` and ``c2``: TF's float32 ``(k·max_val)²`` (``fixed``);
    or, with torchmetrics' ``data_range=None`` (no ``fixed``), ``(k·R)²`` of
    the images' own range ``R`` at each scale, over the whole batch; and the
    ``(min, max)`` the images are clamped to first (its ``data_range`` tuple)."""

    fixed: tuple | None
    k: tuple[float, float]
    bounds: tuple[float, float] | None = None

    def at(self, eng, x, y) -> tuple:
        """``(c1, c2)`` for the scale of ``x`` and ``y``."""
        if self.fixed is not None:
            return self.fixed
        extent = eng.data_range(x, y)
        return tuple((k * extent) ** 2 for k in self.k)

    def clamped(self, eng, x, y) -> tuple:
        """The images clamped to ``bounds``, if any."""
        if self.bounds is None:
            return x, y
        return tuple(_on_arrays(eng, a, lambda v: eng.clip(v, *self.bounds)) for a in (x, y))


def _layout(eng, dims: int) -> tuple[tuple[int, ...], int]:
    """The spatial axes and the channel axis of the engine's arrays:
    ``[..., *spatial, C]``, or with ``CHANNELS_FIRST``, ``[..., C, *spatial]``."""
    if getattr(eng, "CHANNELS_FIRST", False):
        return tuple(range(-dims, 0)), -dims - 1
    return tuple(range(-dims - 1, -1)), -1


def _prepare(
    img1, img2, max_val, filter_size, filter_sigma, k1, k2, levels, channel_axis, engine, numerics, threads, conv, dims
):
    """Steps 1-3: validated float32 images (``dims`` spatial axes), the window
    and the constants; the engine, and the NumPy engine of the same numerics
    (``host``); the images whose pixels are still to be checked for NaN and
    Inf, if the score is not finite (``_validate.finite_result``). ``levels``
    is None for SSIM."""
    dims = _validate.spatial_dims(dims)
    eng, host = engine_for(img1, img2, engine, numerics, dims)
    x, y = given = eng.arrays(img1, img2) if hasattr(eng, "arrays") else (img1, img2)
    meta_x, meta_y = _validate.images(eng.meta(x), eng.meta(y), channel_axis, dims)
    if numerics == "tensorflow-cpu" and meta_x.dtype.kind in "iu" and meta_x.dtype.itemsize == 8:
        msg = (
            f"numerics='tensorflow-cpu' takes integer images of up to 32 bits, not {meta_x.dtype}: TF's own "
            "conversion of 64-bit integers to float32 leaves scores that mean nothing (0 for a uint64 pair the "
            "formula scores 0.98), which msssim does not repeat; use numerics='exact'"
        )
        raise ValueError(msg)
    if hasattr(eng, "arrays"):  # a framework's tensors: the same move, on them, into the engine's form
        channel = _layout(eng, dims)[1]
        x, y = eng.moveaxis(x, channel_axis, channel), eng.moveaxis(y, channel_axis, channel)
    else:
        x, y = meta_x, meta_y
    _validate.threads(threads)
    max_val, bounds = _conventions.data_range(conv, max_val)  # None: the images' range (torchmetrics)
    _validate.parameters(1 if max_val is None else max_val, filter_size, filter_sigma, k1, k2)
    if max_val is not None:
        max_val = _validate.scalar(max_val, "max_val")  # a 0-d tensor of any library, as a number
        _validate.max_val_fits(max_val, meta_x.dtype)
    size = _conventions.window_size(conv, int(filter_size), float(filter_sigma), levels)
    _validate.size(meta_x.shape, size, levels or 1, dims)
    _conventions.check(conv, meta_x.shape, size, float(filter_sigma), levels or 1, dims)
    # NaN and Inf pixels. The NumPy engines and torch's carry them through to
    # the score, so the pixels are searched only if the score is not finite
    # (saving a pass over the images, and, on a GPU, a wait for it); another
    # framework's clamp could hide them, so they are searched first.
    # (a bad pixel is named at its index in the array given, not in the engine's layout)
    given = given if hasattr(eng, "arrays") else [np.moveaxis(a, -1, channel_axis) for a in (meta_x, meta_y)]
    unchecked = ((given[0], "img1"), (given[1], "img2"))
    if hasattr(eng, "arrays") and not getattr(eng, "CARRIES_NAN", False):
        for arr, name in unchecked:
            _validate.finite(eng, arr, name)
        unchecked = ()
    constants = Constants(None, (float(k1), float(k2)))
    if bounds is not None:
        bounds = tuple(float32_max_val(v, meta_x.dtype) for v in bounds)
    if max_val is not None:
        max_val = np.float32(float32_max_val(max_val, meta_x.dtype))
        with np.errstate(over="ignore", under="ignore"):
            c1, c2 = ((np.float32(k) * max_val) ** 2 for k in (k1, k2))  # float32, as TF
        if conv.sample_covariance:  # scikit-image's N / (N - 1) on the variances, as c2's (N - 1) / N
            c2 = np.float32(float(c2) * _conventions.c2_factor(conv, size, dims))
        _validate.constants(c1, c2, k1, k2, max_val)
        constants = Constants((c1, c2), constants.k, bounds)
    x = eng.convert_image(x, image_scale(meta_x.dtype))
    y = eng.convert_image(y, image_scale(meta_y.dtype))
    # Step 3: the window, the normalised 2-D gaussian: exact (float64), or
    # rounded as TF's softmax rounds it (msssim._window), or as the convention's
    # library rounds its taps; for volumes, the same taps along D too.
    window = _conventions.window(conv, size, float(filter_sigma))
    if window is None:
        window = host.make_window(size, float(filter_sigma))
    return eng, host, x, y, spread(window, dims), constants, unchecked


def _ssim_term(eng, x, y, stats: ScaleStatistics, window, c1, c2, conv: Convention, index_map=False):
    """The SSIM term of the images' scale (per channel; or its map): the mean
    of ``stats`` (the VALID statistics), or with torchmetrics' convention, that
    of the full-size map of the images reflect-padded by the window's radius."""
    if not conv.reflect_ssim:
        return stats.index_map if index_map else stats.ssim
    axes, radius = _layout(eng, window.ndim)[0], len(window) // 2
    padded = (_on_arrays(eng, a, lambda v: _conventions.reflect_pad(v, radius, eng.concat, axes)) for a in (x, y))
    full = scale_statistics(eng, *padded, window, c1, c2, index_map=index_map)
    return full.index_map if index_map else full.ssim


def _on_arrays(eng, x, function):
    """``function`` of the engine's array ``x`` (an engine that keeps its own
    form, such as the exact Numba engine's levels, converts to and from it)."""
    transform = getattr(eng, "transform", None)
    return transform(x, function) if transform else function(x)


def _downsample(eng, x, conv: Convention, dims: int):
    """Step 5: odd sizes made even as the convention does (TF: the symmetric
    pad, within ``downsample_2x``), then 2x2 (2x2x2) means."""
    if conv.pooling != "tensorflow":
        axes = _layout(eng, dims)[0]
        x = _on_arrays(eng, x, lambda a: _conventions.pool_ready(a, conv.pooling, eng.concat, axes))
    return eng.downsample_2x(x, dims)


def _scales(eng, x, y, window, constants: Constants, conv: Convention, levels: int) -> tuple:
    """Steps 4 and 5 over the scales: every scale's cs, ``[..., scales, C]``
    (finest first), the last scale's statistics, its images as scored, and
    its ``(c1, c2)``. An engine's ``pyramid_statistics`` (the GPU kernels)
    takes all scales at once where step 5 is TF's and the constants are fixed."""
    pyramid = getattr(eng, "pyramid_statistics", None)
    if pyramid is not None and _pyramid_fused(conv, constants):
        stats = pyramid(x, y, window, *constants.fixed, levels)
        if stats is not None:  # (the images, for _ssim_term, are unread without reflect_ssim)
            return stats.cs, ScaleStatistics(*(t[..., -1, :] for t in stats[:3])), (x, y), constants.fixed
    if window.dtype == np.float64 and hasattr(eng, "as_float64"):
        # A framework computes in the window's dtype, its coarser scales too: stored in
        # float32 they moved the gradients of near-identical images by 1e-3.
        x, y = eng.as_float64(x), eng.as_float64(y)
    scales = []
    for level in range(levels):
        if level:  # Step 5: downsample before every scale but the first.
            x, y = _downsample(eng, x, conv, window.ndim), _downsample(eng, y, conv, window.ndim)
        scored = constants.clamped(eng, x, y)  # (torchmetrics clamps each scale, and pools the unclamped)
        c1, c2 = constants.at(eng, *scored)
        scales.append(scale_statistics(eng, *scored, window, c1, c2, only_cs=level < levels - 1))
    return eng.stack([s.cs for s in scales], axis=-2), scales[-1], scored, (c1, c2)


def _float64_mode(eng, window):
    """The engine's float64 mode while :func:`_scales` keeps the scales in
    float64 (JAX's is off by default: its ops would round them to float32)."""
    mode = getattr(eng, "float64_mode", None)
    return mode() if mode is not None and window.dtype == np.float64 else nullcontext()


def _pyramid_fused(conv: Convention, constants: Constants) -> bool:
    """Whether an engine's fused scales can score these: TF's step 5, fixed
    constants, no clamp, the SSIM term over VALID."""
    return (
        conv.pooling == "tensorflow"
        and constants.fixed is not None
        and constants.bounds is None
        and not conv.reflect_ssim
    )


def _weighted_product(eng, x, exponents, axis: int):
    """Step 6's product of the terms to their powers along ``axis``: the
    engine's fused one, or its ``power`` and ``prod``."""
    fused = getattr(eng, "weighted_product", None)
    return fused(x, exponents, axis) if fused else eng.prod(eng.power(x, exponents), axis=axis)


@contextmanager
def _running(engine, threads: int | None):
    """The engine's session (threads, precision) in force, numeric warnings off
    (overflow in wild inputs is reported once, by ``_validate.finite_result``)."""
    session = getattr(engine, "session", None)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        with session(threads) if session else nullcontext():
            yield


def _computed(engine, host, steps, x, y, numerics: str, threads: int | None, dims: int) -> tuple:
    """``steps(engine, x, y)``, the arrays of steps 4-6, in the engine's session.

    A framework (torch, JAX, CuPy) takes its *values* from the NumPy engine of
    the same numerics (``host``) on the CPU, where the fused kernels are
    fastest, and with ``"tensorflow-cpu"`` everywhere (TF-CPU's digits exist
    only there); its *gradients* come from its own ops in the mode's precision
    (``engine.exact_values``).
    """
    exact_values = getattr(engine, "exact_values", None)
    if exact_values is None:
        with _running(engine, threads):
            return steps(engine, x, y)

    channel = _layout(engine, dims)[1]

    def on_host(host_x, host_y):  # NumPy arrays in the engine's form
        host_x, host_y = (np.moveaxis(a, channel, -1) for a in (host_x, host_y))
        with _running(host, threads):
            return steps(host, host.convert_image(host_x, np.float32(1)), host.convert_image(host_y, np.float32(1)))

    with _running(engine, threads):
        return exact_values(on_host, lambda a, b: steps(engine, a, b), x, y, numerics == "tensorflow-cpu")


def ssim_multiscale_parts(
    img1,
    img2,
    max_val: float,
    power_factors: Sequence[float] = MSSSIM_WEIGHTS,
    filter_size: int = 11,
    filter_sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    *,
    channel_axis: int = -1,
    spatial_dims: int = 2,
    numerics: str = "exact",
    convention: str = "tensorflow",
    engine: str | None = None,
    threads: int | None = None,
) -> MultiScaleParts:
    """MS-SSIM together with its per-channel, per-scale terms.

    Takes the arguments of :func:`ssim_multiscale` (NumPy arrays only); returns
    a :class:`MultiScaleParts`.
    """
    if is_dask(img1) or is_dask(img2):
        msg = "ssim_multiscale_parts takes NumPy arrays; call .compute() on the Dask arrays first."
        raise TypeError(msg)
    conv = _conventions.convention(convention, numerics)
    weights = _conventions.weights(conv, _validate.power_factors(power_factors), MSSSIM_WEIGHTS)
    levels = len(weights)
    eng, host, x, y, window, constants, unchecked = _prepare(
        img1,
        img2,
        max_val,
        filter_size,
        filter_sigma,
        k1,
        k2,
        levels,
        channel_axis,
        engine,
        numerics,
        threads,
        conv,
        spatial_dims,
    )

    def steps(eng, x, y):
        pyramid = getattr(eng, "pyramid_statistics", None)
        if pyramid is not None and _pyramid_fused(conv, constants) and not conv.channel_mean_first:
            fused = pyramid(x, y, window, *constants.fixed, levels, weights)  # steps 4-6 in the engine's kernels
            if fused is not None:
                products, stats = fused  # (each channel's product of its terms to their powers)
                last = [t[..., -1, :] for t in stats[:3]]
                return eng.mean(products, axis=-1), eng.relu(stats.cs), eng.relu(last[0]), eng.float32(last[2])
        with _float64_mode(eng, window):
            cs, stats, scored, (c1, c2) = _scales(eng, x, y, window, constants, conv, levels)  # cs: [..., scales, C]
            last_ssim = _ssim_term(eng, *scored, stats, window, c1, c2, conv)
        # Step 6: relu, power, product over scales, mean over channels.
        final_ssim = eng.relu(last_ssim)
        relu_cs = eng.relu(cs)
        if conv.channel_mean_first:  # torchmetrics: the channels' mean of each term, relu'd, to the power
            terms = eng.concat([eng.mean(cs, axis=-1)[..., :-1], eng.mean(last_ssim, axis=-1)[..., None]], axis=-1)
            terms = (terms + 1) / 2 if conv.normalize == "simple" else eng.relu(terms)
            ms_ssim = _weighted_product(eng, terms, list(weights), axis=-1)
        else:
            terms = eng.concat([relu_cs[..., :-1, :], final_ssim[..., None, :]], axis=-2)
            exponents = [[w] for w in weights]  # one per scale, broadcast over channels
            ms_ssim = eng.mean(_weighted_product(eng, terms, exponents, axis=-2), axis=-1)
        return ms_ssim, relu_cs, final_ssim, eng.float32(stats.luminance)

    ms_ssim, cs, final_ssim, luminance = _computed(eng, host, steps, x, y, numerics, threads, window.ndim)
    return MultiScaleParts(
        ms_ssim=_validate.finite_result(eng, ms_ssim, unchecked, terms=cs),
        cs=cs,
        ssim=final_ssim,
        luminance=luminance,
        power_factors=weights,
    )


def ssim_multiscale(
    img1,
    img2,
    max_val: float,
    power_factors: Sequence[float] = MSSSIM_WEIGHTS,
    filter_size: int = 11,
    filter_sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    *,
    channel_axis: int = -1,
    spatial_dims: int = 2,
    numerics: str = "exact",
    convention: str = "tensorflow",
    engine: str | None = None,
    threads: int | None = None,
) -> np.ndarray:
    """Multi-scale structural similarity: ``tf.image.ssim_multiscale``'s formula, exactly.

    Parameters
    ----------
    img1, img2 : array_like, shape ``[..., H, W, C]``
        Image batches. The last three dims must be equal; the leading dims must
        broadcast. Dask arrays (chunked along the batch dims only) give a lazy
        Dask array, each block scored by the engine. Integer images are scaled by their dtype's maximum, floats are
        used as they are (TF's ``convert_image_dtype``).
    max_val : float
        The dynamic range of the images (255 for uint8, 1.0 for [0, 1] floats).
        It is cast to ``img1``'s dtype and converted like the images, so uint8
        images with ``max_val=255`` are scored as floats in [0, 1]. With
        ``convention="torchmetrics"`` it may also be its ``data_range``'s
        ``None`` (the larger of the two batches' ranges, at each scale) or
        ``(min, max)`` (each scale's images clamped to it).
    power_factors : sequence of float, optional
        One exponent per scale, finest first; not renormalised. One factor gives
        single-scale SSIM (relu'd, to that power).
    filter_size : int, optional
        Width of the gaussian window, in pixels.
    filter_sigma : float, optional
        Standard deviation of the gaussian window.
    k1, k2 : float, optional
        Constants of the luminance and contrast terms.
    channel_axis : int, keyword-only
        Axis of the channels. ``-3`` reads ``[..., C, H, W]`` arrays with the
        same result as their transpose.
    spatial_dims : {2, 3}, keyword-only
        ``3`` scores volumes ``[..., D, H, W, C]`` (CT, MRI, microscopy
        stacks): the 3-D gaussian (the same taps along D, H and W), VALID,
        and 2x2x2 means between scales with odd sizes padded as in 2-D; the
        formula is otherwise the same. Exact numerics only; every side needs
        the minimum size of 2-D images.
    numerics : {"exact", "tensorflow-cpu"}, keyword-only
        ``"exact"`` (the default): TF's formula (every step above, TF's
        conversions and padding) evaluated within 1e-6 of float64 (for pixels
        within 10x ``max_val`` of 0), the same number for every array library
        on the CPU and the GPU.
        ``"tensorflow-cpu"``: TF-CPU's own float32 rounding of it, within 1e-5
        of ``tf.image`` on the CPU (its multi-channel means are sequential
        float32 sums, ~1e-3 off on 1080p colour); GPU arrays are copied to the
        host for it.
    convention : {"tensorflow", "pytorch-msssim", "piq", "torchmetrics", "scikit-image"}, keyword-only
        Whose MS-SSIM: ``"tensorflow"`` (the default) is TF's. The others
        are those libraries' values for the same images and arguments
        (``max_val`` is their ``data_range``), computed exactly like TF's
        (``numerics="exact"`` only). pytorch-msssim (``ms_ssim``, ``ssim``):
        odd sizes pooled with a zero row/column before the first, counted in
        the mean; its window's taps rounded to float32. piq
        (``multi_scale_ssim``, ``ssim``): odd sizes pooled after repeating
        the first row and column; power factors other than the default
        divided by their sum; ``ssim`` first averages f x f blocks, f =
        ``round(min(H, W) / 256)``. torchmetrics
        (``multiscale_structural_similarity_index_measure``,
        ``structural_similarity_index_measure``): odd sizes pooled rounding
        down; each scale's terms averaged over channels before the power;
        the SSIM term over the reflect-padded full map. scikit-image
        (``structural_similarity``, for :func:`ssim` only): its defaults, a
        7x7 uniform window and sample covariances. Some of a library's own
        arguments may follow its name: ``"pytorch-msssim:nonnegative_ssim=true"``,
        ``"torchmetrics:normalize=simple"``,
        ``"torchmetrics:gaussian_kernel=false"`` (a uniform window of
        ``filter_size``), ``"scikit-image:win_size=5"``,
        ``"scikit-image:gaussian_weights=true"``,
        ``"scikit-image:use_sample_covariance=false"``. The README maps each
        library's arguments onto these.
    engine : str, keyword-only
        For NumPy input: ``"numba"`` (fused multi-threaded kernels, the
        default) or ``"reference"`` (plain NumPy, the readable specification:
        float64 for ``"exact"``, TF's float32 steps for ``"tensorflow-cpu"``).
        Framework tensors are scored by their framework.
    threads : int, keyword-only
        Threads for the Numba kernels (which also value torch and JAX
        tensors on the CPU); ``None`` uses Numba's setting
        (``NUMBA_NUM_THREADS``, by default every core). Calls from several
        threads at once run one after another, so cores are never
        oversubscribed.

    Returns
    -------
    ndarray of float32, shape ``broadcast(img1.shape[:-3], img2.shape[:-3])``
        One value in [0, 1] per image; 0-d for a single pair.

    Raises
    ------
    ValueError
        Shapes that do not match or broadcast, images smaller than
        ``(filter_size - 1) * 2**(len(power_factors) - 1) + 1`` pixels a side,
        non-finite pixels, and parameters out of range.
    TypeError
        Complex, bool, object or string images.

    References
    ----------
    Z. Wang, E. P. Simoncelli and A. C. Bovik, "Multiscale structural similarity
    for image quality assessment", Asilomar Conference on Signals, Systems and
    Computers, 2003.

    Examples
    --------
    >>> import numpy as np, msssim
    >>> rng = np.random.default_rng(0)
    >>> a = rng.integers(0, 256, (176, 176, 3), dtype=np.uint8)
    >>> float(msssim.ssim_multiscale(a, a, 255))
    1.0
    """
    if is_dask(img1) or is_dask(img2):
        return _dask.score(
            ssim_multiscale,
            img1,
            img2,
            max_val,
            len(_validate.power_factors(power_factors)),
            power_factors,
            filter_size=filter_size,
            filter_sigma=filter_sigma,
            k1=k1,
            k2=k2,
            channel_axis=channel_axis,
            spatial_dims=spatial_dims,
            numerics=numerics,
            convention=convention,
            engine=engine,
            threads=threads,
        )
    return ssim_multiscale_parts(
        img1,
        img2,
        max_val,
        power_factors,
        filter_size,
        filter_sigma,
        k1,
        k2,
        channel_axis=channel_axis,
        spatial_dims=spatial_dims,
        numerics=numerics,
        convention=convention,
        engine=engine,
        threads=threads,
    ).ms_ssim


def ssim(
    img1,
    img2,
    max_val: float,
    filter_size: int = 11,
    filter_sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    return_index_map: bool = False,
    *,
    channel_axis: int = -1,
    spatial_dims: int = 2,
    numerics: str = "exact",
    convention: str = "tensorflow",
    engine: str | None = None,
    threads: int | None = None,
) -> np.ndarray:
    """Structural similarity: ``tf.image.ssim``'s formula, exactly.

    Takes the arguments of :func:`ssim_multiscale` (without ``power_factors``).
    The result is not clamped: SSIM lies in [-1, 1].

    Returns
    -------
    ndarray of float32
        Shape ``broadcast(img1.shape[:-3], img2.shape[:-3])``, or with
        ``return_index_map=True`` the per-pixel map averaged over channels,
        shape ``[..., H - filter_size + 1, W - filter_size + 1]`` (volumes:
        ``[..., D - filter_size + 1, H - ..., W - ...]``).
    """
    if is_dask(img1) or is_dask(img2):
        return _dask.score(
            ssim,
            img1,
            img2,
            max_val,
            1,
            filter_size=filter_size,
            filter_sigma=filter_sigma,
            k1=k1,
            k2=k2,
            channel_axis=channel_axis,
            spatial_dims=spatial_dims,
            index_map=return_index_map,
            numerics=numerics,
            convention=convention,
            engine=engine,
            threads=threads,
        )
    conv = _conventions.convention(convention, numerics)
    eng, host, x, y, window, constants, unchecked = _prepare(
        img1,
        img2,
        max_val,
        filter_size,
        filter_sigma,
        k1,
        k2,
        None,
        channel_axis,
        engine,
        numerics,
        threads,
        conv,
        spatial_dims,
    )
    axes = _layout(eng, window.ndim)[0]
    factor = _conventions.ssim_factor(conv, int(x.shape[axes[0]]), int(x.shape[axes[1]]))

    def steps(eng, x, y):
        if factor > 1:  # piq (images only): f x f block means first
            axes = _layout(eng, 2)[0]
            x, y = (_on_arrays(eng, a, lambda v: _conventions.block_mean(v, factor, axes)) for a in (x, y))
        x, y = constants.clamped(eng, x, y)
        c1, c2 = constants.at(eng, x, y)
        if conv.reflect_ssim:
            per_channel = _ssim_term(eng, x, y, None, window, c1, c2, conv, index_map=return_index_map)
        else:
            stats = scale_statistics(eng, x, y, window, c1, c2, index_map=return_index_map)
            per_channel = stats.index_map if return_index_map else stats.ssim
        if conv.nonnegative_ssim and not return_index_map:  # pytorch-msssim's option: each channel's relu'd
            per_channel = eng.relu(per_channel)
        return (eng.mean(per_channel, axis=-1),)

    (value,) = _computed(eng, host, steps, x, y, numerics, threads, window.ndim)
    return _validate.finite_result(eng, value, unchecked)


@dataclass(frozen=True)
class LossParameters:
    """The parameters a loss module holds (``msssim.torch``, ``msssim.keras``),
    and ``1 - MS-SSIM`` per image with them."""

    max_val: float
    power_factors: tuple[float, ...]
    filter_size: int
    filter_sigma: float
    k1: float
    k2: float
    channel_axis: int
    numerics: str = "exact"
    convention: str = "tensorflow"
    spatial_dims: int = 2

    def __post_init__(self):
        """Checked when the loss is made, not at its first call; a 0-d tensor
        ``max_val`` kept as a number (a saved Keras model's config holds it)."""
        check_numerics(self.numerics)
        conv = _conventions.convention(self.convention, self.numerics)
        extent, _ = _conventions.data_range(conv, self.max_val)
        _validate.parameters(1 if extent is None else extent, self.filter_size, self.filter_sigma, self.k1, self.k2)
        if extent is not None and extent is self.max_val:
            object.__setattr__(self, "max_val", _validate.scalar(self.max_val, "max_val"))
        object.__setattr__(self, "power_factors", _validate.power_factors(self.power_factors))
        _validate.spatial_dims(self.spatial_dims)

    def loss(self, prediction, target):
        score = ssim_multiscale(
            prediction,
            target,
            self.max_val,
            self.power_factors,
            self.filter_size,
            self.filter_sigma,
            self.k1,
            self.k2,
            channel_axis=self.channel_axis,
            spatial_dims=self.spatial_dims,
            numerics=self.numerics,
            convention=self.convention,
        )
        return 1 - score

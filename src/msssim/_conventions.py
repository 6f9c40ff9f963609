"""Other libraries' MS-SSIM, as the steps of TF's in which they differ
(numerics.md, "Why other libraries give other numbers").

A :class:`Convention` names those differences; :mod:`msssim._ssim` applies
them and computes the rest as for TF, exactly. ``"tensorflow"`` is the default
and changes nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class Convention:
    """How a library departs from TF's formula."""

    name: str
    # Step 5, odd sizes: "tensorflow" repeats the last row/column (TF's
    # symmetric pad); "zero-before" puts a zero row/column before the first
    # and counts it in the mean (pytorch-msssim's avg_pool padding);
    # "replicate-before" repeats the first row and column when either size
    # is odd, then drops a last odd row/column (piq); "floor" drops a last
    # odd row/column (torchmetrics' avg_pool).
    pooling: str = "tensorflow"
    # Step 3: "float32": the 1-D taps computed and normalised in float32, as
    # pytorch-msssim builds them whatever the images' dtype.
    taps: str = "exact"
    # piq divides power factors other than the default by their sum.
    normalised_weights: bool = False
    # piq's ssim first averages f x f blocks, f = round(min(H, W) / 256).
    ssim_downsampled: bool = False
    # torchmetrics: the window has int(3.5σ + 0.5)·2 + 1 taps, whatever the
    # kernel size says; each scale's terms are means over channels and pixels
    # together, relu'd (or with normalize="simple", (t + 1) / 2), before the
    # power; the SSIM term (the last scale's, and single-scale SSIM) is the
    # mean of the full-size map of the images reflect-padded by the window's
    # radius, the cs terms over VALID. Its data_range may be None (the
    # images' range, per scale) or (min, max) (the images clamped to it).
    taps_from_sigma: bool = False
    channel_mean_first: bool = False
    reflect_ssim: bool = False
    normalize: str = "relu"
    estimated_range: bool = False
    # "uniform": a box window of ``uniform_size`` (0: filter_size) taps a side
    # (scikit-image's default, 7; torchmetrics' gaussian_kernel=False); and
    # scikit-image's sample (co)variances, N / (N - 1) times the window's
    # (N = taps ** dims), which is c2 times (N - 1) / N; SSIM only.
    window: str = "gaussian"
    uniform_size: int = 0
    sample_covariance: bool = False
    ssim_only: bool = False
    # pytorch-msssim's ssim(nonnegative_ssim=True): each channel's SSIM relu'd.
    nonnegative_ssim: bool = False


CONVENTIONS = {
    c.name: c
    for c in (
        Convention("tensorflow"),
        Convention("pytorch-msssim", pooling="zero-before", taps="float32"),
        Convention("piq", pooling="replicate-before", normalised_weights=True, ssim_downsampled=True),
        Convention(
            "torchmetrics",
            pooling="floor",
            taps_from_sigma=True,
            channel_mean_first=True,
            reflect_ssim=True,
            estimated_range=True,
        ),
        Convention("scikit-image", window="uniform", uniform_size=7, sample_covariance=True, ssim_only=True),
    )
}


def _flag(text: str) -> bool:
    if text.lower() not in ("true", "false", "1", "0"):
        raise ValueError(f"expected true or false, got {text!r}")
    return text.lower() in ("true", "1")


def _odd_size(text: str) -> int:
    if not text.isdigit() or int(text) < 3 or int(text) % 2 == 0:
        raise ValueError(f"expected an odd whole number >= 3, got {text!r}")
    return int(text)


def _normalize(text: str) -> str:
    if text not in ("relu", "simple"):
        raise ValueError(
            f"expected relu or simple, got {text!r} (normalize=None raises negative terms to fractional powers: NaN)"
        )
    return text


# Each library's own arguments that change its numbers, as ``convention=``
# takes them ("torchmetrics:normalize=simple"), and the Convention fields
# each value sets.
OPTIONS = {
    "pytorch-msssim": {"nonnegative_ssim": (_flag, lambda on: {"nonnegative_ssim": on})},
    "torchmetrics": {
        "normalize": (_normalize, lambda how: {"normalize": how}),
        "gaussian_kernel": (
            _flag,
            lambda on: {} if on else {"window": "uniform", "taps_from_sigma": False},
        ),
    },
    "scikit-image": {
        "win_size": (_odd_size, lambda n: {"uniform_size": n}),
        "gaussian_weights": (
            _flag,
            lambda on: {"window": "gaussian", "uniform_size": 0, "taps_from_sigma": True} if on else {},
        ),
        "use_sample_covariance": (_flag, lambda on: {"sample_covariance": on}),
    },
}


def convention(spec: str, numerics: str) -> Convention:
    """The convention ``spec`` names: a library, optionally with some of its
    own arguments, ``"name:argument=value:..."`` (:data:`OPTIONS`); another
    library's needs exact numerics."""
    if not isinstance(spec, str):
        msg = f"convention must be a string such as 'torchmetrics' or 'torchmetrics:normalize=simple', got {spec!r}"
        raise TypeError(msg)
    return _parsed(spec, numerics) if isinstance(numerics, str) else _parsed.__wrapped__(spec, numerics)


@functools.lru_cache(maxsize=64)
def _parsed(spec: str, numerics: str) -> Convention:
    """:func:`convention` of a string, once a spec (a call's host time; errors are not cached)."""
    name, *settings = spec.split(":")
    if name not in CONVENTIONS:
        msg = f"convention must be one of {', '.join(map(repr, CONVENTIONS))}, got {name!r}"
        raise ValueError(msg)
    if name != "tensorflow" and numerics != "exact":
        msg = (
            f"convention={name!r} is computed with exact numerics only (TF-CPU's digits are TF's alone); "
            f"numerics={numerics!r} was asked for"
        )
        raise ValueError(msg)
    fields: dict = {}
    known = OPTIONS.get(name, {})
    for setting in settings:
        key, _, value = setting.partition("=")
        if key not in known:
            takes = f"takes {', '.join(known)}" if known else "takes no arguments"
            msg = f"convention {name!r} {takes}; got {setting!r} in {spec!r}"
            raise ValueError(msg)
        parse, sets = known[key]
        try:
            fields.update(sets(parse(value)))
        except ValueError as exc:
            msg = f"convention {spec!r}: {key}: {exc}"
            raise ValueError(msg) from None
    return replace(CONVENTIONS[name], **fields)


def window_size(conv: Convention, filter_size: int, filter_sigma: float, levels: int | None) -> int:
    """The width of the window the convention filters with (``levels``: None
    for single-scale SSIM); an error where its library has no such computation."""
    if conv.ssim_only and levels is not None:
        msg = (
            f"{conv.name} has no MS-SSIM (its structural_similarity is single-scale): use msssim.ssim "
            "(--ssim on the command line)"
        )
        raise ValueError(msg)
    if conv.uniform_size:
        if (filter_size, filter_sigma) != (11, 1.5):
            msg = (
                f"convention={conv.name!r} is structural_similarity with a {conv.uniform_size}x"
                f"{conv.uniform_size} uniform window (win_size={conv.uniform_size}): leave filter_size and "
                "filter_sigma out, and give another size as 'scikit-image:win_size=N' (its gaussian form is "
                "'scikit-image:gaussian_weights=true', and with use_sample_covariance=False it is "
                "convention='tensorflow')"
            )
            raise ValueError(msg)
        return conv.uniform_size
    return filter_size


def window(conv: Convention, size: int, sigma: float):
    """The convention's own 2-D window, float64, or None for the engine's gaussian."""
    if conv.window == "uniform":
        return np.full((size, size), 1.0 / (size * size))
    if conv.taps == "float32":
        taps = float32_taps(size, sigma)
        return np.outer(taps, taps)
    return None


def c2_factor(conv: Convention, size: int, dims: int = 2) -> float:
    """What c2 is multiplied by (the sample covariance's (N - 1) / N, N = size**dims)."""
    count = size**dims
    return (count - 1) / count if conv.sample_covariance else 1.0


def check(conv: Convention, shape, filter_size: int, filter_sigma: float, levels: int, dims: int = 2) -> None:
    """What the convention's library would refuse, or what it would compute
    otherwise than the arguments say; ``shape`` is ``[..., H, W, C]`` (or
    ``[..., D, H, W, C]``, ``dims=3``)."""
    if dims == 3 and conv.name == "piq":
        msg = "piq scores 2-D images only; spatial_dims=3 takes convention 'tensorflow', 'pytorch-msssim', "
        msg += "'torchmetrics' or 'scikit-image'"
        raise ValueError(msg)
    sides = tuple(shape[-dims - 1 : -1])
    if conv.taps_from_sigma:
        taps = int(3.5 * filter_sigma + 0.5) * 2 + 1
        if filter_size != taps:
            msg = (
                f"{conv.name}'s gaussian has int(3.5 * sigma + 0.5) * 2 + 1 = {taps} taps for "
                f"filter_sigma={filter_sigma}, whatever its kernel_size or win_size; pass filter_size={taps}"
            )
            raise ValueError(msg)
    if conv.pooling == "floor":
        coarsest = min(sides) >> (levels - 1)
        if coarsest < filter_size:
            least = filter_size << (levels - 1)
            msg = (
                f"images of {'x'.join(map(str, sides))} pixels are {coarsest} pixels on a side at the coarsest of "
                f"{levels} scales (torchmetrics halves sizes rounding down), less than the {filter_size}-pixel "
                f"window: {conv.name} needs at least {least} pixels a side"
            )
            raise ValueError(msg)


def data_range(conv: Convention, max_val):
    """``(max_val, bounds)``: with a library that takes them (torchmetrics),
    ``max_val=None`` is ``(None, None)``, the images' own range, per scale;
    ``(min, max)`` is ``(max - min, (min, max))``, the images clamped to it;
    a number is ``(max_val, None)``."""
    if max_val is None or isinstance(max_val, (tuple, list)):
        if not conv.estimated_range:
            msg = (
                f"max_val must be a real number (the images' dynamic range, e.g. 1.0 or 255), got {max_val!r}; "
                "None and (min, max) are torchmetrics' data_range, with convention='torchmetrics'"
            )
            raise TypeError(msg)
        if max_val is None:
            return None, None
        if len(max_val) != 2 or not max_val[0] < max_val[1]:
            msg = f"max_val as (min, max) needs min < max, got {max_val!r}"
            raise ValueError(msg)
        low, high = (float(v) for v in max_val)
        return high - low, (low, high)
    return max_val, None


def weights(conv: Convention, power_factors: tuple[float, ...], default: Sequence[float]) -> tuple[float, ...]:
    """The power factors as the library uses them."""
    if conv.normalised_weights and tuple(power_factors) != tuple(default):
        total = sum(power_factors)
        return tuple(w / total for w in power_factors)
    return power_factors


def float32_taps(size: int, sigma: float) -> np.ndarray:
    """pytorch-msssim's window, as float64: ``exp(-d² / 2σ²)`` rounded to
    float32, divided by its float32 sum in float32, as torch computes it (the
    taps sum to 1 within float32 rounding, not exactly; torch's exp may differ
    from this one by an ulp on a tap, 1e-9 here)."""
    d = np.arange(size, dtype=np.float64) - size // 2
    taps = np.exp(-(d**2) / (2 * float(sigma) ** 2)).astype(np.float32)
    total = np.float32(taps.sum(dtype=np.float64))
    return (taps / total).astype(np.float64)


def _along(x, axis: int, part: slice):
    """``x[..., part, ...]`` with ``part`` on ``axis``."""
    index = [slice(None)] * x.ndim
    index[axis] = part
    return x[tuple(index)]


def pool_ready(x, pooling: str, concat, axes: tuple[int, ...] = (-3, -2)):
    """``x`` made even along its image ``axes`` (H, W) as ``pooling`` says, so
    that a 2x2 mean pools it as the library does; ``concat(arrays, axis)`` is
    the array library's concatenation."""
    if pooling == "zero-before":
        for axis in axes:
            if x.shape[axis] % 2:
                x = concat([_along(x, axis, slice(0, 1)) * 0, x], axis)
    elif pooling == "replicate-before" and any(x.shape[axis] % 2 for axis in axes):
        for axis in axes:
            x = concat([_along(x, axis, slice(0, 1)), x], axis)
            x = _along(x, axis, slice(0, x.shape[axis] - x.shape[axis] % 2))
    elif pooling == "floor":
        for axis in axes:
            x = _along(x, axis, slice(0, x.shape[axis] - x.shape[axis] % 2))
    return x


def reflect_pad(x, radius: int, concat, axes: tuple[int, ...] = (-3, -2)):
    """``x`` padded by ``radius`` on every side of its image ``axes``, mirrored
    about the edge pixel (torch's and NumPy's "reflect": ``c b | a b c d | c b``)."""
    for axis in axes:
        size = x.shape[axis]
        before = [_along(x, axis, slice(i, i + 1)) for i in range(radius, 0, -1)]
        after = [_along(x, axis, slice(size - 1 - i, size - i)) for i in range(1, radius + 1)]
        x = concat([*before, x, *after], axis)
    return x


def block_mean(x, factor: int, axes: tuple[int, int] = (-3, -2)):
    """The means of ``factor x factor`` blocks over the image ``axes``, the
    last partial blocks dropped (piq's ``avg_pool2d(kernel_size=factor)``)."""
    for axis in axes:
        x = _along(x, axis, slice(0, x.shape[axis] // factor * factor))
    rows, columns = axes
    total = sum(
        _along(_along(x, rows, slice(i, None, factor)), columns, slice(j, None, factor))
        for i in range(factor)
        for j in range(factor)
    )
    return total / (factor * factor)


def ssim_factor(conv: Convention, height: int, width: int) -> int:
    """piq's single-scale downsampling factor (1: none)."""
    if not conv.ssim_downsampled:
        return 1
    return max(1, round(min(height, width) / 256))

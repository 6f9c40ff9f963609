"""Argument checks. Each error names the argument, what was expected, what was
given, and the way out."""

from __future__ import annotations

import math
import numbers
import sys

import numpy as np

_FLOAT_NAMES = ("bfloat16",)  # float dtypes NumPy knows only through ml_dtypes


def _image_dtype_ok(dtype: np.dtype) -> bool:
    return dtype.kind in "iuf" or dtype.name in _FLOAT_NAMES


def _as_image(img, name: str) -> np.ndarray:
    if isinstance(img, (str, bytes)):
        msg = f"{name} must be an image array, got a {type(img).__name__}; read files with msssim.read_image."
        raise TypeError(msg)
    try:
        arr = np.asarray(img)
    except (ValueError, TypeError) as exc:  # ragged nested lists, odd objects
        msg = f"{name} cannot be read as an array ({exc}); pass an array of shape [..., H, W, C]."
        raise TypeError(msg) from None
    if not _image_dtype_ok(arr.dtype):
        msg = (
            f"{name} has dtype {arr.dtype}; expected an integer or floating image "
            "(uint8, uint16, int8, int16, int32, float16, float32, float64). "
            "Convert it first, e.g. img.astype(np.float32)."
        )
        raise TypeError(msg)
    return arr


def _conversion(dtype: np.dtype) -> str:
    """How TF's ``convert_image_dtype`` brings ``dtype`` to float32, in words."""
    if dtype.kind in "iu":
        return f"divided by {np.iinfo(dtype).max}"
    return "cast as it is"  # every float dtype: a plain cast, no rescaling


def same_conversion(dtype1: np.dtype, dtype2: np.dtype) -> None:
    """Refuse images whose dtypes TF would bring to different ranges.

    Integers are divided by their dtype's maximum and floats are cast, so a
    uint8 image against a float32 one (or uint8 against uint16) would compare
    [0, 1] with whatever range the other holds. Floats of different widths
    (float16, bfloat16, float32, float64) are all a plain cast to float32, on
    the same scale, and are accepted (TF refuses any dtype mismatch; msssim
    takes, e.g., a float16 prediction under ``torch.autocast`` against a
    float32 target).
    """
    how1, how2 = _conversion(dtype1), _conversion(dtype2)
    if how1 == how2:
        return
    if dtype1.kind in "iu" and dtype2.kind in "iu":
        way_out = (
            f"convert both to floats in [0, 1], img1.astype(np.float32) / {np.iinfo(dtype1).max} and "
            f"img2.astype(np.float32) / {np.iinfo(dtype2).max}, and pass max_val=1.0"
        )
    else:
        integer, floating = ("img1", "img2") if dtype1.kind in "iu" else ("img2", "img1")
        top = np.iinfo(dtype1 if integer == "img1" else dtype2)
        way_out = (
            f"if {floating} holds values in [0, {top.max}], convert it, e.g. "
            f"{floating}.astype(np.{top.dtype.name}); if it holds values in [0, 1], divide the other, "
            f"{integer}.astype(np.float32) / {top.max}, and pass max_val=1.0"
        )
    msg = (
        f"img1 ({dtype1}) and img2 ({dtype2}) have dtypes that are converted differently ({dtype1} is "
        f"{how1}, {dtype2} is {how2}), so their values would be compared on different scales (TF raises "
        f"here). Give them the same dtype: {way_out}."
    )
    raise ValueError(msg)


SPATIAL_NAMES = {2: "H, W", 3: "D, H, W"}


def spatial_dims(value) -> int:
    """2 for images ``[..., H, W, C]``, 3 for volumes ``[..., D, H, W, C]``."""
    if isinstance(value, bool) or value not in SPATIAL_NAMES:
        msg = f"spatial_dims must be 2 (images [..., H, W, C]) or 3 (volumes [..., D, H, W, C]), got {value!r}."
        raise ValueError(msg)
    return int(value)


def images(img1, img2, channel_axis: int, dims: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Both images as arrays with channels last: ``[..., H, W, C]``, or
    ``[..., D, H, W, C]`` for volumes (``dims=3``) (step 1)."""
    x, y = _as_image(img1, "img1"), _as_image(img2, "img2")
    same_conversion(x.dtype, y.dtype)
    if not isinstance(channel_axis, numbers.Integral) or isinstance(channel_axis, bool):
        msg = f"channel_axis must be an int, got {channel_axis!r}."
        raise TypeError(msg)
    names, rank = SPATIAL_NAMES[dims], dims + 1
    for arr, name in ((x, "img1"), (y, "img2")):
        if arr.ndim < rank:
            grey = "image" if dims == 2 else "volume"
            msg = (
                f"{name} has shape {arr.shape}; expected rank >= {rank}, [..., {names}, C]. "
                f"Add a channel axis to a grey {grey}, e.g. img[..., None]."
            )
            raise ValueError(msg)
        if not -arr.ndim <= channel_axis < arr.ndim:
            msg = f"channel_axis={channel_axis} is out of range for {name} of rank {arr.ndim}."
            raise ValueError(msg)
    if channel_axis >= 0 and x.ndim != y.ndim:
        msg = (
            f"channel_axis={channel_axis} is ambiguous for images of ranks {x.ndim} and "
            f"{y.ndim}; count it from the end instead, e.g. channel_axis=-3 for [..., C, H, W]."
        )
        raise ValueError(msg)
    x, y = np.moveaxis(x, channel_axis, -1), np.moveaxis(y, channel_axis, -1)
    if x.shape[-rank:] != y.shape[-rank:]:
        what = "height, width" if dims == 2 else "depth, height, width"
        msg = (
            f"img1 and img2 must have the same {what} and channels; got "
            f"{x.shape[-rank:]} and {y.shape[-rank:]} ({names}, C). Crop or resize one of them, "
            "or set channel_axis if the channels are not last."
        )
        raise ValueError(msg)
    try:
        np.broadcast_shapes(x.shape[:-rank], y.shape[:-rank])
    except ValueError:
        msg = (
            f"the leading (batch) dims of img1 {x.shape[:-rank]} and img2 {y.shape[:-rank]} do "
            "not broadcast; give them equal batch dims, or size 1 where one is repeated."
        )
        raise ValueError(msg) from None
    return x, y


# Libraries whose 0-d arrays are numbers, known by the top-level module of their
# types: never imported here (a value of theirs exists only once they are loaded).
_ARRAY_LIBRARIES = frozenset({"torch", "tensorflow", "jax", "jaxlib", "cupy"})


def _number(value, name: str) -> int | float:
    """A real scalar as a Python int or float: a Python or NumPy number, or a 0-d
    array or tensor of NumPy, PyTorch (any device), TensorFlow, JAX or CuPy."""
    if type(value) is float or (type(value) is int and -(2**63) <= value < 2**63):
        return value  # (the common case, as the checks below would return it)
    given = value
    if type(value).__module__.split(".")[0] in _ARRAY_LIBRARIES:
        value = _tensor_value(value, name)
    elif isinstance(value, bool) or not isinstance(value, (numbers.Real, np.ndarray, np.generic)):
        msg = f"{name} must be a real number, got {given!r}."
        raise TypeError(msg)
    arr = np.asarray(value)
    if arr.ndim != 0 or not _image_dtype_ok(arr.dtype):
        msg = f"{name} must be a real number, got {given!r}."
        raise TypeError(msg)
    return int(arr) if arr.dtype.kind in "iu" else float(arr)


def _tensor_value(value, name: str):
    """A framework's 0-d tensor read on the host (``.item()`` copies a CUDA or
    CuPy scalar), or an error that says why it cannot be read."""
    library = type(value).__module__.split(".")[0]
    try:
        rank = len(tuple(value.shape))
    except (AttributeError, TypeError, ValueError):  # no shape; or a symbolic tensor of unknown rank
        rank = None if hasattr(value, "shape") else -1
    if rank is not None and rank != 0:
        msg = f"{name} must be a real number, got {value!r}."
        raise TypeError(msg)
    try:
        read = _tensorflow_value(value) if library == "tensorflow" else value.item()
    except Exception:  # a JAX tracer, a torch.func wrapper, a meta tensor: no value to read
        read = None
    if read is None:
        where = {
            "tensorflow": "a symbolic TensorFlow tensor (inside tf.function)",
            "torch": "a torch tensor without a readable value (e.g. inside torch.func transforms)",
        }.get(library, "a traced JAX value (inside jax.jit, jax.vmap or another transform)")
        plain = "Python floats" if name == "power_factors" else f"a Python float (e.g. {name}=1.0)"
        msg = (
            f"{name} is {where}, and msssim needs its value before scoring; pass {plain} instead: close "
            "over it, or make it a static argument of the traced function."
        )
        error = TypeError(msg)  # a plain TypeError: tf.function re-raises those as they are
        error.traced = True
        raise error
    return read


def _tensorflow_value(value):
    """An eager tensor's or variable's value, a graph constant's, or None."""
    try:
        return value.numpy()
    except (AttributeError, NotImplementedError, RuntimeError, ValueError):  # symbolic, inside tf.function
        tf = sys.modules.get("tensorflow")
        return None if tf is None else tf.get_static_value(value)


def _real(value, name: str) -> float:
    return float(_number(value, name))


def scalar(value, name: str) -> int | float:
    """A real scalar that :func:`parameters` accepted, as a plain Python number,
    so that a 0-d tensor of any library, on any device, flows on as a number.
    Integers stay ``int``: exact, as they are later cast to an integer dtype."""
    return _number(value, name)


def parameters(max_val, filter_size, filter_sigma, k1, k2) -> None:
    max_val = _real(max_val, "max_val")
    if not (math.isfinite(max_val) and max_val > 0):
        msg = (
            f"max_val must be finite and > 0, got {max_val}; pass the images' dynamic "
            "range: 255 for uint8, 65535 for uint16, 1.0 for floats in [0, 1]."
        )
        raise ValueError(msg)
    if isinstance(filter_size, bool) or not isinstance(filter_size, numbers.Integral):
        msg = f"filter_size must be an int, got {filter_size!r}."
        raise TypeError(msg)
    if filter_size < 1:
        msg = f"filter_size must be >= 1, got {filter_size}; the usual window is 11."
        raise ValueError(msg)
    sigma = _real(filter_sigma, "filter_sigma")
    with np.errstate(over="ignore"):  # (a sigma past float32's range is refused below, not warned about)
        sigma32 = float(np.float32(sigma)) if math.isfinite(sigma) else sigma
    if not (math.isfinite(sigma32) and sigma > 0 and sigma32**2 >= float(np.finfo(np.float32).tiny)):
        msg = f"filter_sigma must be finite and > 0 (and its square a float32), got {sigma}; the usual width is 1.5."
        raise ValueError(msg)
    for value, name, usual in ((k1, "k1", 0.01), (k2, "k2", 0.03)):
        k = _real(value, name)
        if not (math.isfinite(k) and k > 0):
            msg = f"{name} must be finite and > 0, got {k}; the usual value is {usual}."
            raise ValueError(msg)


def constants(c1: np.float32, c2: np.float32, k1, k2, max_val) -> None:
    """TF's ``c1 = (k1·max_val)²`` and ``c2`` must be positive, finite float32."""
    for c, name, k in ((c1, "c1", k1), (c2, "c2", k2)):
        if not (np.isfinite(c) and c > 0):
            msg = (
                f"{name} = ({'k1' if name == 'c1' else 'k2'}·max_val)² = ({k}·{max_val})² is {float(c)} in "
                "float32; choose k1, k2 and max_val so that it is a positive finite number."
            )
            raise ValueError(msg)


def threads(value) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        msg = f"threads must be None or an int >= 1, got {value!r}."
        raise ValueError(msg)


def thread_count(value: int | None) -> int:
    """The threads a Numba engine runs with: ``value``, or Numba's setting
    (``NUMBA_NUM_THREADS``, by default one per core), never more than that."""
    import numba

    available = numba.config.NUMBA_NUM_THREADS
    if value is not None and value > available:
        msg = (
            f"threads={value} exceeds the {available} threads Numba started with; "
            f"pass at most {available}, or set NUMBA_NUM_THREADS before importing msssim."
        )
        raise ValueError(msg)
    return value or available


def max_val_fits(max_val, dtype: np.dtype) -> None:
    """TF casts ``max_val`` to the image dtype; refuse values that cast to nonsense."""
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        if not 1 <= max_val < info.max + 1:
            msg = (
                f"max_val={max_val} does not fit {dtype} images, whose values lie in "
                f"[{info.min}, {info.max}]; pass their range, e.g. max_val={info.max}."
            )
            raise ValueError(msg)
    elif not math.isfinite(_cast(max_val, dtype)):
        msg = f"max_val={max_val} overflows the {dtype} images' dtype."
        raise ValueError(msg)


def power_factors(value) -> tuple[float, ...]:
    try:
        weights = tuple(_real(w, "power_factors") for w in value)
    except TypeError as exc:
        if getattr(exc, "traced", False):
            raise
        msg = f"power_factors must be a sequence of real numbers, got {value!r}."
        raise TypeError(msg) from None
    if not weights:
        msg = "power_factors is empty; give one exponent per scale, e.g. msssim.MSSSIM_WEIGHTS."
        raise ValueError(msg)
    bad = [w for w in weights if not (math.isfinite(w) and w >= 0)]
    if bad:
        msg = f"power_factors must be finite and >= 0, got {list(weights)}."
        raise ValueError(msg)
    return weights


def minimum_size(filter_size: int, scales: int) -> int:
    """The smallest side that leaves ``filter_size`` pixels at the coarsest scale."""
    return (filter_size - 1) * 2 ** (scales - 1) + 1


def size(shape: tuple[int, ...], filter_size: int, scales: int, dims: int = 2) -> None:
    """Every spatial side of ``shape`` (``[..., H, W, C]``, or ``[..., D, H, W, C]``
    with ``dims=3``) leaves ``filter_size`` pixels at the coarsest scale."""
    sides = tuple(shape[-dims - 1 : -1])
    need = minimum_size(filter_size, scales)
    if min(sides) < need:
        hint = " or fewer power_factors" if scales > 1 else ""
        things, unit = ("images", "pixels") if dims == 2 else ("volumes", "voxels")
        order = "height x width" if dims == 2 else "depth x height x width"
        msg = (
            f"{things} of {'x'.join(map(str, sides))} ({order}) are too small: {scales} scale(s) with "
            f"filter_size={filter_size} need at least {'x'.join([str(need)] * dims)} {unit} "
            f"((filter_size - 1) * 2**(scales - 1) + 1 a side). Use larger {things}, a smaller "
            f"filter_size{hint}."
        )
        if dims == 2 and len(shape) >= 3 and shape[-3] <= 4 and min(shape[-2:]) >= need:  # [..., C, H, W]
            msg += " If the channels come first ([..., C, H, W], as torch's NCHW), pass channel_axis=-3."
        raise ValueError(msg)
    if shape[-1] == 0:
        msg = f"images have shape {shape}: zero channels. Expected [..., {SPATIAL_NAMES[dims]}, C] with C >= 1."
        raise ValueError(msg)


def finite(engine, arr, name: str) -> None:
    """Refuse NaN and Inf pixels (TF would silently return NaN), saying where."""
    found = engine.first_nonfinite(arr)
    if found is not None:
        raise ValueError(nonfinite_message(name, *found))


def nonfinite_message(name: str, where: tuple, count: int, scope: str = "") -> str:
    return (
        f"{name} has {count} NaN or infinite pixel value(s){scope}, the first at index "
        f"{where}; replace them (e.g. np.nan_to_num) before scoring."
    )


def finite_result(engine, value, images=(), terms=None):
    """The result as a float32 array of the engine (0-d for one pair), never a
    silent NaN. ``images``: ``(array, name)`` pairs whose pixels were not checked
    yet; a NaN or Inf pixel is the first explanation of a result (or of the
    ``terms`` it was made of: a zero power factor hides a NaN) that is not
    finite."""
    value = engine.float32(value)
    if not engine.all_finite(value, *(() if terms is None else (terms,))):
        for arr, name in images:
            finite(engine, arr, name)
        msg = (
            "the score is not finite: the pixel values are far outside [0, max_val] "
            "for the max_val given; pass the images' real dynamic range as max_val."
        )
        raise ValueError(msg)
    return value


def _cast(value, dtype) -> float:
    """``value`` as ``dtype`` then float32 (infinite where it overflows, with no warning)."""
    with np.errstate(over="ignore"):
        return float(np.float32(np.asarray(value).astype(dtype)))

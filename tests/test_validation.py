"""Every bad input gets a clear error that names the argument and the way out."""

from __future__ import annotations

import re

import numpy as np
import oracle
import pytest

import msssim

RNG = np.random.default_rng(7)
IMG = RNG.random((161, 161, 3), dtype=np.float32)
SMALL = RNG.random((30, 30, 1), dtype=np.float32)


def _ms(img1=IMG, img2=IMG, max_val=1.0, **kwargs):
    return msssim.ssim_multiscale(img1, img2, max_val, **kwargs)


def _single(img1=IMG, img2=IMG, max_val=1.0, **kwargs):
    return msssim.ssim(img1, img2, max_val, **kwargs)


FUNCTIONS = [_ms, _single]


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("shape", [(), (161,), (161, 161)])
def test_rank_below_three(function, shape):
    with pytest.raises(ValueError, match=r"img1 has shape .*expected rank >= 3.*img\[\.\.\., None\]"):
        function(np.zeros(shape, np.float32), IMG)


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("other", [(161, 162, 3), (162, 161, 3), (161, 161, 1)])
def test_last_three_dims_differ(function, other):
    with pytest.raises(ValueError, match=r"same height, width and channels.*\(161, 161, 3\) and"):
        function(IMG, np.zeros(other, np.float32))


@pytest.mark.parametrize("function", FUNCTIONS)
def test_batch_dims_do_not_broadcast(function):
    with pytest.raises(ValueError, match=r"leading \(batch\) dims .*\(2,\).*\(3,\) do not broadcast"):
        function(np.stack([IMG] * 2), np.stack([IMG] * 3))


def test_too_small_states_minimum_and_way_out():
    img = np.zeros((160, 200, 3), np.float32)
    with pytest.raises(
        ValueError,
        match=r"160x200 \(height x width\) are too small.*at least 161x161.*smaller filter_size or fewer power_factors",
    ):
        _ms(img, img)


@pytest.mark.parametrize(
    ("filter_size", "scales", "minimum"), [(11, 5, 161), (11, 3, 41), (7, 5, 97), (4, 2, 7), (1, 5, 1)]
)
def test_minimum_size_is_computed_from_parameters(filter_size, scales, minimum):
    ok = RNG.random((minimum, minimum + 3, 1), dtype=np.float32)
    factors = [0.2] * scales
    assert np.isfinite(_ms(ok, ok, filter_size=filter_size, power_factors=factors))
    if minimum > 1:
        small = ok[:-1]
        with pytest.raises(ValueError, match=f"at least {minimum}x{minimum}"):
            _ms(small, small, filter_size=filter_size, power_factors=factors)


def test_ssim_too_small_mentions_filter_size_only():
    with pytest.raises(ValueError, match=r"need at least 11x11 pixels.*smaller filter_size\.") as info:
        _single(SMALL[:10], SMALL[:10])
    assert "power_factors" not in str(info.value)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_zero_size_dims(function):
    with pytest.raises(ValueError, match="too small"):
        function(np.zeros((0, 161, 3), np.float32), np.zeros((0, 161, 3), np.float32))
    with pytest.raises(ValueError, match="zero channels"):
        function(np.zeros((161, 161, 0), np.float32), np.zeros((161, 161, 0), np.float32))


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("max_val", [0, -1.0, float("nan"), float("inf"), -float("inf")])
def test_bad_max_val(function, max_val):
    with pytest.raises(ValueError, match=r"max_val must be finite and > 0.*255 for uint8"):
        function(max_val=max_val)


@pytest.mark.parametrize("max_val", ["1", None, [1.0], 1j])
def test_max_val_not_a_number(max_val):
    with pytest.raises(TypeError, match="max_val must be a real number"):
        _ms(max_val=max_val)


@pytest.mark.parametrize("max_val", [256, 1e6, 0.5])
def test_max_val_outside_integer_dtype(max_val):
    img = (IMG * 255).astype(np.uint8)
    with pytest.raises(ValueError, match=r"does not fit uint8 images.*\[0, 255\].*max_val=255"):
        _ms(img, img, max_val)


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("filter_size", [0, -3])
def test_filter_size_below_one(function, filter_size):
    with pytest.raises(ValueError, match=r"filter_size must be >= 1, got"):
        function(filter_size=filter_size)


@pytest.mark.parametrize("filter_size", [11.0, "11", True])
def test_filter_size_not_int(filter_size):
    with pytest.raises(TypeError, match="filter_size must be an int"):
        _ms(filter_size=filter_size)


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("sigma", [0, -1.5, float("nan"), float("inf")])
def test_filter_sigma_not_positive(function, sigma):
    with pytest.raises(ValueError, match=r"filter_sigma must be finite and > 0"):
        function(filter_sigma=sigma)


@pytest.mark.parametrize("name", ["k1", "k2"])
@pytest.mark.parametrize("value", [0, -0.01, float("nan")])
def test_k_constants(name, value):
    with pytest.raises(ValueError, match=f"{name} must be finite and > 0"):
        _ms(**{name: value})


@pytest.mark.parametrize("factors", [(), []])
def test_empty_power_factors(factors):
    with pytest.raises(ValueError, match=r"power_factors is empty.*MSSSIM_WEIGHTS"):
        _ms(power_factors=factors)


@pytest.mark.parametrize("factors", [(0.5, -0.1), (float("nan"),), (0.3, float("inf"))])
def test_negative_or_non_finite_power_factors(factors):
    with pytest.raises(ValueError, match="power_factors must be finite and >= 0"):
        _ms(power_factors=factors)


@pytest.mark.parametrize("factors", [0.5, ["a"], None])
def test_power_factors_not_numbers(factors):
    with pytest.raises(TypeError, match="power_factors must be a sequence of real numbers"):
        _ms(power_factors=factors)


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("which", ["img1", "img2"])
def test_non_finite_pixels_are_located(function, bad, which):
    broken = IMG.copy()
    broken[100, 7, 2] = bad
    images = {"img1": IMG, "img2": IMG, which: broken}
    with pytest.raises(
        ValueError, match=rf"{which} has 1 NaN or infinite pixel value\(s\), the first at index \(100, 7, 2\)"
    ):
        function(images["img1"], images["img2"])


@pytest.mark.parametrize("library", ["numpy", "torch"])
@pytest.mark.parametrize("channel_axis", [-1, 0])
def test_non_finite_pixels_are_located_in_the_layout_given(library, channel_axis):
    """The index is the pixel's in the array as given, whatever the channel
    axis and whatever layout the engine scores in (torch's channels-first
    named a channels-last tensor's NaN at (1, 5, 7), not (5, 7, 1))."""
    import torch

    image = np.moveaxis(IMG, -1, channel_axis)
    broken = image.copy()
    at = (5, 7, 1) if channel_axis == -1 else (1, 5, 7)
    broken[at] = np.nan
    wrap = torch.from_numpy if library == "torch" else np.asarray
    index = re.escape(str(at))
    with pytest.raises(ValueError, match=rf"img2 has 1 NaN or infinite pixel value\(s\), the first at index {index}"):
        msssim.ssim_multiscale(wrap(image), wrap(broken), 1.0, channel_axis=channel_axis)


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize(
    "dtype", [np.complex64, np.complex128, np.bool_, object, "U3", "S3"], ids=lambda d: np.dtype(d).name
)
def test_unsupported_dtypes(function, dtype):
    bad = np.zeros((161, 161, 3), dtype=dtype)
    with pytest.raises(TypeError, match=r"img1 has dtype .*expected an integer or floating image"):
        function(bad, IMG)
    with pytest.raises(TypeError, match=r"img2 has dtype"):
        function(IMG, bad)


def test_string_path_instead_of_image():
    with pytest.raises(TypeError, match="read files with msssim.read_image"):
        _ms("reference.png", IMG)


def test_huge_pixel_values_do_not_return_nan():
    wild = (IMG * 1e30).astype(np.float32)
    with pytest.raises(ValueError, match=r"not finite.*real dynamic range as max_val"):
        _ms(wild, wild[::-1].copy())


@pytest.mark.parametrize("axis", [3, -4, 1.0])
def test_bad_channel_axis(axis):
    error = TypeError if isinstance(axis, float) else ValueError
    with pytest.raises(error, match="channel_axis"):
        _ms(channel_axis=axis)


def test_positive_channel_axis_with_different_ranks_is_ambiguous():
    with pytest.raises(ValueError, match=r"channel_axis=0 is ambiguous.*channel_axis=-3"):
        _ms(np.moveaxis(IMG, -1, 0)[None], np.moveaxis(IMG, -1, 0), channel_axis=0)


def test_unknown_engine():
    with pytest.raises(ValueError, match=r"engine must be one of \['numba', 'reference'\]"):
        _ms(engine="gpu")


@pytest.mark.parametrize(("kwargs", "name"), [({"k1": 1e-30}, "c1"), ({"k2": 1e-30}, "c2"), ({"max_val": 1e30}, "c1")])
def test_constants_that_vanish_or_overflow_in_float32(kwargs, name):
    with pytest.raises(ValueError, match=rf"{name} = .* in float32; choose k1, k2 and max_val"):
        _ms(**kwargs)


def test_filter_sigma_too_small_for_float32():
    with pytest.raises(ValueError, match="filter_sigma must be finite and > 0"):
        _ms(filter_sigma=1e-30)


def test_ragged_lists_are_refused_clearly():
    with pytest.raises(TypeError, match="img1 cannot be read as an array"):
        _ms([[1.0, 2.0], [3.0]], IMG)


# Images whose dtypes TF converts differently -----------------------------------------


def _library(name: str):
    """``(wrap a NumPy array as the library's array, a 0-d real of the library)``."""
    if name == "numpy":
        return np.asarray
    if name == "dask":
        da = pytest.importorskip("dask.array")
        return lambda a: da.from_array(a) if np.ndim(a) else np.asarray(a)
    if name == "torch":
        torch = pytest.importorskip("torch")
        return lambda a: torch.from_numpy(np.ascontiguousarray(a)) if np.ndim(a) else torch.tensor(a)
    if name == "tensorflow":
        tf = pytest.importorskip("tensorflow")
        return tf.constant
    jnp = pytest.importorskip("jax.numpy")
    return jnp.asarray


LIBRARIES = ["numpy", "torch", "tensorflow", "jax"]
U8 = (IMG * 255).astype(np.uint8)


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("library", [*LIBRARIES, "dask"])
@pytest.mark.parametrize(
    ("dtype1", "dtype2", "way_out"),
    [
        ("uint8", "float32", r"img2\.astype\(np\.uint8\).*img1\.astype\(np\.float32\) / 255, and pass max_val=1\.0"),
        ("float32", "uint8", r"img1\.astype\(np\.uint8\).*img2\.astype\(np\.float32\) / 255, and pass max_val=1\.0"),
        ("uint16", "float16", r"img2\.astype\(np\.uint16\).*img1\.astype\(np\.float32\) / 65535"),
        ("float16", "uint8", r"img1\.astype\(np\.uint8\)"),
        ("uint8", "uint16", r"img1\.astype\(np\.float32\) / 255 and img2\.astype\(np\.float32\) / 65535"),
        ("int16", "uint16", r"img1\.astype\(np\.float32\) / 32767 and img2\.astype\(np\.float32\) / 65535"),
    ],
)
def test_images_converted_differently_are_refused(function, library, dtype1, dtype2, way_out):
    # TF raises for any dtype mismatch; msssim would compare [0, 1] with another range.
    wrap = _library(library)
    img1, img2 = wrap((IMG * 200).astype(dtype1)), wrap((IMG * 200).astype(dtype2))
    pattern = rf"img1 \({dtype1}\) and img2 \({dtype2}\) have dtypes that are converted differently.*{way_out}"
    with pytest.raises(ValueError, match=pattern):
        function(img1, img2, max_val=255)


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize(("dtype1", "dtype2"), [("float16", "float32"), ("float64", "float32"), ("float32", "float16")])
def test_floats_of_different_widths_are_cast_to_float32(function, dtype1, dtype2):
    # TF's conversion of every float dtype is a plain cast: the same scale, so accepted.
    img1, img2 = IMG.astype(dtype1), IMG[::-1].astype(dtype2)
    got = function(img1, img2)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, function(img1.astype(np.float32), img2.astype(np.float32)))


def test_half_precision_tensor_against_a_float32_target_is_accepted():
    torch = pytest.importorskip("torch")
    prediction = torch.from_numpy(IMG).to(torch.bfloat16)  # what a model under torch.autocast gives
    target = torch.from_numpy(IMG[::-1].copy())
    got = msssim.ssim_multiscale(prediction, target, 1.0)
    assert float(got) == float(msssim.ssim_multiscale(prediction.float(), target, 1.0))


def test_equal_conversions_of_different_byte_orders_are_accepted():
    big = U8.astype(">u2") * np.uint16(257)
    assert float(_ms(big, (U8 * np.uint16(257)).astype("<u2"), 65535)) == 1.0


# max_val (and power_factors) as a 0-d array or tensor ----------------------------------


def _scalar(library: str, value, dtype: str):
    wrap = _library(library)
    if library == "torch":
        torch = pytest.importorskip("torch")
        return torch.tensor(value, dtype=getattr(torch, dtype))
    if library == "tensorflow":
        tf = pytest.importorskip("tensorflow")
        return tf.constant(value, dtype=dtype)
    if library == "jax":
        jnp = pytest.importorskip("jax.numpy")
        return jnp.asarray(value, dtype=dtype)
    return wrap(np.asarray(value, dtype=dtype))


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("library", LIBRARIES)
@pytest.mark.parametrize("images", ["numpy", "same library"])
def test_max_val_as_a_0d_tensor_equals_the_python_number(function, library, images):
    # tf.image.ssim_multiscale(numpy, numpy, tf.constant(1.0)) works in TF.
    wrap = _library(library) if images == "same library" else np.asarray
    for img, value, dtype in ((IMG, 1.0, "float32"), (U8, 255, "int32")):
        a, b = wrap(img), wrap(img[::-1].copy())
        got = function(a, b, max_val=_scalar(library, value, dtype))
        assert type(got) is type(function(a, b, max_val=value))
        np.testing.assert_array_equal(np.asarray(got), np.asarray(function(a, b, max_val=value)))


@pytest.mark.parametrize("library", LIBRARIES)
def test_max_val_tensor_of_other_float_dtypes(library):
    for dtype in ("float16", "float64"):
        got = _ms(U8, U8[::-1].copy(), _scalar(library, 255, dtype))
        np.testing.assert_array_equal(got, _ms(U8, U8[::-1].copy(), 255))


@pytest.mark.parametrize("library", LIBRARIES)
@pytest.mark.parametrize(
    "make",
    [
        lambda s, lib: s(lib, [1.0], "float32"),
        lambda s, lib: s(lib, [[1.0, 2.0]], "float32"),
        lambda s, lib: s(lib, True, "bool"),
        lambda s, lib: s(lib, 1 + 0j, "complex64"),
    ],
    ids=["shape (1,)", "shape (1, 2)", "bool", "complex"],
)
def test_max_val_tensors_that_are_not_one_real_number(library, make):
    with pytest.raises(TypeError, match="max_val must be a real number"):
        _ms(max_val=make(_scalar, library))


def test_max_val_string_tensor_is_not_a_number():
    tf = pytest.importorskip("tensorflow")
    with pytest.raises(TypeError, match="max_val must be a real number"):
        _ms(max_val=tf.constant("255"))


@pytest.mark.parametrize("library", LIBRARIES)
def test_max_val_tensor_out_of_range_keeps_the_value_errors(library):
    with pytest.raises(ValueError, match=r"max_val must be finite and > 0"):
        _ms(max_val=_scalar(library, -1.0, "float32"))
    with pytest.raises(ValueError, match=r"does not fit uint8 images"):
        _ms(U8, U8, _scalar(library, 256, "int32"))


def test_max_val_tensorflow_variable():
    tf = pytest.importorskip("tensorflow")
    assert float(_ms(max_val=tf.Variable(1.0))) == float(_ms(max_val=1.0))


@pytest.mark.parametrize("library", LIBRARIES)
def test_power_factors_as_a_tensor(library):
    weights = _scalar(library, msssim.MSSSIM_WEIGHTS, "float32")
    plain = tuple(float(w) for w in np.float32(msssim.MSSSIM_WEIGHTS))
    np.testing.assert_array_equal(_ms(power_factors=weights), _ms(power_factors=plain))
    parts = msssim.ssim_multiscale_parts(IMG, IMG[::-1].copy(), 1.0, [weights[i] for i in range(len(plain))])
    assert parts.power_factors == plain  # a list of 0-d tensors, too


def test_symbolic_max_val_in_tf_function_says_pass_a_python_float():
    tf = pytest.importorskip("tensorflow")

    @tf.function
    def score(a, max_val):
        return msssim.ssim_multiscale(a, a, max_val)

    with pytest.raises(TypeError, match=r"max_val is a symbolic TensorFlow tensor.*pass a Python float"):
        score(tf.constant(IMG), tf.constant(1.0))

    @tf.function
    def closed_over(a):
        return msssim.ssim_multiscale(a, a, 1.0)

    assert float(closed_over(tf.constant(IMG))) == pytest.approx(1.0, abs=1e-5)


def test_traced_max_val_in_jax_jit_says_pass_a_python_float():
    jax = pytest.importorskip("jax")
    jnp = pytest.importorskip("jax.numpy")
    a = jnp.asarray(IMG)
    with pytest.raises(TypeError, match=r"max_val is a traced JAX value.*pass a Python float \(e\.g\. max_val=1\.0\)"):
        jax.jit(lambda x, m: msssim.ssim_multiscale(x, x, m))(a, 1.0)
    with pytest.raises(TypeError, match=r"power_factors is a traced JAX value.*pass Python floats"):
        jax.jit(lambda x, w: msssim.ssim_multiscale(x, x, 1.0, w))(a, jnp.asarray(msssim.MSSSIM_WEIGHTS))
    static = jax.jit(lambda x, m: msssim.ssim_multiscale(x, x, m), static_argnums=1)(a, 1.0)
    assert float(static) == pytest.approx(1.0, abs=1e-6)


class _OnDevice:
    """A 0-d tensor on a GPU as seen from the host: a shape, ``.item()``, and
    no ``__array__`` (CUDA torch and CuPy refuse an implicit copy to NumPy)."""

    def __init__(self, value):
        self.value, self.shape = value, ()

    def item(self):
        return self.value

    def __array__(self, *args, **kwargs):
        msg = "can't convert cuda:0 device type tensor to numpy"
        raise TypeError(msg)

    def __float__(self):
        raise AssertionError("read through .item()")


def _device_scalar(module: str, value) -> _OnDevice:
    """``_OnDevice`` as a type of ``module`` (msssim knows libraries by their types' modules)."""
    return type("Tensor", (_OnDevice,), {"__module__": module})(value)


@pytest.mark.parametrize("module", ["torch", "cupy._core.core"])
def test_device_scalars_are_read_with_item(module):
    from msssim import _validate

    fake = _device_scalar(module, 255)
    assert _validate.scalar(fake, "max_val") == 255 and isinstance(_validate.scalar(fake, "max_val"), int)
    _validate.parameters(fake, 11, 1.5, 0.01, 0.03)
    assert _validate.power_factors([_device_scalar(module, 0.5)]) == (0.5,)
    with pytest.raises(TypeError, match="max_val must be a real number"):
        _validate.scalar(_device_scalar(module, True), "max_val")


@pytest.mark.parametrize("module", ["torch", "cupy._core.core"])
def test_device_scalar_max_val_scores_numpy_and_dask_images(module):
    # Needs _ssim._prepare to pass the max_val read by _validate.scalar on.
    want = _ms(U8, U8[::-1].copy(), 255)
    np.testing.assert_array_equal(_ms(U8, U8[::-1].copy(), _device_scalar(module, 255)), want)
    da = pytest.importorskip("dask.array")
    lazy = msssim.ssim_multiscale(da.from_array(U8), U8[::-1].copy(), _device_scalar(module, 255))
    np.testing.assert_array_equal(lazy.compute(), want)


def _gpu_scalars() -> list:
    found = []
    try:
        import torch

        if torch.cuda.is_available():
            found.append(pytest.param(lambda: torch.tensor(255.0, device="cuda"), id="torch cuda"))
    except ImportError:
        pass
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() > 0:
            found.append(pytest.param(lambda: cupy.asarray(255.0), id="cupy"))
    except Exception:  # no CuPy, or no CUDA driver
        pass
    return found


if _gpu_scalars():  # collected only where a GPU exists (CI has none): never a skip counted as a pass

    @pytest.mark.parametrize("make", _gpu_scalars())
    def test_gpu_scalar_max_val(make):
        np.testing.assert_array_equal(_ms(U8, U8[::-1].copy(), make()), _ms(U8, U8[::-1].copy(), 255))


def test_channels_first_images_without_channel_axis_are_told_how():
    """torch's NCHW with the default channel_axis reads as 3-pixel-high images:
    the error says to pass channel_axis=-3 (and says nothing of it for images
    that are simply small)."""
    with pytest.raises(ValueError, match=r"too small.*pass channel_axis=-3"):
        msssim.ssim_multiscale(np.zeros((2, 3, 176, 176), np.float32), np.zeros((2, 3, 176, 176), np.float32), 1.0)
    with pytest.raises(ValueError, match="too small") as small:
        msssim.ssim_multiscale(np.zeros((100, 100, 3), np.float32), np.zeros((100, 100, 3), np.float32), 1.0)
    assert "channel_axis" not in str(small.value)


@pytest.mark.parametrize("dtype", [np.int64, np.uint64])
def test_64_bit_integers_under_tensorflow_cpu_numerics_are_refused(tf, dtype):
    """TF's conversion of 64-bit integers leaves meaningless scores (0.93 on
    one machine, 0.974 on another, and 0 as uint64, for a pair the
    formula scores 0.977: its float32 constants fall among the denormals),
    which the NumPy engine did not repeat while claiming TF's digits; exact
    numerics score them."""
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (1, 161, 161, 1))
    b = np.clip(a + rng.integers(-30, 31, a.shape), 0, 255)
    a, b = a.astype(dtype), b.astype(dtype)
    exact = float(msssim.ssim_multiscale(a, b, 255)[0])
    assert abs(exact - float(oracle.ssim_multiscale(a[0].astype(np.float64), b[0].astype(np.float64), 255.0))) < 1e-6
    assert abs(float(tf.image.ssim_multiscale(tf.constant(a), tf.constant(b), 255)[0]) - exact) > 1e-3
    with pytest.raises(ValueError, match=f"takes integer images of up to 32 bits, not {np.dtype(dtype).name}"):
        msssim.ssim_multiscale(a, b, 255, numerics="tensorflow-cpu")


def test_huge_parameters_are_checked_without_numpys_overflow_warnings():
    """A sigma of 1e30 and max_val 70000 for float16 leaked NumPy's
    "RuntimeWarning: overflow encountered in cast" from the checks."""
    import warnings

    image = np.random.default_rng(2).random((170, 170, 3), dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert 0 < msssim.ssim(image, image * 0.9, 1.0, filter_sigma=1e30) < 1
        with pytest.raises(ValueError, match="max_val=70000 overflows the float16 images' dtype"):
            msssim.ssim(image.astype(np.float16), image.astype(np.float16), 70000)

"""Every bad input gets a clear error that names the argument and the way out."""

from __future__ import annotations

import numpy as np
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
        ValueError, match=r"160x200 are too small.*at least 161x161.*smaller filter_size or fewer power_factors"
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
    with pytest.raises(ValueError, match=r"engine must be one of \['numba', 'reference', 'separable'\]"):
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

"""Properties that hold for every input (hypothesis draws shapes, dtypes and
parameters): identity, symmetry, range, batches, dtypes, layouts and engines."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import msssim
from msssim._validate import minimum_size

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def problems(draw, dtypes=("uint8", "uint16", "int16", "float16", "float32", "float64")):
    """Two images of one shape and dtype, and a full set of parameters."""
    scales = draw(st.integers(1, 4))
    filter_size = draw(st.integers(1, 7))
    side = minimum_size(filter_size, scales)
    height = draw(st.integers(side, side + 24))
    width = draw(st.integers(side, side + 24))
    channels = draw(st.integers(1, 3))
    batch = draw(st.sampled_from([(), (2,), (1, 2)]))
    dtype = np.dtype(draw(st.sampled_from(dtypes)))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    shape = (*batch, height, width, channels)
    base = rng.random(shape)
    other = np.clip(base + draw(st.floats(0.01, 0.5)) * rng.standard_normal(shape), 0, 1)
    if dtype.kind in "iu":
        top = np.iinfo(dtype).max
        img1, img2, max_val = (base * top).round().astype(dtype), (other * top).round().astype(dtype), float(top)
    else:
        img1, img2, max_val = base.astype(dtype), other.astype(dtype), 1.0
    params = {
        "max_val": max_val,
        "power_factors": [draw(st.floats(0.05, 1.0)) for _ in range(scales)],
        "filter_size": filter_size,
        "filter_sigma": draw(st.floats(0.3, 3.0)),
        "k1": draw(st.floats(0.001, 0.1)),
        "k2": draw(st.floats(0.001, 0.1)),
    }
    return img1, img2, params


@SETTINGS
@given(problems())
def test_an_image_against_itself_scores_one(problem):
    img1, _, params = problem
    np.testing.assert_allclose(msssim.ssim_multiscale(img1, img1, **params), 1.0, rtol=0, atol=1e-6)


@SETTINGS
@given(problems(), st.sampled_from(["exact", "tensorflow-cpu"]))
def test_symmetric(problem, numerics):
    img1, img2, params = problem
    forward = msssim.ssim_multiscale(img1, img2, **params, numerics=numerics)
    backward = msssim.ssim_multiscale(img2, img1, **params, numerics=numerics)
    if numerics == "tensorflow-cpu":  # TF's float32 steps are symmetric in x and y
        np.testing.assert_array_equal(forward, backward)
    else:  # the exact kernels' fused multiply-adds are not: each is within 1e-6 of the symmetric float64 value
        np.testing.assert_allclose(forward, backward, rtol=0, atol=1e-6)


@SETTINGS
@given(problems())
def test_between_zero_and_one(problem):
    img1, img2, params = problem
    score = msssim.ssim_multiscale(img1, img2, **params)
    assert np.all(score >= 0) and np.all(score <= 1 + 1e-6), score


@SETTINGS
@given(problems())
def test_a_batch_equals_its_items(problem):
    img1, img2, params = problem
    batch = msssim.ssim_multiscale(img1, img2, **params)
    flat1 = img1.reshape(-1, *img1.shape[-3:])
    flat2 = img2.reshape(-1, *img2.shape[-3:])
    items = [msssim.ssim_multiscale(a, b, **params) for a, b in zip(flat1, flat2)]
    np.testing.assert_array_equal(batch.reshape(-1), np.asarray(items))


@SETTINGS
@given(problems(dtypes=("uint8",)))
def test_uint8_with_255_equals_float_over_255(problem):
    img1, img2, params = problem
    # "/255" as TF converts: a float32 cast times float32(1/255). (Dividing
    # instead rounds differently in the last bit, which a peaked window with
    # large power factors can magnify to ~1e-5.)
    as_float = {**params, "max_val": 1.0}
    scale = np.float32(1 / 255)
    got = msssim.ssim_multiscale(img1, img2, **params)
    want = msssim.ssim_multiscale(img1.astype(np.float32) * scale, img2.astype(np.float32) * scale, **as_float)
    np.testing.assert_array_equal(got, want)


@SETTINGS
@given(problems())
def test_channels_first_equals_channels_last(problem):
    img1, img2, params = problem
    first = msssim.ssim_multiscale(np.moveaxis(img1, -1, -3), np.moveaxis(img2, -1, -3), **params, channel_axis=-3)
    np.testing.assert_array_equal(first, msssim.ssim_multiscale(img1, img2, **params))


@SETTINGS
@given(problems(), st.sampled_from(["exact", "tensorflow-cpu"]))
def test_fast_engine_equals_reference_engine(problem, numerics):
    img1, img2, params = problem
    fast = msssim.ssim_multiscale_parts(img1, img2, **params, engine="numba", numerics=numerics)
    slow = msssim.ssim_multiscale_parts(img1, img2, **params, engine="reference", numerics=numerics)
    np.testing.assert_allclose(fast.ms_ssim, slow.ms_ssim, rtol=0, atol=1e-6)
    np.testing.assert_allclose(fast.cs, slow.cs, rtol=0, atol=1e-6)
    np.testing.assert_allclose(fast.luminance, slow.luminance, rtol=0, atol=1e-6)

"""The gaussian window is TF's, bit for bit: ``tf.image.ssim`` makes it with a
softmax whose rounding (oneDNN's exp and sum order) moves scores by up to 1e-5
when the window is peaked."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from msssim._window import gaussian_window, separable, vector_width

SIGMAS = (0.3, 0.51, 1.0, 1.5, 3.7, 10.0)
SIZES_AND_SIGMAS = [(size, sigma) for size in (1, 2, 3, 5, 7, 8, 11, 15, 21) for sigma in SIGMAS]


def _tf_window(tf, size: int, sigma: float) -> np.ndarray:
    from tensorflow.python.ops import image_ops_impl  # the function tf.image.ssim calls

    window = image_ops_impl._fspecial_gauss(tf.constant(size), tf.constant(sigma, tf.float32))
    return window.numpy().reshape(size, size)


@pytest.mark.parametrize(("size", "sigma"), SIZES_AND_SIGMAS)
def test_window_is_tensorflows_bit_for_bit(tf, size, sigma):
    want = _tf_window(tf, size, sigma)
    got = gaussian_window(size, sigma)
    assert got.dtype == np.float32 and got.shape == (size, size)
    np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))


def test_random_windows_are_tensorflows(tf):
    rng = np.random.default_rng(3)
    for _ in range(40):
        size, sigma = int(rng.integers(1, 32)), float(np.exp(rng.uniform(np.log(0.2), np.log(20))))
        np.testing.assert_array_equal(gaussian_window(size, sigma), _tf_window(tf, size, sigma), err_msg=(size, sigma))


def test_the_window_is_not_exactly_normalised_as_tf_makes_it(tf):
    """sigma 0.51: TF's window sums to 1 - 9.7e-8 with 16-float vectors (1 - 3.8e-9
    with 8), and so does ours; the correctly rounded gaussian's is 1 + 8e-9."""
    window = gaussian_window(7, 0.51)
    assert window.sum(dtype=np.float64) == _tf_window(tf, 7, 0.51).sum(dtype=np.float64)
    expected = {16: 9.7107e-8, 8: 3.8297e-9}[vector_width()]
    assert abs((1 - window.sum(dtype=np.float64)) - expected) < 1e-11


def test_narrower_vectors_follow_onednns_choice(tf):
    """With oneDNN capped at AVX2 (8-float vectors) TF's window changes; so does ours."""
    script = (
        "import numpy as np, tensorflow as tf\n"
        "from tensorflow.python.ops import image_ops_impl as i\n"
        "from msssim._window import gaussian_window, vector_width\n"
        "assert vector_width() == 8\n"
        "for size, sigma in [(11, 1.5), (7, 0.51), (9, 3.7), (13, 0.7)]:\n"
        "    want = i._fspecial_gauss(tf.constant(size), tf.constant(sigma, tf.float32)).numpy()\n"
        "    np.testing.assert_array_equal(gaussian_window(size, sigma), want.reshape(size, size))\n"
    )
    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2", "TF_CPP_MIN_LOG_LEVEL": "3"}
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=120)


def test_separable_taps_make_the_window():
    window = gaussian_window(11, 1.5)
    taps = separable(window)
    np.testing.assert_allclose(np.outer(taps, taps), window, rtol=1e-6, atol=0)


def test_window_is_cached_and_read_only():
    assert gaussian_window(11, 1.5) is gaussian_window(11, 1.5)
    with pytest.raises(ValueError):
        gaussian_window(11, 1.5)[0, 0] = 1

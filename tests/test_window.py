"""The gaussian window is TF's, bit for bit: ``tf.image.ssim`` makes it with a
softmax whose rounding (oneDNN's or Eigen's exp and sum order) moves scores by
up to 1e-5 when the window is peaked. The live comparisons here use the TF this
machine runs by default; the others run TF in a subprocess with oneDNN forced
on or off."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from msssim._window import KERNELS, gaussian_window, separable, tensorflow_kernels, vector_width

SIGMAS = (0.3, 0.51, 1.0, 1.5, 3.7, 10.0)
SIZES_AND_SIGMAS = [(size, sigma) for size in (1, 2, 3, 5, 7, 8, 11, 15, 21) for sigma in SIGMAS]
# Past 83 taps Eigen's exp runs in more than one block, past 90 its sum splits.
LARGE = [(size, sigma) for size in (83, 84, 89, 90, 91, 92, 100, 128, 181) for sigma in (1.5, 7.0, 40.0)]


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


def test_random_and_large_windows_are_tensorflows(tf):
    rng = np.random.default_rng(3)
    draws = [(int(rng.integers(1, 40)), float(np.exp(rng.uniform(np.log(0.1), np.log(30))))) for _ in range(60)]
    for size, sigma in draws + LARGE:
        np.testing.assert_array_equal(gaussian_window(size, sigma), _tf_window(tf, size, sigma), err_msg=(size, sigma))


def test_the_window_is_not_exactly_normalised_as_tf_makes_it(tf):
    """sigma 0.51: TF's window sums to 1 - 9.7e-8 with oneDNN's 16-float vectors
    (1 - 3.8e-9 with 8, 1 - 7.1e-8 with Eigen's softmax), and so does ours; the
    correctly rounded gaussian's is 1 + 8e-9."""
    window = gaussian_window(7, 0.51)
    assert window.sum(dtype=np.float64) == _tf_window(tf, 7, 0.51).sum(dtype=np.float64)
    expected = {"onednn-16": 9.7107e-8, "onednn-8": 3.8297e-9, "eigen": 7.1001e-8}[tensorflow_kernels()]
    assert abs((1 - window.sum(dtype=np.float64)) - expected) < 1e-11


# Each kernel set against TF run with it: the environment that makes TF take it,
# and the name msssim must read off that environment. (Where this CPU's own
# width is 8, the last entry replaces the capped one: both are oneDNN's at 8.)
FORCED = {
    "eigen": {"TF_ENABLE_ONEDNN_OPTS": "0"},
    "onednn-8": {"TF_ENABLE_ONEDNN_OPTS": "1", "ONEDNN_MAX_CPU_ISA": "AVX2"},
    f"onednn-{vector_width()}": {"TF_ENABLE_ONEDNN_OPTS": "true"},
}
SCRIPT = """
import sys, numpy as np, tensorflow as tf
from tensorflow.python.ops import image_ops_impl as i
from msssim._window import gaussian_window, tensorflow_kernels
assert tensorflow_kernels() == sys.argv[1], tensorflow_kernels()
for size, sigma in {cases}:
    want = i._fspecial_gauss(tf.constant(size), tf.constant(sigma, tf.float32)).numpy().reshape(size, size)
    np.testing.assert_array_equal(gaussian_window(size, sigma), want, err_msg=(size, sigma))
    np.testing.assert_array_equal(gaussian_window(size, sigma, sys.argv[1]), want, err_msg=(size, sigma))
"""


def _run(script: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **env}
    for name in ("TF_ENABLE_ONEDNN_OPTS", "ONEDNN_MAX_CPU_ISA"):
        if name not in env:
            environment.pop(name, None)
    return subprocess.run([sys.executable, "-c", script, *args], env=environment, capture_output=True, text=True,
                          timeout=300)  # fmt: skip


@pytest.mark.parametrize("kernels", sorted(FORCED))
def test_each_kernel_set_is_tensorflows_where_tf_takes_it(tf, kernels):
    """oneDNN's at both widths and Eigen's (which TF also takes inside
    ``tf.function``), whatever this CPU's default."""
    cases = [(11, 1.5), (7, 0.51), (9, 3.7), (13, 0.7), (21, 0.3), (3, 10.0), (31, 4.2)] + LARGE
    done = _run(SCRIPT.format(cases=cases), kernels, **FORCED[kernels])
    assert done.returncode == 0, done.stderr[-3000:]


def test_the_kernels_are_tensorflows_choice_on_this_cpu(tf):
    """Unset, TF_ENABLE_ONEDNN_OPTS leaves the choice to TF's CPU test (oneDNN
    on CPUs with AVX512_VNNI, AVX512_BF16, AVX_VNNI or AMX): msssim reads the
    same CPU features. (CI runs on CPUs of both kinds.)"""
    script = (
        "import json\n"
        "from tensorflow.python.util import _pywrap_util_port\n"
        "from msssim._window import tensorflow_kernels\n"
        "print(json.dumps([_pywrap_util_port.IsMklEnabled(), tensorflow_kernels()]))\n"
    )
    done = _run(script)
    assert done.returncode == 0, done.stderr[-3000:]
    onednn, kernels = json.loads(done.stdout.strip().splitlines()[-1])
    assert kernels == (f"onednn-{vector_width()}" if onednn else "eigen")


def test_tf_function_takes_eigens_softmax(tf):
    """Inside ``tf.function`` TF folds the constant window with Eigen's softmax,
    oneDNN on or off."""
    for size, sigma in [(11, 1.5), (7, 0.51), (21, 1.5)]:
        np.testing.assert_array_equal(gaussian_window(size, sigma, "eigen"), _folded_window(tf, size, sigma))


def _folded_window(tf, size: int, sigma: float) -> np.ndarray:
    from tensorflow.python.ops import image_ops_impl

    @tf.function
    def make():
        return image_ops_impl._fspecial_gauss(tf.constant(size), tf.constant(sigma, tf.float32))

    return make().numpy().reshape(size, size)


def test_unknown_kernels_are_refused():
    with pytest.raises(ValueError, match="kernels must be one of"):
        gaussian_window(11, 1.5, "mkl")
    assert set(FORCED) <= set(KERNELS)


def test_separable_taps_make_the_window():
    window = gaussian_window(11, 1.5)
    taps = separable(window)
    np.testing.assert_allclose(np.outer(taps, taps), window, rtol=1e-6, atol=0)


def test_window_is_cached_and_read_only():
    assert gaussian_window(11, 1.5) is gaussian_window(11, 1.5)
    with pytest.raises(ValueError):
        gaussian_window(11, 1.5)[0, 0] = 1

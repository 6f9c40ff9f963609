"""The TensorFlow engine: the algorithm's primitives in TF ops, for TF tensors
and variables, differentiable with ``tf.GradientTape`` and usable inside
``tf.function``. Chosen when an input is a TF tensor or variable.

It applies the same ops ``tf.image.ssim_multiscale`` does (a depthwise 2-D
convolution, SYMMETRIC padding and average pooling, ``reduce_mean``), so its
numbers are TF's, with TF's window (``msssim._window``). The clamp ``relu(t) ** w`` has gradient 0 where
``t <= 0``, where TF's is NaN. Inside ``tf.function`` the NaN/Inf check of the
pixels is skipped (the values are not known when tracing): such an image
scores NaN, as in TF. There the batch dims may be unknown (None); the
images' height, width and channels must be known.
"""

from __future__ import annotations

import sys

import numpy as np
import tensorflow as tf

from msssim._engines._numpy_ops import stand_in


def arrays(img1, img2) -> tuple[tf.Tensor, tf.Tensor]:
    """Both inputs as tensors (a variable is read, and the tape still sees it)."""
    return tf.convert_to_tensor(img1), tf.convert_to_tensor(img2)


def meta(x: tf.Tensor) -> np.ndarray:
    """A NumPy stand-in with the tensor's shape and dtype, for the checks.
    Inside ``tf.function`` the batch dims may be unknown (a last batch that
    is smaller, Keras' and ``tf.data``'s): they stand as 1 (the images' own
    dims, the last three, must be known; TF's ops check the batch dims'
    broadcast when they run)."""
    if x.shape.rank is None or not x.shape[-3:].is_fully_defined():
        msg = (
            f"images need a known height, width and channels inside tf.function, got shape {x.shape}; "
            "give them in the input_signature (the batch dims may be None)."
        )
        raise ValueError(msg)
    dtype = np.dtype(x.dtype.as_numpy_dtype) if x.dtype != tf.string else np.dtype(object)
    return stand_in([1 if n is None else n for n in x.shape], dtype)


def _leading(x: tf.Tensor) -> tf.Tensor:
    """The batch dims of ``x``, known or not (a dynamic batch inside tf.function)."""
    return tf.shape(x)[:-3]


def moveaxis(x: tf.Tensor, source: int, destination: int) -> tf.Tensor:
    return tf.experimental.numpy.moveaxis(x, source, destination)


def first_nonfinite(x: tf.Tensor):
    if not x.dtype.is_floating or not tf.executing_eagerly() or x.shape.num_elements() == 0:
        return None
    bad = tf.logical_not(tf.math.is_finite(x))
    if not bool(tf.reduce_any(bad)):
        return None
    return tuple(int(i) for i in tf.where(bad)[0].numpy()), int(tf.reduce_sum(tf.cast(bad, tf.int64)))


def convert_image(img: tf.Tensor, scale: np.float32) -> tf.Tensor:
    """float32 ``img * scale``: TF's ``convert_image_dtype``."""
    x = tf.cast(img, tf.float32)
    return x * float(scale) if scale != 1 else x


def _flat(x: tf.Tensor) -> tf.Tensor:
    return tf.reshape(x, [-1, *x.shape[-3:]])


def filter_valid(x: tf.Tensor, window: np.ndarray) -> tf.Tensor:
    """The gaussian as TF applies it: a depthwise 2-D convolution, VALID."""
    channels = x.shape[-1]
    kernel = tf.constant(np.tile(window[:, :, None, None], (1, 1, channels, 1)))
    out = tf.nn.depthwise_conv2d(_flat(x), kernel, strides=[1, 1, 1, 1], padding="VALID")
    return tf.reshape(out, tf.concat([_leading(x), out.shape[-3:]], 0))


def downsample_2x(x: tf.Tensor, dims: int) -> tf.Tensor:
    height, width = x.shape[-3], x.shape[-2]
    flat = _flat(x)
    if height % 2 or width % 2:
        flat = tf.pad(flat, [[0, 0], [0, height % 2], [0, width % 2], [0, 0]], mode="SYMMETRIC")
    out = tf.nn.avg_pool2d(flat, ksize=2, strides=2, padding="VALID")
    return tf.reshape(out, tf.concat([_leading(x), out.shape[-3:]], 0))


def mean_hw(x: tf.Tensor, dims: int) -> tf.Tensor:
    return tf.reduce_mean(x, axis=[-3, -2])


def scale_statistics(x, y, window, c1, c2, index_map=False, only_cs=False):
    """Step 4 in the window's precision: float64 for ``numerics="exact"``,
    float32 (TF's own ops, TF's numbers) for ``"tensorflow-cpu"``."""
    from msssim._ssim import filtered_statistics

    dtype = tf.as_dtype(window.dtype)
    x, y = tf.cast(x, dtype), tf.cast(y, dtype)
    c1, c2 = (tf.cast(c, dtype) if tf.is_tensor(c) else float(c) for c in (c1, c2))  # (a tensor: the images' range)
    return filtered_statistics(sys.modules[__name__], x, y, window, c1, c2, index_map)


def float32(x) -> tf.Tensor:
    return tf.cast(x, tf.float32)


def as_float64(x) -> tf.Tensor:
    return tf.cast(x, tf.float64)


def relu(x: tf.Tensor) -> tf.Tensor:
    return tf.nn.relu(x)


def clip(x: tf.Tensor, low: float, high: float) -> tf.Tensor:
    return tf.clip_by_value(x, low, high)


def data_range(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    """The larger of the two tensors' ranges (max - min) (torchmetrics' data_range=None)."""
    a, b = tf.reduce_max(x) - tf.reduce_min(x), tf.reduce_max(y) - tf.reduce_min(y)
    return tf.where(a >= b, a, b)


def concat(tensors, axis: int) -> tf.Tensor:
    return tf.concat(tensors, axis=axis)


def stack(tensors, axis: int) -> tf.Tensor:
    return tf.stack(tensors, axis=axis)


def power(x: tf.Tensor, exponents) -> tf.Tensor:
    """``x ** w`` for ``x >= 0``, with gradient 0 (not NaN) at ``x = 0``; a
    NaN stays NaN (inside tf.function, where the pixels are not checked, the
    score of a NaN pixel is NaN, as TF's, not the 0 of a clamped term)."""
    w = tf.constant(exponents, dtype=x.dtype)
    kept = (x > 0) | tf.math.is_nan(x)
    base = tf.where(kept, x, tf.ones_like(x))
    return tf.where(kept | (w == 0), base**w, tf.zeros_like(x))


def prod(x: tf.Tensor, axis: int) -> tf.Tensor:
    return tf.reduce_prod(x, axis=axis)


def mean(x: tf.Tensor, axis: int) -> tf.Tensor:
    return tf.reduce_mean(x, axis=axis)


def all_finite(*arrays: tf.Tensor) -> bool:
    return not tf.executing_eagerly() or all(bool(tf.reduce_all(tf.math.is_finite(x))) for x in arrays)

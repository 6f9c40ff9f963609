"""A Keras 3 loss: ``msssim.keras.MSSSIMLoss``.

Importing this module imports Keras; ``import msssim`` alone does not. The
tensors Keras hands the loss are its backend's (TensorFlow, JAX or torch), and
msssim scores each with that library.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

from msssim._ssim import MSSSIM_WEIGHTS, LossParameters
from msssim._validate import same_conversion


@keras.saving.register_keras_serializable(package="msssim")
class MSSSIMLoss(keras.losses.Loss):
    """``1 - MS-SSIM`` per image, TensorFlow's formula, finite gradients.

    Parameters are those of :func:`msssim.ssim_multiscale` (``numerics`` and ``convention`` too);
    images are ``[N, H, W, C]`` (Keras' channels-last default) unless
    ``channel_axis`` says otherwise. ``reduction`` and ``name`` are Keras'.
    """

    def __init__(
        self,
        max_val: float = 1.0,
        power_factors: Sequence[float] = MSSSIM_WEIGHTS,
        filter_size: int = 11,
        filter_sigma: float = 1.5,
        k1: float = 0.01,
        k2: float = 0.03,
        *,
        channel_axis: int = -1,
        numerics: str = "exact",
        convention: str = "tensorflow",
        reduction: str = "sum_over_batch_size",
        name: str = "ms_ssim_loss",
    ):
        super().__init__(name=name, reduction=reduction)
        self.parameters_ = LossParameters(
            max_val, power_factors, filter_size, filter_sigma, k1, k2, channel_axis, numerics, convention
        )

    def __call__(self, y_true, y_pred, sample_weight=None):
        # (Keras casts both to float32 before ``call``: an integer target's range, 0-255, would pass unseen
        # against a float prediction's 0-1; the images' own dtypes are checked as msssim checks them)
        same_conversion(*(_dtype(t) for t in (y_pred, y_true)))
        return super().__call__(y_true, y_pred, sample_weight)

    def call(self, y_true, y_pred):
        return self.parameters_.loss(y_pred, y_true)

    def get_config(self) -> dict:
        """The parameters, so that a saved model's loss is this one when loaded
        (``keras.models.load_model``; the class is registered as ``msssim>MSSSIMLoss``)."""
        p = self.parameters_
        return {
            **super().get_config(),
            "max_val": p.max_val,
            "power_factors": list(p.power_factors),
            "filter_size": p.filter_size,
            "filter_sigma": p.filter_sigma,
            "k1": p.k1,
            "k2": p.k2,
            "channel_axis": p.channel_axis,
            "numerics": p.numerics,
            "convention": p.convention,
        }


def _dtype(tensor) -> np.dtype:
    """A tensor's dtype as NumPy's (any float, bfloat16 too, as float32: all are a plain cast)."""
    name = keras.backend.standardize_dtype(getattr(tensor, "dtype", None) or np.asarray(tensor).dtype)
    return np.dtype(np.float32) if "float" in name else np.dtype(name)

"""A Keras 3 loss: ``msssim.keras.MSSSIMLoss``.

Importing this module imports Keras; ``import msssim`` alone does not. The
tensors Keras hands the loss are its backend's (TensorFlow, JAX or torch), and
msssim scores each with that library.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from msssim._ssim import MSSSIM_WEIGHTS, LossParameters


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
            max_val, tuple(power_factors), filter_size, filter_sigma, k1, k2, channel_axis, numerics, convention
        )

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

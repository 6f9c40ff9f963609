"""PyTorch losses: ``msssim.torch.MSSSIMLoss``.

Importing this module imports torch; ``import msssim`` alone does not.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from msssim import _validate
from msssim._ssim import MSSSIM_WEIGHTS, LossParameters

_REDUCTIONS = ("mean", "sum", "none")


class MSSSIMLoss(torch.nn.Module):
    """``1 - MS-SSIM``, TensorFlow's formula, finite gradients everywhere.

    Parameters are those of :func:`msssim.ssim_multiscale`; ``channel_axis``
    defaults to the axis before the spatial ones: ``-3`` for ``[N, C, H, W]``
    tensors, ``-4`` for volumes ``[N, C, D, H, W]`` (``spatial_dims=3``);
    ``numerics="exact"`` (the
    default) evaluates it within 1e-6 of float64, with float64 gradients, on
    the CPU and the GPU alike; ``"tensorflow-cpu"`` gives TF-CPU's digits;
    ``convention="pytorch-msssim"``, ``"piq"`` or ``"torchmetrics"`` that
    library's value. ``reduction``: ``"mean"`` (default), ``"sum"`` or
    ``"none"`` (one loss per image).

    Examples
    --------
    >>> import torch
    >>> from msssim.torch import MSSSIMLoss
    >>> target = torch.rand(2, 3, 176, 176)
    >>> prediction = (target + 0.05 * torch.randn_like(target)).clamp(0, 1).requires_grad_()
    >>> loss = MSSSIMLoss(max_val=1.0)(prediction, target)
    >>> loss.backward()
    >>> bool(torch.isfinite(prediction.grad).all())
    True
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
        channel_axis: int | None = None,
        spatial_dims: int = 2,
        numerics: str = "exact",
        convention: str = "tensorflow",
        reduction: str = "mean",
    ):
        super().__init__()
        if reduction not in _REDUCTIONS:
            msg = f"reduction must be one of {_REDUCTIONS}, got {reduction!r}."
            raise ValueError(msg)
        spatial_dims = _validate.spatial_dims(spatial_dims)
        if channel_axis is None:
            channel_axis = -spatial_dims - 1
        self.parameters_ = LossParameters(
            max_val,
            power_factors,
            filter_size,
            filter_sigma,
            k1,
            k2,
            channel_axis,
            numerics,
            convention,
            spatial_dims,
        )
        self.reduction = reduction

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        loss = self.parameters_.loss(input, target)
        if self.reduction == "mean":
            return loss.mean()
        return loss.sum() if self.reduction == "sum" else loss

"""msssim: TensorFlow's MS-SSIM and SSIM formula, evaluated exactly, without TensorFlow."""

from msssim._io import ImageReadError, read_image
from msssim._ssim import (
    MSSSIM_WEIGHTS,
    MultiScaleParts,
    ssim,
    ssim_multiscale,
    ssim_multiscale_parts,
)

__version__ = "0.3.0"

__all__ = [
    "ImageReadError",
    "MSSSIM_WEIGHTS",
    "MultiScaleParts",
    "__version__",
    "read_image",
    "ssim",
    "ssim_multiscale",
    "ssim_multiscale_parts",
]

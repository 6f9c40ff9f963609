"""Real photos and the distortions users feed a metric: scikit-image's bundled
samples (no download), JPEG at several qualities, blur and noise, as uint8."""

from __future__ import annotations

import functools
import io

import numpy as np
import skimage.data
from PIL import Image
from scipy import ndimage


@functools.cache
def photo(name: str) -> np.ndarray:
    """A scikit-image sample (bundled with the package: no download), [H, W, C] uint8."""
    image = getattr(skimage.data, name)()
    return image[..., None] if image.ndim == 2 else image


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(image.squeeze(-1) if image.shape[-1] == 1 else image).save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(buffer)).reshape(image.shape)


def blur(image: np.ndarray, sigma: float = 2.0) -> np.ndarray:
    blurred = ndimage.gaussian_filter(image.astype(np.float64), (sigma, sigma, 0))
    return np.clip(np.round(blurred), 0, 255).astype(np.uint8)


def noisy(image: np.ndarray, sigma: float = 10.0, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0, sigma, image.shape)
    return np.clip(np.round(image + noise), 0, 255).astype(np.uint8)


DISTORTIONS = {
    "jpeg q5": lambda a: jpeg(a, 5),
    "jpeg q30": lambda a: jpeg(a, 30),
    "jpeg q75": lambda a: jpeg(a, 75),
    "blur": blur,
    "noise": noisy,
}

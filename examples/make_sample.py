"""Make the bundled sample pair: a synthetic 320x240 RGB scene and a degraded copy.

The scene is drawn from formulas (no outside image), so the pair is ours to ship.
Run: python examples/make_sample.py
"""

from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

HERE = Path(__file__).parent


def scene(height: int = 240, width: int = 320) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width] / np.float64(max(height, width))
    sky = np.stack([0.35 + 0.3 * y, 0.55 + 0.25 * y, 0.9 - 0.2 * y], axis=-1)
    hills = (y > 0.45 + 0.08 * np.sin(9 * x) + 0.04 * np.sin(23 * x + 1)).astype(np.float64)
    grass = np.stack([0.2 + 0.1 * np.sin(80 * x * y), 0.5 + 0.2 * np.cos(60 * x), 0.15 + 0 * x], axis=-1)
    sun = np.exp(-((x - 0.75) ** 2 + (y - 0.18) ** 2) / 0.003)[..., None] * np.array([1.0, 0.8, 0.3])
    rng = np.random.default_rng(2003)
    texture = 0.05 * rng.standard_normal((height, width, 1)) * hills[..., None]
    img = sky * (1 - hills[..., None]) + grass * hills[..., None] + sun + texture
    return (np.clip(img, 0, 1) * 255).round().astype(np.uint8)


def main() -> None:
    reference = Image.fromarray(scene())
    reference.save(HERE / "reference.png")
    distorted = reference.filter(ImageFilter.GaussianBlur(1.2))
    noise = np.random.default_rng(11).normal(0, 4, (240, 320, 3))
    distorted = np.clip(np.asarray(distorted) + noise, 0, 255).round().astype(np.uint8)
    Image.fromarray(distorted).save(HERE / "distorted.png")


if __name__ == "__main__":
    main()

"""How far TF-CPU and msssim are from TF's MS-SSIM formula, measured in one run.

    python benchmarks/parity.py

Prints markdown tables, every figure measured on this machine (nothing is
hard-coded), against live ``tensorflow-cpu`` and the float64 oracle of the
formula in ``tests/oracle.py`` (independent of msssim's code):

1. TF-CPU against its own formula: |TF - oracle| for SSIM and MS-SSIM on real
   and photo-like pairs (each picture against a copy blurred by a gaussian of
   sigma 2 px, a photo against its JPEG at quality 5, two constant images), and
   the 4K pair's MS-SSIM in dB (-10 log10(1 - score)) from TF and from float64;
2. the same pairs through msssim: ``numerics="exact"`` (the default) against
   the oracle, ``numerics="tensorflow-cpu"`` against TF, default engine;
3. the 210-case test sweep (``tests/cases.py``, seeds 0-209): the largest
   differences of each numerics and engine from its target, scores
   (``ssim_multiscale`` and ``ssim`` cases) and ``ssim_map`` pixels apart.

Takes about 3 minutes on a 2-core x86_64 machine, three quarters of it the
sweep (the last line gives the split); peak memory about 4 GiB (the 4K pair).
"""

from __future__ import annotations

import io
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import cases  # noqa: E402
import numpy as np  # noqa: E402
import oracle  # noqa: E402
import skimage.color  # noqa: E402
import skimage.data  # noqa: E402
import tensorflow as tf  # noqa: E402
from PIL import Image  # noqa: E402
from scipy import ndimage  # noqa: E402

import msssim  # noqa: E402

FUNCTIONS = ("ssim", "ssim_multiscale")
LABELS = {"ssim": "SSIM", "ssim_multiscale": "MS-SSIM"}
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "retina")
TILE = (540, 640)  # mosaic tile: 1080p is 2 x 3 tiles, 4K is 4 x 6
BLUR_SIGMA = 2.0


def fmt(x: float) -> str:
    """1.2e-07 style; exact zeros as 0."""
    return "0" if x == 0 else f"{x:.1e}"


def db(score: float) -> float:
    return -10 * np.log10(1 - score)


# --- the pairs ----------------------------------------------------------------


def _resized(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """``image`` scaled (bicubic) to cover height x width, then centre-cropped."""
    scale = max(height / image.shape[0], width / image.shape[1])
    size = (max(width, round(image.shape[1] * scale)), max(height, round(image.shape[0] * scale)))
    big = np.asarray(Image.fromarray(image).resize(size, Image.BICUBIC))
    top, left = (big.shape[0] - height) // 2, (big.shape[1] - width) // 2
    return big[top : top + height, left : left + width]


def _mosaic(height: int, width: int) -> np.ndarray:
    """A photo-like uint8 RGB picture: scikit-image's bundled photos as tiles,
    flipped in turn so that no two tiles repeat."""
    rows, cols = height // TILE[0], width // TILE[1]
    tiles = [_resized(getattr(skimage.data, PHOTOS[i % len(PHOTOS)])(), *TILE) for i in range(rows * cols)]
    tiles = [t[:: 1 - 2 * (i // len(PHOTOS) % 2), :: 1 - 2 * (i // (2 * len(PHOTOS)) % 2)] for i, t in enumerate(tiles)]
    return np.concatenate([np.concatenate(tiles[r * cols : (r + 1) * cols], axis=1) for r in range(rows)], axis=0)


def _blurred_pair(image: np.ndarray):
    """float32 [0, 1] picture and its copy blurred spatially (sigma 2 px), max_val 1."""
    a = image.astype(np.float32) / 255 if image.dtype == np.uint8 else image.astype(np.float32)
    return a, ndimage.gaussian_filter(a, (BLUR_SIGMA, BLUR_SIGMA, 0)), 1.0


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(buffer))


def pairs():
    """(label, img1, img2, max_val), built one at a time to keep memory down."""
    yield ("astronaut 512x768 RGB, blur", *_blurred_pair(_resized(skimage.data.astronaut(), 512, 768)))
    yield ("1080x1920 RGB mosaic, blur", *_blurred_pair(_mosaic(1080, 1920)))
    yield ("2160x3840 RGB mosaic, blur", *_blurred_pair(_mosaic(2160, 3840)))
    grey = skimage.color.rgb2gray(_mosaic(1080, 1920))[..., None]
    yield ("1080x1920 grey mosaic, blur", *_blurred_pair(grey))
    photo = skimage.data.astronaut()
    yield "astronaut 512x512 uint8 vs JPEG q5", photo, _jpeg(photo, 5), 255
    yield (
        "constant 100 vs 120, 200x200x3 uint8",
        np.full((200, 200, 3), 100, np.uint8),
        np.full((200, 200, 3), 120, np.uint8),
        255,
    )


# --- sections 1 and 2: the pairs ----------------------------------------------------


def measure_pair(img1, img2, max_val) -> dict:
    """Each function's score from the oracle, TF and msssim's two numerics."""
    row = {}
    for name in FUNCTIONS:
        row[name] = {
            "oracle": float(getattr(oracle, name)(img1, img2, max_val)),
            "tf": float(getattr(tf.image, name)(tf.constant(img1), tf.constant(img2), max_val)),
            "exact": float(getattr(msssim, name)(img1, img2, max_val)),
            "tensorflow-cpu": float(getattr(msssim, name)(img1, img2, max_val, numerics="tensorflow-cpu")),
        }
    return row


def print_tf_table(rows: dict) -> None:
    print("## 1. How far TF-CPU is from its own formula: |TF-CPU - float64 oracle|\n")
    print("| pair | SSIM (float64) | SSIM: abs(TF - float64) | MS-SSIM (float64) | MS-SSIM: abs(TF - float64) |")
    print("|---|---|---|---|---|")
    for label, row in rows.items():
        cells = [f"{row[n]['oracle']:.6f} | {fmt(abs(row[n]['tf'] - row[n]['oracle']))}" for n in FUNCTIONS]
        print(f"| {label} | " + " | ".join(cells) + " |")
    for label, row in rows.items():
        if label.startswith("2160"):
            ms = row["ssim_multiscale"]
            print(
                f"\n{label}, MS-SSIM in dB: TF-CPU {db(ms['tf']):.4f} dB, float64 {db(ms['oracle']):.4f} dB "
                f"(difference {fmt(abs(db(ms['tf']) - db(ms['oracle'])))} dB)"
            )


def print_msssim_table(rows: dict) -> None:
    print("\n## 2. msssim on the same pairs (default engine)\n")
    print(
        "| pair | exact: SSIM vs float64 | exact: MS-SSIM vs float64 "
        "| tensorflow-cpu: SSIM vs TF | tensorflow-cpu: MS-SSIM vs TF |"
    )
    print("|---|---|---|---|---|")
    for label, row in rows.items():
        exact = [fmt(abs(row[n]["exact"] - row[n]["oracle"])) for n in FUNCTIONS]
        faithful = [fmt(abs(row[n]["tensorflow-cpu"] - row[n]["tf"])) for n in FUNCTIONS]
        print(f"| {label} | " + " | ".join(exact + faithful) + " |")


# --- section 3: the sweep ----------------------------------------------------------


def _largest(got, want) -> float:
    return float(np.max(np.abs(np.asarray(got, np.float64) - np.asarray(want, np.float64)), initial=0.0))


def sweep(seeds=range(210)) -> None:
    """Largest difference of each (numerics, engine) from its target, by kind of output."""
    runs = {  # label: (msssim options, target)
        "tensorflow-cpu, numba vs TF": ({"numerics": "tensorflow-cpu"}, "tf"),
        "tensorflow-cpu, reference vs TF": ({"numerics": "tensorflow-cpu", "engine": "reference"}, "tf"),
        "exact, numba vs float64": ({"numerics": "exact"}, "oracle"),
        "exact, reference vs float64": ({"numerics": "exact", "engine": "reference"}, "oracle"),
    }
    worst = {label: {"score": 0.0, "pixel": 0.0} for label in runs}
    counts = {"score": 0, "pixel": 0}
    for seed in seeds:
        recipe = cases.draw(seed)
        img1, img2 = cases.build(recipe)
        oracle_fn = oracle.ssim_multiscale if recipe["function"] == "ssim_multiscale" else oracle.ssim
        targets = {
            "tf": cases.run_tensorflow(tf, recipe, img1, img2),
            "oracle": oracle_fn(img1, img2, **cases.arguments(recipe)),
        }
        kind = "pixel" if recipe["function"] == "ssim_map" else "score"
        counts[kind] += 1
        for label, (options, target) in runs.items():
            got = cases.run_msssim(recipe, img1, img2, **options)
            worst[label][kind] = max(worst[label][kind], _largest(got, targets[target]))
    print(f"\n## 3. The {len(seeds)}-case sweep: largest difference from the target\n")
    scores, pixels = f"scores ({counts['score']} cases)", f"ssim_map pixels ({counts['pixel']} cases)"
    print(f"| numerics, engine vs target | {scores} | {pixels} |")
    print("|---|---|---|")
    for label, w in worst.items():
        print(f"| {label} | {fmt(w['score'])} | {fmt(w['pixel'])} |")


def main() -> None:
    start = time.perf_counter()
    print(f"# tensorflow {tf.__version__}, msssim {msssim.__version__}, numpy {np.__version__}\n")
    rows = {label: measure_pair(img1, img2, max_val) for label, img1, img2, max_val in pairs()}
    print_tf_table(rows)
    print_msssim_table(rows)
    middle = time.perf_counter()
    sweep()
    end = time.perf_counter()
    print(f"\nTook {end - start:.0f} s: pairs {middle - start:.0f} s, sweep {end - middle:.0f} s.")


if __name__ == "__main__":
    main()

"""Why libraries disagree: every library's MS-SSIM of the same photos, side by side.

    python benchmarks/libraries.py [--quick]

For scikit-image sample photos (even and odd sizes) at several strengths of
JPEG compression, blur and noise, prints one markdown table of MS-SSIM scores:
TF's formula (msssim's default, exact), TF-CPU's own digits (``tf.image``, live),
and pytorch-msssim's, piq's and torchmetrics' values as msssim computes them
(``convention=``); then the largest disagreement per pair, in score and in
MS-SSIM dB (``-10 log10(1 - score)``). Each convention is also computed by its
library, live, and the largest difference is printed below the table: the
check that the table is theirs. Needs the test extra and piq (--no-deps).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import numpy as np  # noqa: E402
import peers  # noqa: E402
import pytorch_msssim  # noqa: E402
import tensorflow as tf  # noqa: E402
import torch  # noqa: E402
from photos import blur, jpeg, noisy, photo  # noqa: E402
from torchmetrics.functional.image import multiscale_structural_similarity_index_measure  # noqa: E402

import msssim  # noqa: E402

CONVENTIONS = ("pytorch-msssim", "piq", "torchmetrics")
DISTORTIONS = {
    "JPEG q5": lambda a: jpeg(a, 5),
    "JPEG q20": lambda a: jpeg(a, 20),
    "JPEG q50": lambda a: jpeg(a, 50),
    "blur σ1": lambda a: blur(a, 1.0),
    "blur σ2": lambda a: blur(a, 2.0),
    "blur σ4": lambda a: blur(a, 4.0),
    "noise σ5": lambda a: noisy(a, 5.0),
    "noise σ15": lambda a: noisy(a, 15.0),
    "noise σ30": lambda a: noisy(a, 30.0),
}
# (photo, crop): even sizes, where the pyramids agree, and odd ones, where they do not.
IMAGES = {
    "astronaut 512x512": ("astronaut", (512, 512)),
    "astronaut 301x387": ("astronaut", (301, 387)),
    "coffee 400x600": ("coffee", (400, 600)),
    "chelsea 300x451": ("chelsea", (300, 451)),
    "camera 511x509 grey": ("camera", (511, 509)),
}


def _library(convention: str, img1: np.ndarray, img2: np.ndarray) -> float:
    """The library's own value, on float64 tensors in [0, 1]."""
    x, y = (torch.from_numpy(a.astype(np.float64) / 255).permute(2, 0, 1)[None].contiguous() for a in (img1, img2))
    if convention == "pytorch-msssim":
        return pytorch_msssim.ms_ssim(x, y, data_range=1.0).item()
    if convention == "piq":
        return peers.piq_modules()[1].multi_scale_ssim(x, y, data_range=1.0).item()
    return multiscale_structural_similarity_index_measure(x, y, data_range=1.0).item()


def db(score: float) -> float:
    return math.inf if score >= 1 else -10 * math.log10(1 - score)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two images, three distortions")
    args = parser.parse_args()
    images = dict(list(IMAGES.items())[:2]) if args.quick else IMAGES
    distortions = dict(list(DISTORTIONS.items())[::3]) if args.quick else DISTORTIONS
    columns = ["TF formula (msssim)", "TF-CPU (tf.image)", *CONVENTIONS]
    print("| image | distortion | " + " | ".join(columns) + " | largest gap | gap in dB |")
    print("|---|---|" + "---|" * (len(columns) + 2))
    check, gaps = 0.0, []
    for label, (name, (height, width)) in images.items():
        reference = np.ascontiguousarray(photo(name)[:height, :width])
        for distortion, distort in distortions.items():
            distorted = distort(reference)
            scores = [
                float(msssim.ssim_multiscale(reference, distorted, 255)),
                float(tf.image.ssim_multiscale(tf.constant(reference), tf.constant(distorted), 255)),
            ]
            for convention in CONVENTIONS:
                ours = float(msssim.ssim_multiscale(reference, distorted, 255, convention=convention))
                check = max(check, abs(ours - _library(convention, reference, distorted)))
                scores.append(ours)
            gap = max(scores) - min(scores)
            gap_db = max(map(db, scores)) - min(map(db, scores))
            gaps.append((gap, label, distortion))
            cells = " | ".join(f"{s:.5f}" for s in scores)
            print(f"| {label} | {distortion} | {cells} | {gap:.1e} | {gap_db:.3f} |")
    largest = max(gaps)
    print()
    print(f"Largest gap: {largest[0]:.1e} ({largest[1]}, {largest[2]}).")
    print(
        f"Check: every convention column within {check:.1e} of its library run live "
        "(pytorch-msssim, piq, torchmetrics on float64 tensors)."
    )


if __name__ == "__main__":
    main()

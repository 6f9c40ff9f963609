"""Each ``convention=`` against its own library on the CPU, in one run.

    python benchmarks/bench_conventions.py [--repeat 5]

MS-SSIM of a 1080p RGB float32 pair (and a batch of 16 256x256 pairs): msssim
with ``convention="pytorch-msssim" | "piq" | "torchmetrics"`` on NumPy arrays
against pytorch-msssim 1.0.0, piq 0.8.0 and torchmetrics 1.9.0 on float32
torch tensors (NCHW, no gradient), best of ``--repeat`` after one warm-up
call each. Needs the test extra and piq (--no-deps).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import numpy as np  # noqa: E402
import peers  # noqa: E402
import pytorch_msssim  # noqa: E402
import torch  # noqa: E402
from torchmetrics.functional.image import multiscale_structural_similarity_index_measure  # noqa: E402

import msssim  # noqa: E402

LIBRARIES = {
    "pytorch-msssim": lambda x, y: pytorch_msssim.ms_ssim(x, y, data_range=1.0, size_average=False),
    "piq": lambda x, y: peers.piq_modules()[1].multi_scale_ssim(x, y, data_range=1.0, reduction="none"),
    "torchmetrics": lambda x, y: multiscale_structural_similarity_index_measure(x, y, data_range=1.0, reduction="none"),
}
WORKLOADS = {"1x1080x1920x3": (1, 1080, 1920, 3), "16x256x256x3": (16, 256, 256, 3)}


def best(function, repeat: int) -> float:
    function()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"# {os.cpu_count()} cores, torch {torch.__version__} with {torch.get_num_threads()} threads")
    print("| workload | convention | msssim | the library | library / msssim | largest difference |")
    print("|---|---|---|---|---|---|")
    for label, shape in WORKLOADS.items():
        a = rng.random(shape, dtype=np.float32)
        b = np.clip(a + 0.1 * rng.standard_normal(shape, dtype=np.float32), 0, 1)
        x, y = (torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous() for arr in (a, b))
        for convention, library in LIBRARIES.items():
            ours = best(partial(msssim.ssim_multiscale, a, b, 1.0, convention=convention), args.repeat)
            with torch.no_grad():
                theirs = best(partial(library, x, y), args.repeat)
                difference = np.abs(msssim.ssim_multiscale(a, b, 1.0, convention=convention) - library(x, y).numpy())
            print(
                f"| {label} | {convention} | {ours * 1e3:.1f} ms | {theirs * 1e3:.1f} ms | {theirs / ours:.1f}x "
                f"| {difference.max():.1e} |"
            )


if __name__ == "__main__":
    main()

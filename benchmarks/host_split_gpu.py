"""Where a GPU call's wall time goes on the host: the same calls with parts left out.

    python benchmarks/host_split_gpu.py        # on a CUDA machine, about a minute

For each of ``bench_gpu.py``'s workloads (medians of ``--repeat``, each call
waited for): the forward under ``no_grad`` and the forward + backward as
``bench_gpu.py`` times them; the same without the finite check's read of
the score (``torch_engine.all_finite`` answering True: no wait for the GPU
inside the call); and the host time of step 1-3's validation alone
(``_ssim._prepare``, no kernel). What is left when both are taken away is
the launches, torch's dispatch and autograd. A measurement, not a mode:
msssim always checks.
"""

from __future__ import annotations

import argparse

import torch
from bench_gpu import WORKLOADS, median_ms, pair, score

import msssim
from msssim import _conventions, _ssim
from msssim._engines import torch_engine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    device = torch.device("cuda")
    weights, conv = msssim.MSSSIM_WEIGHTS, _conventions.convention("tensorflow", "exact")
    print("| NCHW | no-grad fwd | without the read | fwd+bwd | without the read | validation (host) |")
    print("|---|---|---|---|---|---|")
    checked = torch_engine.all_finite
    for label, shape in WORKLOADS.items():
        x, y = pair(shape, device)
        forward = lambda: torch.no_grad()(score)(x, y, weights, grad=False)  # noqa: E731, B023
        both = lambda: score(x, y, weights)  # noqa: E731, B023
        row = []
        for call in (forward, both):
            torch_engine.all_finite = checked
            row.append(median_ms(call, device, args.repeat))
            torch_engine.all_finite = lambda *arrays: True
            row.append(median_ms(call, device, args.repeat))
        torch_engine.all_finite = checked
        prepare = lambda: _ssim._prepare(x, y, 1.0, 11, 1.5, 0.01, 0.03, 5, -3, None, "exact", None, conv, 2)  # noqa: E731, B023
        row.append(median_ms(prepare, device, args.repeat))
        print(f"| {label} | " + " | ".join(f"{v:.2f} ms" for v in row) + " |", flush=True)


if __name__ == "__main__":
    main()

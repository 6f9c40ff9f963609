"""msssim on torch tensors against pytorch-msssim, forward and backward, in one run.

    python benchmarks/bench_torch.py [--device cpu|cuda] [--repeat 5]

Workloads (NCHW float32): the anchors' 1x3x1080x1920, 16x3x256x256 and
1x1x2160x3840 pairs on the CPU; 16x3x512x512 on a GPU. Each is timed as the
median of ``--repeat`` forward+backward passes after a warm-up, and checked
first: the two libraries' values, and msssim's against the NumPy engine.
Needs pytorch-msssim.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

import msssim

WORKLOADS = {
    "cpu": [(1, 3, 1080, 1920), (16, 3, 256, 256), (1, 1, 2160, 3840)],
    "cuda": [(16, 3, 512, 512)],
}


def _time(step, device: str, repeat: int) -> float:
    step()
    times = []
    for _ in range(repeat):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        step()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    from pytorch_msssim import ms_ssim

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    device = args.device
    name = torch.cuda.get_device_name() if device == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"# {name}; torch {torch.__version__}; forward + backward, median of {args.repeat}")
    print("| workload (NCHW) | msssim | pytorch-msssim | pytorch-msssim / msssim | value difference |")
    print("|---|---|---|---|---|")
    for shape in WORKLOADS[device]:
        generator = torch.Generator().manual_seed(0)
        target = torch.rand(shape, generator=generator)
        noisy = (target + 0.05 * torch.randn(shape, generator=generator)).clamp(0, 1)
        target, noisy = target.to(device), noisy.to(device)

        def ours():
            x = noisy.clone().requires_grad_(True)
            value = msssim.ssim_multiscale(x, target, 1.0, channel_axis=-3)
            value.sum().backward()
            return value.detach()

        def theirs():
            x = noisy.clone().requires_grad_(True)
            value = ms_ssim(x, target, data_range=1.0, size_average=False)
            value.sum().backward()
            return value.detach()

        ours_value, their_value = ours().cpu().numpy(), theirs().cpu().numpy()
        numpy_value = msssim.ssim_multiscale(noisy.cpu().numpy(), target.cpu().numpy(), 1.0, channel_axis=-3)
        assert np.abs(ours_value - numpy_value).max() < 1e-4, (ours_value, numpy_value)
        ours_s, theirs_s = _time(ours, device, args.repeat), _time(theirs, device, args.repeat)
        print(
            f"| {'x'.join(map(str, shape))} | {ours_s * 1e3:.1f} ms | {theirs_s * 1e3:.1f} ms | "
            f"{theirs_s / ours_s:.2f}x | {np.abs(ours_value - their_value).max():.1e} |",
            flush=True,
        )


if __name__ == "__main__":
    main()

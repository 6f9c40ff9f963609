"""msssim on torch tensors against pytorch-msssim, forward and backward, in one run.

    python benchmarks/bench_torch.py [--device cpu|cuda] [--repeat 5]

Workloads (NCHW float32): the anchors' 1x3x1080x1920, 16x3x256x256 and
1x1x2160x3840 pairs on the CPU; 16x3x512x512 on a GPU. Each is timed as the
median of ``--repeat`` forward+backward passes after a warm-up, and as a
forward pass under ``torch.no_grad()`` (scoring, no training), and checked
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
    check_device(device)
    name = torch.cuda.get_device_name() if device == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"# {name}; torch {torch.__version__}; forward + backward, median of {args.repeat}")
    print(
        "| workload (NCHW) | msssim | pytorch-msssim | pytorch-msssim / msssim | no-grad forward: msssim | "
        "pytorch-msssim | ratio | vs pytorch-msssim | vs NumPy engine |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for shape in WORKLOADS[device]:
        generator = torch.Generator().manual_seed(0)
        target = torch.rand(shape, generator=generator)
        noisy = (target + 0.05 * torch.randn(shape, generator=generator)).clamp(0, 1)
        target, noisy = target.to(device), noisy.to(device)

        def ours(noisy=noisy, target=target):
            x = noisy.clone().requires_grad_(True)
            value = msssim.ssim_multiscale(x, target, 1.0, channel_axis=-3)
            value.sum().backward()
            return value.detach()

        def theirs(noisy=noisy, target=target):
            x = noisy.clone().requires_grad_(True)
            value = ms_ssim(x, target, data_range=1.0, size_average=False)
            value.sum().backward()
            return value.detach()

        ours_value, their_value = ours().cpu().numpy(), theirs().cpu().numpy()
        numpy_value = msssim.ssim_multiscale(noisy.cpu().numpy(), target.cpu().numpy(), 1.0, channel_axis=-3)
        # On the CPU the values are the NumPy engine's; on a GPU torch's, with
        # accurate H×W means (as TF's GPU reduction), ~1e-4 apart at this size.
        tolerance = 0.0 if device == "cpu" else 1e-3
        assert np.abs(ours_value - numpy_value).max() <= tolerance, (ours_value, numpy_value)
        ours_s, theirs_s = _time(ours, device, args.repeat), _time(theirs, device, args.repeat)

        def score_ours(noisy=noisy, target=target):
            return msssim.ssim_multiscale(noisy, target, 1.0, channel_axis=-3)

        def score_theirs(noisy=noisy, target=target):
            return ms_ssim(noisy, target, data_range=1.0, size_average=False)

        with torch.no_grad():
            ours_f, theirs_f = _time(score_ours, device, args.repeat), _time(score_theirs, device, args.repeat)
        print(
            f"| {'x'.join(map(str, shape))} | {ours_s * 1e3:.1f} ms | {theirs_s * 1e3:.1f} ms | "
            f"{theirs_s / ours_s:.2f}x | {ours_f * 1e3:.1f} ms | {theirs_f * 1e3:.1f} ms | {theirs_f / ours_f:.2f}x | "
            f"{np.abs(ours_value - their_value).max():.1e} | "
            f"{np.abs(ours_value - numpy_value).max():.1e} |",
            flush=True,
        )


def check_device(device: str) -> None:
    """On the device: identical half-precision images give 1, and the gradient of
    anti-correlated images is finite (zero through the clamp)."""
    img = torch.rand(2, 3, 176, 176, device=device)
    assert msssim.ssim_multiscale(img.half(), img.half(), 1.0, channel_axis=-3).tolist() == [1.0, 1.0]
    x = img.clone().requires_grad_(True)
    value = msssim.ssim_multiscale(x, 1 - img, 1.0, channel_axis=-3).sum()
    value.backward()
    assert torch.isfinite(x.grad).all() and value.item() == 0.0
    out = msssim.ssim_multiscale(img, img.flip(-1), 1.0, channel_axis=-3)
    assert out.device.type == device and isinstance(out, torch.Tensor)
    print(f"# checks on {device}: fp16 identical = 1, finite anti-correlated gradient, result on {out.device}")


if __name__ == "__main__":
    main()

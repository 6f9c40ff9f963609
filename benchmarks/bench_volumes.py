"""3-D MS-SSIM (``spatial_dims=3``) against pytorch-msssim's 3-D ``ms_ssim`` on the CPU, in one run.

    python benchmarks/bench_volumes.py [--repeat 3] [--depth 176]

A 176x256x256 float32 volume pair (grey, values in [0, 1], the second the
first plus noise): msssim on NumPy arrays (exact numerics, TF's convention and
pytorch-msssim's) against pytorch-msssim 1.0.0's ``ms_ssim`` on the same
volumes as [1, 1, D, H, W] float32 tensors (no gradient), best of
``--repeat`` after one warm-up call each. Also: the gradient of both in torch,
and the peak memory of each call above what its process held just before
(each in a process of its own, from Linux's VmHWM, reset before the call).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time

import numpy as np
import pytorch_msssim
import torch

import msssim


def volumes(depth: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    a = rng.random((depth, 256, 256, 1), dtype=np.float32)
    b = np.clip(a + 0.1 * rng.standard_normal(a.shape, dtype=np.float32), 0, 1)
    return a, b


def _tensors(a, b, grad=False):
    x, y = (torch.from_numpy(np.ascontiguousarray(np.moveaxis(v, -1, 0)))[None] for v in (a, b))  # [1, 1, D, H, W]
    return x.clone().requires_grad_(grad), y


def calls(a: np.ndarray, b: np.ndarray) -> dict:
    """The timed calls, each returning its score."""

    def torch_grad(function):
        def call():
            x, y = _tensors(a, b, grad=True)
            score = function(x, y)
            score.sum().backward()
            return float(score.detach().sum())

        return call

    def ours(x, y):
        return msssim.ssim_multiscale(x, y, 1.0, channel_axis=1, spatial_dims=3)

    return {
        "msssim (NumPy)": lambda: float(msssim.ssim_multiscale(a, b, 1.0, spatial_dims=3)),
        "msssim, convention='pytorch-msssim'": lambda: float(
            msssim.ssim_multiscale(a, b, 1.0, spatial_dims=3, convention="pytorch-msssim")
        ),
        "pytorch-msssim ms_ssim": lambda: float(pytorch_msssim.ms_ssim(*_tensors(a, b), data_range=1.0)),
        "msssim torch, forward + backward": torch_grad(ours),
        "pytorch-msssim, forward + backward": torch_grad(lambda x, y: pytorch_msssim.ms_ssim(x, y, data_range=1.0)),
    }


def best(function, repeat: int) -> tuple[float, float]:
    value = function()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times), value


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field))


def _peak(name: str, depth: int, queue) -> None:
    a, b = volumes(depth)
    function = calls(a, b)[name]
    function()  # warm-up: compiled kernels, torch's allocator
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # Linux: the peak (VmHWM) starts again from the current resident size
    before = _status_kib("VmRSS:")
    function()
    queue.put((_status_kib("VmHWM:") - before) / 1024)


def peak_mib(name: str, depth: int) -> float:
    """The call's peak resident memory above what its process held just
    before, MiB (a fresh process, after one warm-up call; Linux only)."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_peak, args=(name, depth, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--depth", type=int, default=176)
    args = parser.parse_args()
    a, b = volumes(args.depth)
    print(f"# {os.cpu_count()} cores, torch {torch.__version__} with {torch.get_num_threads()} threads")
    print(f"# {args.depth}x256x256 float32 pair ({a.nbytes / 2**20:.0f} MiB each), best of {args.repeat}")
    print("| call | seconds | score | pytorch-msssim's time / this | peak memory above start |")
    print("|---|---|---|---|---|")
    results = {name: best(function, args.repeat) for name, function in calls(a, b).items()}
    for name, (seconds, value) in results.items():
        theirs = "pytorch-msssim, forward + backward" if "backward" in name else "pytorch-msssim ms_ssim"
        ratio = results[theirs][0] / seconds
        print(f"| {name} | {seconds:.3f} | {value:.7f} | {ratio:.1f}x | {peak_mib(name, args.depth):.0f} MiB |")
    ours, theirs = results["msssim, convention='pytorch-msssim'"][1], results["pytorch-msssim ms_ssim"][1]
    print(f"\nconvention='pytorch-msssim' vs pytorch-msssim: {abs(ours - theirs):.1e} apart")


if __name__ == "__main__":
    main()

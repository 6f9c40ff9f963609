"""Where a GPU call's time goes, and the Triton kernels' launch settings tried.

    python benchmarks/tune_gpu.py               # on a CUDA machine, about 2 minutes
    TRITON_INTERPRET=1 python benchmarks/tune_gpu.py --smoke   # CPU: checks the script

For each of ``bench_gpu.py``'s workloads, one forward + backward of msssim
under torch's profiler: the GPU time of each kernel (largest first) and the
GPU's busy share of the call. Then, for each setting of ``triton_kernels``'
tile, warps per program, rows per row-pass chunk and programs per
multiprocessor, medians of forward + backward and of the forward under
``no_grad``, and the largest difference of its scores from the first
setting's (``bench_gpu.py`` checks that one against float64).
"""

from __future__ import annotations

import argparse
import traceback

import numpy as np
import torch
from bench_gpu import SMOKE, WORKLOADS, median_ms, pair, score

import msssim
from msssim._engines import triton_kernels

# (tile, warps, chunk, programs per SM): kernel_stats.py finds no spills for these on sm_90
SETTINGS = (
    ((32, 32), 4, 16, 4),
    ((32, 32), 4, 16, 2),
    ((32, 32), 8, 16, 2),
    ((32, 32), 8, 16, 3),
    ((64, 32), 8, 16, 2),
    ((16, 32), 4, 8, 4),
    ((16, 32), 4, 8, 8),
)


def profile(x, y, weights) -> None:
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if x.is_cuda else [])
    score(x, y, weights)  # (compiled and warm)
    if x.is_cuda:
        torch.cuda.synchronize()
    with profile(activities=activities) as prof:
        score(x, y, weights)
        if x.is_cuda:
            torch.cuda.synchronize()
    kernels = [e for e in prof.events() if e.device_type.name == "CUDA"]
    if not kernels:
        print("# (no GPU kernels: the CPU)")
        return
    by_name: dict[str, list[float]] = {}
    for e in kernels:
        by_name.setdefault(e.name[:60], []).append(e.time_range.elapsed_us())
    start = min(e.time_range.start for e in kernels)
    end = max(e.time_range.end for e in kernels)
    busy = sum(sum(times) for times in by_name.values())
    print(f"# {len(kernels)} kernels, {busy / 1000:.3f} ms busy of {(end - start) / 1000:.3f} ms first to last")
    for name, times in sorted(by_name.items(), key=lambda item: -sum(item[1]))[:14]:
        print(f"#   {sum(times) / 1000:7.3f} ms  {len(times):3d}x  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--smoke", action="store_true", help="tiny shapes on the CPU (with TRITON_INTERPRET=1)")
    args = parser.parse_args()
    device = torch.device("cpu" if args.smoke else "cuda")
    workloads, repeat = (SMOKE, 1) if args.smoke else (WORKLOADS, args.repeat)
    weights = (0.5, 0.5) if args.smoke else msssim.MSSSIM_WEIGHTS
    pairs = {label: pair(shape, device) for label, shape in workloads.items()}
    for label, (x, y) in pairs.items():
        print(f"## {label}, one forward + backward")
        try:
            profile(x, y, weights)
        except Exception:  # (a profiler that fails must not cost the settings' timings)
            traceback.print_exc()
    print("| tile | warps | chunk | programs/SM | " + " | ".join(f"{w} fwd+bwd, fwd" for w in workloads) + " | diff |")
    print("|" + "---|" * (5 + len(workloads)))
    first = {}
    for tile, warps, chunk, programs in SETTINGS[:2] if args.smoke else SETTINGS:
        triton_kernels.TILE, triton_kernels._WARPS = tile, warps
        triton_kernels._CHUNK, triton_kernels._PROGRAMS_PER_SM = chunk, programs
        row, diff = [f"{tile[0]}x{tile[1]}", str(warps), str(chunk), str(programs)], 0.0
        try:
            for label, (x, y) in pairs.items():
                both = median_ms(lambda: score(x, y, weights), device, repeat)  # noqa: B023
                forward = median_ms(lambda: torch.no_grad()(score)(x, y, weights, grad=False), device, repeat)  # noqa: B023
                row.append(f"{both:.2f}, {forward:.2f}")
                values = score(x, y, weights, grad=False).detach().cpu().numpy()
                diff = max(diff, float(np.abs(values - first.setdefault(label, values)).max()))
            row.append(f"{diff:.1e}")
        except Exception as error:
            row.append(f"{type(error).__name__}: {error}"[:200])
        print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()

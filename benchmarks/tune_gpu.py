"""Where a GPU call's time goes, and the Triton kernels' launch settings tried.

    python benchmarks/tune_gpu.py               # on a CUDA machine, about 2 minutes
    TRITON_INTERPRET=1 python benchmarks/tune_gpu.py --smoke   # CPU: checks the script

For each of ``bench_gpu.py``'s workloads, one forward + backward of msssim,
one forward under ``no_grad`` and one CuPy forward under torch's profiler:
the GPU time of each kernel (largest first) and the GPU's busy share of the
call; then the host's time by function (cProfile).
Then, for each setting of ``triton_kernels``' tile, warps per program, rows
per row-pass chunk and programs per multiprocessor, the wall time (medians)
and GPU busy time of forward + backward and of the forward under
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

# (tile, warps, chunk, programs per SM), each under the register cap it implies (triton_kernels._options);
# chosen when kernel_stats.py compiled without the launches' alignment, and found no spills for these on
# sm_90 then ((64, 32) with 8 warps, (16, 32) with 4 and (32, 32) with 4 at 3 a multiprocessor spilled)
SETTINGS = (
    # triton_kernels' own since 2026-12-04: taller tiles, fewer halo rows a pixel (80 for 64, not 48 for
    # 32), 32 warps a multiprocessor; on an H200 the GPU time of every workload 0.78-0.94x the next's
    # (two launches spill under its 64 registers: the maps and the coarser scales' x-only gradient)
    ((64, 32), 16, 16, 2),
    ((32, 32), 8, 16, 3),  # (the best GPU time on an H100, 2026-11-28)
    ((64, 32), 8, 16, 3),
    ((64, 32), 8, 16, 4),
)


def kernels(call, device, calls: int = 1) -> list:
    """The GPU kernels of ``calls`` calls of ``call`` (warm), under torch's profiler."""
    from torch.profiler import ProfilerActivity, profile

    call()  # (compiled and warm)
    if device.type != "cuda":
        return []
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(calls):
            call()
        torch.cuda.synchronize()
    return [e for e in prof.events() if e.device_type.name == "CUDA"]


def busy_ms(events, calls: int = 1) -> float:
    return sum(e.time_range.elapsed_us() for e in events) / 1000 / calls


def report(call, device, calls: int = 10) -> None:
    """One ``call``: its kernels by GPU time, and the host time of ``calls``
    of them by function."""
    import cProfile
    import pstats

    events = kernels(call, device)
    if events:
        start = min(e.time_range.start for e in events)
        end = max(e.time_range.end for e in events)
        print(f"# {len(events)} kernels, {busy_ms(events):.3f} ms busy of {(end - start) / 1000:.3f} ms first to last")
        by_name: dict[str, list[float]] = {}
        for e in events:
            by_name.setdefault(e.name[:60], []).append(e.time_range.elapsed_us())
        for name, times in sorted(by_name.items(), key=lambda item: -sum(item[1]))[:12]:
            print(f"#   {sum(times) / 1000:7.3f} ms  {len(times):3d}x  {name}")
    host = cProfile.Profile()
    host.enable()
    for _ in range(calls):
        call()
    host.disable()
    print(f"# host, {calls} calls, by own time:")
    pstats.Stats(host).sort_stats("tottime").print_stats(14)


def _calls(x, y, weights, device) -> dict:
    """What ``report`` profiles: forward + backward, the forward under
    ``no_grad``, and CuPy's forward (channels last) where CuPy is installed."""
    calls = {
        "one forward + backward": lambda: score(x, y, weights),
        "one forward under no_grad": lambda: torch.no_grad()(score)(x, y, weights, grad=False),
    }
    try:
        import cupy
    except ImportError:
        return calls
    if device.type == "cuda":
        a, b = (cupy.asarray(v.movedim(1, -1).contiguous()) for v in (x, y))
        calls["one CuPy forward"] = lambda: msssim.ssim_multiscale(a, b, 1.0, weights)
    return calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--smoke", action="store_true", help="tiny shapes on the CPU (with TRITON_INTERPRET=1)")
    parser.add_argument("--settings", type=int, default=len(SETTINGS), help="how many of the settings to try")
    args = parser.parse_args()
    device = torch.device("cpu" if args.smoke else "cuda")
    workloads, repeat = (SMOKE, 1) if args.smoke else (WORKLOADS, args.repeat)
    weights = (0.5, 0.5) if args.smoke else msssim.MSSSIM_WEIGHTS
    pairs = {label: pair(shape, device) for label, shape in workloads.items()}
    for label, (x, y) in pairs.items():
        for what, call in _calls(x, y, weights, device).items():
            print(f"## {label}, {what}")
            try:
                report(call, device, 1 if args.smoke else 10)
            except Exception:  # (a profiler that fails must not cost the settings' timings)
                traceback.print_exc()
    print("# each: forward + backward, then forward: wall ms / GPU busy ms")
    print("| tile | warps | chunk | programs/SM | " + " | ".join(workloads) + " | diff |")
    print("|" + "---|" * (5 + len(workloads)))
    first = {}
    for tile, warps, chunk, programs in SETTINGS[: min(args.settings, 2) if args.smoke else args.settings]:
        triton_kernels.TILE, triton_kernels._WARPS = tile, warps
        triton_kernels._CHUNK, triton_kernels._PROGRAMS_PER_SM = chunk, programs
        row, diff = [f"{tile[0]}x{tile[1]}", str(warps), str(chunk), str(programs)], 0.0
        try:
            for label, (x, y) in pairs.items():
                both, forward = (
                    lambda: score(x, y, weights),  # noqa: B023
                    lambda: torch.no_grad()(score)(x, y, weights, grad=False),  # noqa: B023
                )
                cells = []
                for call in (both, forward):
                    gpu = busy_ms(kernels(call, device, 5), 5)
                    cells.append(f"{median_ms(call, device, repeat):.2f}/{gpu:.2f}")
                row.append(", ".join(cells))
                values = score(x, y, weights, grad=False).detach().cpu().numpy()
                diff = max(diff, float(np.abs(values - first.setdefault(label, values)).max()))
            row.append(f"{diff:.1e}")
        except Exception as error:
            row.append(f"{type(error).__name__}: {error}"[:200])
        print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()

"""How long msssim takes to start: a new process that imports msssim and scores
one 512×512×3 pair, on a fresh machine (an empty Numba cache: the kernels
compile) and then with the kernels cached.

    python benchmarks/bench_startup.py [--repeat 3]

Each run is a child process whose ``NUMBA_CACHE_DIR`` is a temporary folder,
empty for the first run and kept for the next ones. The child times ``import
msssim`` plus the call (``time.perf_counter``); the parent also times the whole
process, interpreter start included. The first run's stderr is printed: while
the kernels compile for more than a second, msssim says so there in one line.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

CHILD = """
import time
start = time.perf_counter()
import numpy as np
import msssim
rng = np.random.default_rng(0)
a = rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)
b = np.clip(a.astype(np.int16) + rng.integers(-20, 21, a.shape), 0, 255).astype(np.uint8)
if {dtype!r} == "float32":
    a, b = a.astype(np.float32) / 255, b.astype(np.float32) / 255
msssim.ssim_multiscale(a, b, 255 if {dtype!r} == "uint8" else 1.0)
print(time.perf_counter() - start)
"""


def _run(dtype: str, cache: str) -> tuple[float, float, str]:
    env = {**os.environ, "NUMBA_CACHE_DIR": cache}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD.format(dtype=dtype)], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(done.stderr)
    return float(done.stdout.strip()), wall, done.stderr.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print("| input | first call, no cache (import + score) | process | cached (import + score, median) | process |")
    print("|---|---|---|---|---|")
    notices = {}
    for dtype in ("uint8", "float32"):
        with tempfile.TemporaryDirectory() as cache:
            cold, cold_wall, notices[dtype] = _run(dtype, cache)
            warm = [_run(dtype, cache)[:2] for _ in range(args.repeat)]
        print(
            f"| 512x512x3 {dtype} | {cold:.2f} s | {cold_wall:.2f} s | "
            f"{statistics.median(w[0] for w in warm):.2f} s | {statistics.median(w[1] for w in warm):.2f} s |"
        )
    for dtype, notice in notices.items():
        print(f"\nstderr of the first {dtype} run: {notice or '(nothing)'}")


if __name__ == "__main__":
    main()

"""msssim against TensorFlow's ``tf.function`` MS-SSIM, timed in one run.

    python benchmarks/bench_tf.py [--repeat 5] [--engine reference]

Each implementation runs in its own child process: inputs are made, the
implementation is warmed up on a small pair (TF traces its graph), the peak-RSS
counter is reset, one full-size run gives the peak memory beyond what was held
before it, then the workload is timed ``--repeat`` times. The table gives
medians, the ratio TF time / msssim time (> 1: msssim is faster), and that extra
peak memory as a multiple of the two inputs' bytes. Needs tensorflow-cpu.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

WORKLOADS = {
    "1080x1920x3 pair": (1, 1080, 1920, 3),
    "16 x 256x256x3": (16, 256, 256, 3),
    "2160x3840x1 pair": (1, 2160, 3840, 1),
}


def _inputs(shape):
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.random(shape, dtype=np.float32)
    b = np.clip(a + 0.05 * rng.standard_normal(shape, dtype=np.float32), 0, 1)
    return a, b


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def _child(implementation: str, workload: str, repeat: int, engine: str | None) -> dict:
    import numpy as np

    shape = WORKLOADS[workload]
    a, b = _inputs(shape)
    if implementation == "tensorflow":
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import tensorflow as tf

        score = tf.function(lambda x, y: tf.image.ssim_multiscale(x, y, 1.0))
        a, b = tf.constant(a), tf.constant(b)

        def run(x, y):
            return score(tf.constant(x), tf.constant(y)).numpy()
    else:
        import msssim

        def run(x, y):
            return msssim.ssim_multiscale(x, y, 1.0, engine=engine)

    # Warm up on a small pair of the same rank (TF traces, engines compile),
    # then measure the peak RSS of the first full-size run above the RSS held
    # before it: the memory the computation itself needs.
    small = tuple(shape[:-3]) + (176, 176, shape[-1])
    run(*_inputs(small))
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # reset the peak-RSS counter to the current RSS
    before = _rss_kib("VmRSS:")
    run(a, b)
    extra = max(_rss_kib("VmHWM:") - before, 0) * 1024
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run(a, b)
        times.append(time.perf_counter() - start)
    input_bytes = 2 * int(np.prod(shape)) * 4  # two float32 batches
    return {"median_s": statistics.median(times), "extra_peak_bytes": extra, "input_bytes": input_bytes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--engine", default=None, help="msssim engine (default: the library's default)")
    parser.add_argument("--workload", choices=list(WORKLOADS), action="append")
    parser.add_argument("--child", nargs=2, metavar=("IMPL", "WORKLOAD"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(*args.child, args.repeat, args.engine)))
        return
    import platform

    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, repeat={args.repeat}, "
        f"engine={args.engine or 'default'}"
    )
    print("| workload | msssim | TF tf.function | TF / msssim | msssim extra peak | TF extra peak |")
    print("|---|---|---|---|---|---|")
    for workload in args.workload or WORKLOADS:
        row = {}
        for implementation in ("msssim", "tensorflow"):
            command = [sys.executable, __file__, "--child", implementation, workload, "--repeat", str(args.repeat)]
            if args.engine:
                command += ["--engine", args.engine]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            row[implementation] = json.loads(done.stdout.strip().splitlines()[-1])
        ours, tf = row["msssim"], row["tensorflow"]
        inputs = ours["input_bytes"]
        print(
            f"| {workload} | {ours['median_s'] * 1e3:.0f} ms | {tf['median_s'] * 1e3:.0f} ms | "
            f"{tf['median_s'] / ours['median_s']:.2f}x | {ours['extra_peak_bytes'] / inputs:.2f}x input | "
            f"{tf['extra_peak_bytes'] / inputs:.2f}x input |",
            flush=True,
        )


if __name__ == "__main__":
    main()

"""msssim (both numerics) against TensorFlow's ``tf.function`` MS-SSIM, and on
the 4K luma pair against blazediff-ssim, timed in one run.

    python benchmarks/bench_tf.py [--repeat 5] [--engine reference]

Each implementation runs in its own child process: inputs are made, the
implementation is warmed up on a small pair (TF traces its graph), the peak-RSS
counter is reset, one full-size run gives the peak memory beyond what was held
before it, then the workload is timed ``--repeat`` times. The table gives
medians, the ratios TF time / msssim time (> 1: msssim is faster) for
``numerics="exact"`` (the default) and ``"tensorflow-cpu"``, and the extra peak
memory as a multiple of the two inputs' bytes. blazediff-ssim (Rust SIMD, one
thread, MATLAB's msssim.m on 8-bit luma, so not the same numbers) is given the
pair as 8-bit grey RGBA, made before timing. Needs tensorflow-cpu;
blazediff-ssim is optional (``pip install blazediff-ssim``).
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
    if implementation == "blazediff":
        import blazediff_ssim

        def rgba(x):  # 8-bit grey as RGBA bytes
            grey = np.round(np.asarray(x)[..., 0] * 255).astype(np.uint8)
            return np.stack([grey, grey, grey, np.full_like(grey, 255)], axis=-1).tobytes()

        def run(x, y):
            height, width = np.shape(x)[-3:-1]
            return blazediff_ssim.compare_rgba(rgba(x), rgba(y), width, height, metric="ms-ssim").score

        ra, rb, (height, width) = rgba(a), rgba(b), shape[-3:-1]
        timed = lambda: blazediff_ssim.compare_rgba(ra, rb, width, height, metric="ms-ssim")  # noqa: E731
    elif implementation == "tensorflow":
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import tensorflow as tf

        score = tf.function(lambda x, y: tf.image.ssim_multiscale(x, y, 1.0))
        a, b = tf.constant(a), tf.constant(b)

        def run(x, y):
            return score(tf.constant(x), tf.constant(y)).numpy()

        timed = lambda: run(a, b)  # noqa: E731
    else:
        import msssim

        numerics = implementation.removeprefix("msssim-")

        def run(x, y):
            return msssim.ssim_multiscale(x, y, 1.0, engine=engine, numerics=numerics)

        timed = lambda: run(a, b)  # noqa: E731

    # Warm up on a small pair of the same rank (TF traces, engines compile),
    # then measure the peak RSS of the first full-size run above the RSS held
    # before it: the memory the computation itself needs.
    small = tuple(shape[:-3]) + (176, 176, shape[-1])
    run(*_inputs(small))
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # reset the peak-RSS counter to the current RSS
    before = _rss_kib("VmRSS:")
    timed()
    extra = max(_rss_kib("VmHWM:") - before, 0) * 1024
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        timed()
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
    print(
        "| workload | msssim exact | msssim tensorflow-cpu | TF tf.function | TF / exact | TF / tensorflow-cpu "
        "| blazediff-ssim / exact | exact extra peak | TF extra peak |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for workload in args.workload or WORKLOADS:
        row = {}
        others = ["blazediff"] if WORKLOADS[workload][-1] == 1 and _has("blazediff_ssim") else []
        for implementation in ["msssim-exact", "msssim-tensorflow-cpu", "tensorflow", *others]:
            command = [sys.executable, __file__, "--child", implementation, workload, "--repeat", str(args.repeat)]
            if args.engine:
                command += ["--engine", args.engine]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            row[implementation] = json.loads(done.stdout.strip().splitlines()[-1])
        exact, tf_cpu, tf = row["msssim-exact"], row["msssim-tensorflow-cpu"], row["tensorflow"]
        inputs = exact["input_bytes"]
        blaze = row.get("blazediff")
        blaze_ratio = (
            f"{blaze['median_s'] / exact['median_s']:.2f}x ({blaze['median_s'] * 1e3:.0f} ms)" if blaze else "-"
        )
        print(
            f"| {workload} | {exact['median_s'] * 1e3:.1f} ms | {tf_cpu['median_s'] * 1e3:.0f} ms | "
            f"{tf['median_s'] * 1e3:.0f} ms | {tf['median_s'] / exact['median_s']:.1f}x | "
            f"{tf['median_s'] / tf_cpu['median_s']:.2f}x | {blaze_ratio} | "
            f"{exact['extra_peak_bytes'] / inputs:.2f}x input | {tf['extra_peak_bytes'] / inputs:.2f}x input |",
            flush=True,
        )


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


if __name__ == "__main__":
    main()

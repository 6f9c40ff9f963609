"""The command line on a folder of image pairs, on a 1080p video and on a raw
1080p YUV pair, against a plain loop over TensorFlow doing the same decoding,
in one run.

    python benchmarks/bench_cli.py [--pairs 1000] [--frames 60] [--jobs images,video,yuv]
                                   [--numerics tensorflow-cpu] [--engine reference]

Makes the files in a temporary folder: N pairs of 512x512 RGB PNGs, two 1080p
y4m videos and two raw 1080p yuv420p files. Times the whole ``msssim`` command
(process start included) and a TF loop (Pillow or PyAV decoding, or for raw
YUV the Y planes read with NumPy; ``tf.function`` MS-SSIM), and prints pairs/s
or frames/s, and the command's peak resident memory. Needs tensorflow-cpu and
the ``all`` extra.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np


def make_folder(root: Path, count: int) -> tuple[Path, Path]:
    from PIL import Image

    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:512, 0:512] / 512
    for side in ("ref", "dist"):
        (root / side).mkdir(parents=True)
    for i in range(count):
        base = np.stack([0.5 + 0.4 * np.sin((5 + i % 7) * x + c) * np.cos((3 + i % 5) * y) for c in range(3)], -1)
        ref = np.clip((base + 0.05 * rng.standard_normal(base.shape)) * 255, 0, 255).astype(np.uint8)
        dist = np.clip(ref + rng.integers(-12, 13, ref.shape), 0, 255).astype(np.uint8)
        Image.fromarray(ref).save(root / "ref" / f"{i:05d}.png", compress_level=1)
        Image.fromarray(dist).save(root / "dist" / f"{i:05d}.png", compress_level=1)
    return root / "ref", root / "dist"


def make_videos(root: Path, frames: int) -> tuple[Path, Path]:
    import av

    rng = np.random.default_rng(1)
    y, x = np.mgrid[0:1080, 0:1920] / 1920
    paths = root / "ref.y4m", root / "dist.y4m"
    containers = [av.open(str(p), "w") for p in paths]
    streams = []
    for container in containers:
        stream = container.add_stream("rawvideo", rate=25)
        stream.width, stream.height, stream.pix_fmt = 1920, 1080, "yuv420p"
        streams.append(stream)
    for i in range(frames):
        base = np.stack([0.5 + 0.4 * np.sin(6 * x + c + i / 9) * np.cos(4 * y) for c in range(3)], -1)
        ref = np.clip(base * 255 + rng.integers(-8, 9, base.shape), 0, 255).astype(np.uint8)
        dist = np.clip(ref + rng.integers(-10, 11, ref.shape), 0, 255).astype(np.uint8)
        for container, stream, frame in zip(containers, streams, (ref, dist)):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
    for container, stream in zip(containers, streams):
        container.mux(stream.encode())
        container.close()
    return paths


def make_raw(root: Path, frames: int) -> tuple[Path, Path]:
    """Two raw yuv420p 1080p files: Y planes of moving waves with noise, flat chroma."""
    rng = np.random.default_rng(2)
    y, x = np.mgrid[0:1080, 0:1920] / 1920
    chroma = np.full(2 * 540 * 960, 128, np.uint8).tobytes()
    paths = root / "ref.yuv", root / "dist.yuv"
    with open(paths[0], "wb") as ref_file, open(paths[1], "wb") as dist_file:
        for i in range(frames):
            luma = (0.5 + 0.4 * np.sin(6 * x + i / 9) * np.cos(4 * y)) * 219 + 16
            ref = np.clip(luma + rng.integers(-8, 9, luma.shape), 0, 255).astype(np.uint8)
            dist = np.clip(ref + rng.integers(-10, 11, ref.shape), 0, 255).astype(np.uint8)
            ref_file.write(ref.tobytes() + chroma)
            dist_file.write(dist.tobytes() + chroma)
    return paths


def time_command(args: list[str]) -> tuple[float, float]:
    """Seconds the whole command took, and its peak resident memory in MiB."""
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "msssim.cli", *args], stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if status:
        raise SystemExit(f"msssim {' '.join(args)} failed ({status})")
    return seconds, usage.ru_maxrss / 1024


def tf_loop_images(ref_dir: Path, dist_dir: Path) -> tuple[float, int]:
    import tensorflow as tf
    from PIL import Image

    score = tf.function(lambda a, b: tf.image.ssim_multiscale(a, b, 255.0))
    start, count = time.perf_counter(), 0
    for ref in sorted(ref_dir.iterdir()):
        a = np.asarray(Image.open(ref))
        b = np.asarray(Image.open(dist_dir / ref.name))
        score(a, b).numpy()
        count += 1
    return time.perf_counter() - start, count


def tf_loop_video(ref: Path, dist: Path) -> tuple[float, int]:
    import av
    import tensorflow as tf

    score = tf.function(lambda a, b: tf.image.ssim_multiscale(a, b, 255.0))
    start, count = time.perf_counter(), 0
    with av.open(str(ref)) as r, av.open(str(dist)) as d:
        for fr, fd in zip(r.decode(video=0), d.decode(video=0)):
            score(fr.to_ndarray(format="rgb24"), fd.to_ndarray(format="rgb24")).numpy()
            count += 1
    return time.perf_counter() - start, count


def tf_loop_raw(ref: Path, dist: Path) -> tuple[float, int]:
    """Y planes read with NumPy, one frame at a time, scored by TF."""
    import tensorflow as tf

    score = tf.function(lambda a, b: tf.image.ssim_multiscale(a, b, 255.0))
    luma, frame = 1920 * 1080, 1920 * 1080 * 3 // 2
    count = ref.stat().st_size // frame
    start = time.perf_counter()
    for n in range(count):
        planes = [np.fromfile(p, np.uint8, luma, offset=n * frame).reshape(1080, 1920, 1) for p in (ref, dist)]
        score(*planes).numpy()
    return time.perf_counter() - start, count


def main() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--engine", help="msssim's --engine (default: the library's default)")
    parser.add_argument("--numerics", help="msssim's --numerics (default: the library's default, exact)")
    parser.add_argument("--jobs", default="images,video,yuv", help="which jobs, comma-separated")
    args = parser.parse_args()
    jobs = args.jobs.split(",")
    engine = ["--engine", args.engine] if args.engine else []
    engine += ["--numerics", args.numerics] if args.numerics else []
    # A child counts the pages of the process it was forked from in its peak
    # memory, so this one stays small until every msssim command has run: the
    # files are made in another process, and TF is imported last.
    made = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    runs = []  # (job, msssim command, TF loop, unit)
    with tempfile.TemporaryDirectory() as tmp, made:
        root = Path(tmp)

        def add(job: str, unit: str, files: tuple[Path, Path], tf_loop, out: str, *options: str) -> None:
            command = [*map(str, files), *options, "-o", str(root / out)]
            runs.append((job, command, partial(tf_loop, *files), unit))

        if "images" in jobs:
            files = made.submit(make_folder, root / "images", args.pairs).result()
            add(f"{args.pairs} pairs of 512x512 RGB PNG", "pairs/s", files, tf_loop_images, "out.jsonl")
        if "video" in jobs:
            files = made.submit(make_videos, root, args.frames).result()
            add(f"1080p RGB y4m video, {args.frames} frames", "fps", files, tf_loop_video, "video.json")
        if "yuv" in jobs:
            files = made.submit(make_raw, root, args.frames).result()
            raw = ("--size", "1920x1080", "--pix-fmt", "yuv420p", "--color", "y")
            add(f"raw 1080p yuv420p, Y plane, {args.frames} frames", "fps", files, tf_loop_raw, "raw.json", *raw)
        ours = [time_command([*command, *engine]) for _, command, _, _ in runs]
        theirs = [loop() for _, _, loop, _ in runs]
    rows = [
        (job, count, unit, seconds, tf_seconds, memory)
        for (job, _, _, unit), (seconds, memory), (tf_seconds, count) in zip(runs, ours, theirs)
    ]
    print(
        f"# {os.cpu_count()} cores; msssim command (process start included, engine {args.engine or 'default'}, "
        f"numerics {args.numerics or 'default'}) vs a TF tf.function loop"
    )
    print("| job | msssim | TF loop | msssim / TF | msssim peak memory |")
    print("|---|---|---|---|---|")
    for job, count, unit, ours, theirs, memory in rows:
        print(
            f"| {job} | {count / ours:.1f} {unit} | {count / theirs:.1f} {unit} | {theirs / ours:.2f}x "
            f"| {memory:.0f} MiB |"
        )


if __name__ == "__main__":
    main()

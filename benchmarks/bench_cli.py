"""The command line on a folder of image pairs and on a 1080p video, against a
plain loop over TensorFlow doing the same decoding, in one run.

    python benchmarks/bench_cli.py [--pairs 1000] [--frames 60] [--numerics tensorflow-cpu] [--engine reference]

Makes the files in a temporary folder: N pairs of 512x512 RGB PNGs and two
1080p y4m videos. Times the whole ``msssim`` command (process start included)
and a TF loop (Pillow or PyAV decoding, ``tf.function`` MS-SSIM), and prints
pairs/s and frames/s. Needs tensorflow-cpu and the ``all`` extra.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
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


def time_command(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "msssim.cli", *args], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def tf_loop_images(ref_dir: Path, dist_dir: Path) -> float:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf
    from PIL import Image

    score = tf.function(lambda a, b: tf.image.ssim_multiscale(a, b, 255.0))
    start = time.perf_counter()
    for ref in sorted(ref_dir.iterdir()):
        a = np.asarray(Image.open(ref))
        b = np.asarray(Image.open(dist_dir / ref.name))
        score(a, b).numpy()
    return time.perf_counter() - start


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--engine", help="msssim's --engine (default: the library's default)")
    parser.add_argument("--numerics", help="msssim's --numerics (default: the library's default, exact)")
    args = parser.parse_args()
    engine = ["--engine", args.engine] if args.engine else []
    engine += ["--numerics", args.numerics] if args.numerics else []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ref_dir, dist_dir = make_folder(root / "images", args.pairs)
        ref_video, dist_video = make_videos(root, args.frames)
        ours = time_command([str(ref_dir), str(dist_dir), "--format", "jsonl", "-o", str(root / "out.jsonl"), *engine])
        theirs = tf_loop_images(ref_dir, dist_dir)
        ours_video = time_command([str(ref_video), str(dist_video), "--format", "json", *engine])
        theirs_video, frames = tf_loop_video(ref_video, dist_video)
    print(
        f"# {os.cpu_count()} cores; msssim command (process start included, engine {args.engine or 'default'}, "
        f"numerics {args.numerics or 'default'}) "
        "vs a TF tf.function loop"
    )
    print("| job | msssim | TF loop | msssim / TF |")
    print("|---|---|---|---|")
    images = f"{args.pairs} pairs of 512x512 RGB PNG"
    print(f"| {images} | {args.pairs / ours:.1f} pairs/s | {args.pairs / theirs:.1f} pairs/s | {theirs / ours:.2f}x |")
    print(
        f"| 1080p RGB y4m video, {frames} frames | {frames / ours_video:.1f} fps | {frames / theirs_video:.1f} fps "
        f"| {theirs_video / ours_video:.2f}x |"
    )


if __name__ == "__main__":
    main()

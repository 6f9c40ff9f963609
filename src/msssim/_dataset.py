"""Scoring many pairs: what the pairs are, how one is scored, and how many run.

A job is a list of :class:`Pair` and one :class:`Options`. Pairs run in
partitions (many pairs per task) in this process, in a local process pool, or on
a Dask cluster; each result is handed to a sink as soon as its partition is
done, so results already computed survive an interruption.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from msssim._engines import DEFAULT_ENGINE, NUMERICS

IMAGE_SUFFIXES = frozenset(".png .jpg .jpeg .tif .tiff .bmp .webp .ppm .pgm .pnm .gif".split())


@dataclass(frozen=True)
class Pair:
    """A reference and a distorted file; ``missing`` names a side that has no file."""

    reference: str
    distorted: str
    missing: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return self.reference, self.distorted

    @property
    def is_video(self) -> bool:
        return Path(self.reference).suffix.lower() not in IMAGE_SUFFIXES


@dataclass(frozen=True)
class Options:
    """How each pair is scored: the metric's parameters and the decoding."""

    metric: str = "ms_ssim"  # or "ssim"
    max_val: float | None = None  # None: from the bit depth
    power_factors: tuple[float, ...] | None = None  # None: msssim.MSSSIM_WEIGHTS
    filter_size: int = 11
    filter_sigma: float = 1.5
    k1: float = 0.01
    k2: float = 0.03
    color: str = "rgb"
    frames: slice = field(default_factory=lambda: slice(None))
    shortest: bool = False
    threads: int | None = None
    engine: str | None = None  # None: the default engine
    numerics: str = NUMERICS[0]  # "exact" or "tensorflow-cpu"

    def parameters(self) -> dict:
        """The parameters as the JSON document records them."""
        import msssim

        frames = self.frames
        return {
            "metric": self.metric,
            "max_val": self.max_val,
            "power_factors": list(self.power_factors or msssim.MSSSIM_WEIGHTS) if self.metric == "ms_ssim" else None,
            "filter_size": self.filter_size,
            "filter_sigma": self.filter_sigma,
            "k1": self.k1,
            "k2": self.k2,
            "color": self.color,
            "frames": None
            if frames == slice(None)
            else f"{frames.start or ''}:{frames.stop or ''}:{frames.step or ''}",
            "shortest": self.shortest,
            "engine": self.engine or DEFAULT_ENGINE,
            "numerics": self.numerics,
        }


class PairError(Exception):
    """A pair that cannot be scored; the message is meant for the user."""


# What the pairs are -----------------------------------------------------------


def pairs_from_folders(reference: Path, distorted: Path) -> list[Pair]:
    """Files matched by their path relative to each folder, recursively; a file
    on one side only becomes a pair with ``missing`` set."""
    ref_files = _files_below(reference)
    dist_files = _files_below(distorted)
    pairs = []
    for relative in sorted(ref_files | dist_files):
        missing = "distorted" if relative not in dist_files else "reference" if relative not in ref_files else None
        pairs.append(Pair(str(reference / relative), str(distorted / relative), missing))
    return pairs


def _files_below(folder: Path) -> set[Path]:
    return {p.relative_to(folder) for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")}


def pairs_from_manifest(path: Path) -> list[Pair]:
    """Pairs listed in a CSV (``reference,distorted`` header) or JSONL file
    (``{"reference": ..., "distorted": ...}`` per line). Relative paths are
    relative to the manifest's folder."""
    base = path.parent
    rows: list[dict] = []
    try:
        text = path.read_text()
    except OSError as exc:
        raise PairError(f"{path}: cannot read the manifest ({exc.strerror or exc})") from None
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise PairError(f"{path}:{number}: not JSON ({exc.msg})") from None
    else:
        rows = list(csv.DictReader(text.splitlines()))
    pairs = []
    for number, row in enumerate(rows, 1):
        if not isinstance(row, dict) or not row.get("reference") or not row.get("distorted"):
            raise PairError(f"{path}: entry {number} needs 'reference' and 'distorted', got {row!r}")
        pairs.append(Pair(str(base / row["reference"]), str(base / row["distorted"])))
    return pairs


# How one pair is scored -------------------------------------------------------


def score_arrays(ref: np.ndarray, dist: np.ndarray, max_val: float, options: Options) -> float:
    import msssim

    kwargs = dict(
        filter_size=options.filter_size,
        filter_sigma=options.filter_sigma,
        k1=options.k1,
        k2=options.k2,
        threads=options.threads,
        engine=options.engine,
        numerics=options.numerics,
    )
    if options.metric == "ssim":
        value = msssim.ssim(ref, dist, max_val, **kwargs)
    else:
        value = msssim.ssim_multiscale(ref, dist, max_val, options.power_factors or msssim.MSSSIM_WEIGHTS, **kwargs)
    return float(str(np.float32(value)))  # the shortest decimal that reads back as the float32


def _check_match(ref: np.ndarray, dist: np.ndarray, what: str = "") -> None:
    if ref.dtype != dist.dtype:
        raise PairError(f"bit depths differ{what}: reference is {ref.dtype}, distorted is {dist.dtype}")
    if ref.shape != dist.shape:
        raise PairError(
            f"sizes differ{what}: reference is {ref.shape[1]}x{ref.shape[0]}x{ref.shape[2]}, distorted is "
            f"{dist.shape[1]}x{dist.shape[0]}x{dist.shape[2]} (width x height x channels)"
        )


def _score_image(pair: Pair, options: Options) -> dict:
    return {options.metric: score_arrays(*_image_pair(pair, options), options)}


def _image_pair(pair: Pair, options: Options) -> tuple[np.ndarray, np.ndarray, float]:
    from msssim._io import default_max_val, read_image, to_color

    ref = to_color(read_image(pair.reference), options.color)
    dist = to_color(read_image(pair.distorted), options.color)
    _check_match(ref, dist)
    return ref, dist, options.max_val if options.max_val is not None else default_max_val(ref.dtype)


def score_index_map(pair: Pair, options: Options) -> np.ndarray:
    """The SSIM index map of an image pair (finest scale), averaged over channels."""
    import msssim

    ref, dist, max_val = _image_pair(pair, options)
    return msssim.ssim(
        ref,
        dist,
        max_val,
        options.filter_size,
        options.filter_sigma,
        options.k1,
        options.k2,
        return_index_map=True,
        threads=options.threads,
        engine=options.engine,
        numerics=options.numerics,
    )


def _score_video(pair: Pair, options: Options) -> dict:
    from msssim._video import read_frames

    ref_frames = read_frames(pair.reference, options.color, options.frames)
    dist_frames = read_frames(pair.distorted, options.color, options.frames)
    frames = []
    while True:
        ref, dist = next(ref_frames, None), next(dist_frames, None)
        if ref is None or dist is None:
            if ref is not dist and not options.shortest:
                longer, shorter = ("reference", "distorted") if dist is None else ("distorted", "reference")
                raise PairError(
                    f"frame counts differ: the {shorter} ends after {len(frames)} scored frames while the "
                    f"{longer} goes on; pass --shortest to score the common frames"
                )
            break
        (number, ref_px, max_val), (_, dist_px, _) = ref, dist
        _check_match(ref_px, dist_px, f" at frame {number}")
        value = score_arrays(ref_px, dist_px, options.max_val or max_val, options)
        frames.append({"frame": number, options.metric: value})
    if not frames:
        raise PairError("no frames to score (check --frames)")
    mean = float(str(np.float32(np.mean([f[options.metric] for f in frames]))))
    return {options.metric: mean, "frames": frames}


def score_pair(pair: Pair, options: Options) -> dict:
    """One result: ``reference``, ``distorted`` and the score, or ``error``."""
    from msssim._io import ImageReadError

    result: dict = {"reference": pair.reference, "distorted": pair.distorted}
    try:
        if pair.missing:
            raise PairError(f"no {pair.missing} file matches this one")
        result.update(_score_video(pair, options) if pair.is_video else _score_image(pair, options))
    except (PairError, ImageReadError) as exc:
        result["error"] = str(exc)
    except (ValueError, TypeError) as exc:  # msssim's own checks: size, max_val, parameters
        result["error"] = str(exc)
    except MemoryError:
        result["error"] = "out of memory while scoring this pair"
    return result


def score_partition(pairs: list[Pair], options: Options) -> list[dict]:
    """The unit of work sent to a worker: many pairs, scored one after another."""
    return [score_pair(pair, options) for pair in pairs]


# How many run -----------------------------------------------------------------


def partitions(pairs: list[Pair], workers: int) -> list[list[Pair]]:
    """Pairs in partitions: a few per worker so that the load evens out, at most
    64 pairs each so that progress and results flow; videos one per partition."""
    videos = [[p] for p in pairs if p.is_video and not p.missing]
    images = [p for p in pairs if not (p.is_video and not p.missing)]
    size = max(1, min(64, -(-len(images) // (4 * max(workers, 1)))))
    return videos + [images[i : i + size] for i in range(0, len(images), size)]


def run(
    pairs: list[Pair],
    options: Options,
    on_result: Callable[[dict], None],
    *,
    workers: int = 1,
    scheduler: str | None = None,
) -> None:
    """Score every pair and hand each result to ``on_result`` as it completes."""
    chunks = partitions(pairs, workers)
    if scheduler:
        results = _on_dask(chunks, options, scheduler)
    elif workers > 1:
        results = _in_processes(chunks, options, workers)
    else:
        results = (score_partition(chunk, options) for chunk in chunks)
    for partition_results in results:
        for result in partition_results:
            on_result(result)


def _in_processes(chunks: list[list[Pair]], options: Options, workers: int) -> Iterator[list[dict]]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # Spawned, not forked: Numba's thread pool does not survive a fork. Each
    # worker's share of the cores keeps the machine from being oversubscribed.
    threads = options.threads or max(1, (os.cpu_count() or 1) // workers)
    options = replace(options, threads=threads)
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(score_partition, chunk, options) for chunk in chunks]
        try:
            for future in as_completed(futures):
                yield future.result()
        finally:
            for future in futures:
                future.cancel()


def _on_dask(chunks: list[list[Pair]], options: Options, address: str) -> Iterator[list[dict]]:
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise PairError('--scheduler needs Dask: pip install "msssim[dask]"') from None
    try:
        client = Client(address, timeout="10s")
    except (OSError, TimeoutError) as exc:
        raise PairError(f"cannot reach the Dask scheduler at {address} ({exc})") from None
    with client:
        futures = client.map(score_partition, chunks, options=options, pure=False)
        try:
            for future in as_completed(futures):
                yield future.result()
        finally:
            client.cancel(futures)

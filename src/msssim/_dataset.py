"""Scoring many pairs: what the pairs are, how one is scored, and how many run.

A job is a list of :class:`Pair` and one :class:`Options`. Pairs run in
partitions (many pairs per task) in this process, in a local process pool, or on
a Dask cluster; each result is handed to a sink as soon as its partition is
done, so results already computed survive an interruption.
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from msssim._engines import DEFAULT_ENGINE, NUMERICS
from msssim._io import IMAGE_SUFFIXES, ImageReadError, looks_like_image
from msssim._video import RAW_SUFFIXES, VIDEO_SUFFIXES, RawVideo


def media_kind(path: str, sniff: bool = True) -> str | None:
    """``"image"`` or ``"video"`` by the file's extension. A file named
    otherwise is, with ``sniff``, an image if Pillow recognises its header and
    else a video; without, None (not a media file)."""
    suffix = Path(path).suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in VIDEO_SUFFIXES or suffix in RAW_SUFFIXES:
        return "video"
    if not sniff:
        return None
    return "image" if looks_like_image(path) else "video"


@dataclass(frozen=True)
class Pair:
    """A reference and a distorted file; ``missing`` names a side that has no file."""

    reference: str
    distorted: str
    missing: str | None = None
    kind: str = ""  # "image", "video", "folder" (one that cannot be read); "": by the reference's name
    problem: str | None = None  # an error known before scoring (a folder that cannot be read)

    @property
    def key(self) -> tuple[str, str]:
        return self.reference, self.distorted

    @property
    def is_video(self) -> bool:
        return (self.kind or media_kind(self.reference)) == "video"


@dataclass(frozen=True)
class Options:
    """How each pair is scored: the metric's parameters, the decoding and the
    frames that are compared."""

    metric: str = "ms_ssim"  # or "ssim"
    max_val: float | None = None  # None: from the bit depth
    power_factors: tuple[float, ...] | None = None  # None: msssim.MSSSIM_WEIGHTS
    filter_size: int = 11
    filter_sigma: float = 1.5
    k1: float = 0.01
    k2: float = 0.03
    color: str = "rgb"
    frames: slice = field(default_factory=lambda: slice(None))  # reference frame numbers
    subsample: int = 1  # every Nth of those
    offset: int = 0  # distorted frame n + offset shows reference frame n
    shortest: bool = False
    scale: str | None = None  # None: sizes must match; "bicubic", "lanczos": resize the distorted
    raw: RawVideo | None = None  # what .yuv files hold
    threads: int | None = None
    engine: str | None = None  # None: the default engine
    numerics: str = NUMERICS[0]  # "exact" or "tensorflow-cpu"
    convention: str = "tensorflow"  # whose MS-SSIM (msssim._conventions)
    volume: bool = False  # the files are volumes [D, H, W, C], scored with spatial_dims=3
    exif_orientation: bool = False  # images turned as their EXIF orientation says (default: as stored)

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
            "subsample": self.subsample,
            "offset": self.offset,
            "shortest": self.shortest,
            "scale": self.scale,
            "size": None if self.raw is None else f"{self.raw.width}x{self.raw.height}",
            "pix_fmt": None if self.raw is None else self.raw.pix_fmt,
            "engine": self.engine or DEFAULT_ENGINE,
            "numerics": self.numerics,
            "convention": self.convention,
            "volume": self.volume,
            "exif_orientation": self.exif_orientation,
        }

    def selected_frames(self) -> slice:
        """The reference frames to score: ``frames``, every ``subsample``-th."""
        frames = self.frames
        return slice(frames.start, frames.stop, (frames.step or 1) * self.subsample)


class PairError(Exception):
    """A pair that cannot be scored; the message is meant for the user."""


class FileError(PairError):
    """A pair that cannot be scored because of one of its files, which the message names."""


# What the pairs are -----------------------------------------------------------


def pairs_from_folders(reference: Path, distorted: Path) -> tuple[list[Pair], list[str]]:
    """Image and video files matched by their path relative to each folder,
    recursively, and the other files, skipped. A file on one side only becomes
    a pair with ``missing`` set."""
    (ref_files, ref_unread), (dist_files, dist_unread) = _files_below(reference), _files_below(distorted)
    pairs, skipped = [], []
    hidden = set(ref_unread) | set(dist_unread)
    for relative in sorted(hidden):  # (an error each, in place of the files it hides)
        sides = (("reference", reference, ref_unread), ("distorted", distorted, dist_unread))
        problem = "; ".join(
            f"{root / relative} ({side}): cannot read this folder ({unread[relative]})"
            for side, root, unread in sides
            if relative in unread
        )
        pairs.append(
            Pair(str(reference / relative), str(distorted / relative), kind="folder", problem=f"{problem}; not scored")
        )
    for relative in sorted(ref_files | dist_files):
        if any(folder in relative.parents for folder in hidden):  # (its partner may be in there)
            continue
        kind = media_kind(str(relative), sniff=False)
        if kind is None:  # (a name that does not say: an image if Pillow knows its header, as AVIF and APNG)
            kind = "image" if looks_like_image((reference if relative in ref_files else distorted) / relative) else None
        if kind is None:
            skipped += [
                str(root / relative)
                for root, files in ((reference, ref_files), (distorted, dist_files))
                if relative in files
            ]
            continue
        missing = "distorted" if relative not in dist_files else "reference" if relative not in ref_files else None
        pair = Pair(str(reference / relative), str(distorted / relative), missing, kind)
        if missing:
            pair = _renamed(pair, relative, dist_files if missing == "distorted" else ref_files)
        pairs.append(pair)
    return pairs, skipped


def _renamed(pair: Pair, relative: Path, other_side: set[Path]) -> Pair:
    """A pair with a missing side, told so, with a hint where that side's folder
    has the file under another extension (PNG references, JPEG encodes)."""
    other = "reference" if pair.missing == "distorted" else "distorted"
    path = pair.distorted if pair.missing == "distorted" else pair.reference
    problem = f"{path} ({pair.missing}): no such file, though the {other} exists"
    namesakes = sorted(str(p.name) for p in other_side if p.parent == relative.parent and p.stem == relative.stem)
    if namesakes:
        problem += (
            f"; the {pair.missing} folder has {', '.join(namesakes)}: folders pair files by their whole relative "
            "path, extension included; list such pairs in a --pairs manifest"
        )
    return replace(pair, problem=problem)


def _files_below(folder: Path) -> tuple[set[Path], dict[Path, str]]:
    """The files in ``folder`` and below, through symlinked folders too (the
    usual way to gather an evaluation set), but not round a loop of links;
    hidden files left out; and the folders that could not be read, with why
    (relative paths)."""
    found = set()
    unread: dict[Path, str] = {}

    def unreadable(error: OSError) -> None:
        unread[Path(error.filename).relative_to(folder)] = error.strerror or str(error)

    ancestors = {str(folder): (os.path.realpath(folder),)}  # (each folder's real path and its parents')
    for root, dirs, files in os.walk(folder, onerror=unreadable, followlinks=True):
        chain = ancestors.pop(root)
        inside = [(d, os.path.realpath(os.path.join(root, d))) for d in dirs]
        dirs[:] = [d for d, real in inside if real not in chain]
        ancestors.update((os.path.join(root, d), (*chain, real)) for d, real in inside if real not in chain)
        found.update(Path(root, name).relative_to(folder) for name in files if not name.startswith("."))
    return {path for path in found if (folder / path).is_file()}, unread


def file_pair(reference: str, distorted: str) -> Pair:
    """Two files named by the user: each is an image or a video by its
    extension, or else by its contents; a pair of an image and a video fails."""
    kinds = media_kind(reference), media_kind(distorted)
    if kinds[0] != kinds[1] and all(Path(p).is_file() for p in (reference, distorted)):
        return Pair(reference, distorted, kind="mixed")
    return Pair(reference, distorted, kind=kinds[0])


SIDES = ("reference", "distorted")


def pairs_from_manifest(path: Path) -> list[Pair]:
    """Pairs listed in a CSV (``reference,distorted`` header) or JSONL file
    (``{"reference": ..., "distorted": ...}`` per line; a ``.json`` file may
    also hold a list of them). Relative paths are relative to the manifest's
    folder."""
    base = path.parent
    rows: list[dict] = []
    try:
        text = path.read_text(encoding="utf-8-sig")  # (a spreadsheet's CSV starts with a byte-order mark)
    except OSError as exc:
        raise PairError(f"{path}: cannot read the manifest ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise PairError(f"{path}: the manifest is not UTF-8 text; save it as UTF-8") from None
    suffix = path.suffix.lower()
    if suffix == ".json" and text.lstrip().startswith("["):  # (one list of entries)
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PairError(f"{path}: not JSON ({exc.msg}, line {exc.lineno})") from None
    elif suffix in (".jsonl", ".ndjson", ".json"):  # (an entry a line)
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise PairError(f"{path}:{number}: not JSON ({exc.msg})") from None
    else:
        reader = csv.DictReader(text.splitlines(), skipinitialspace=True)
        rows = list(reader)
        if reader.fieldnames and not set(SIDES) <= set(reader.fieldnames):  # (no header: the first pair taken for one)
            first = ",".join(reader.fieldnames)
            named = " (a manifest of JSON lines is named .jsonl)" if first.lstrip().startswith("{") else ""
            raise PairError(
                f"{path}: a CSV manifest's first line is the header 'reference,distorted' (the columns' names); "
                f"its first line is {first!r}{named}"
            )
    pairs = []
    for number, row in enumerate(rows, 1):
        named = isinstance(row, dict) and all(isinstance(row.get(side), str) and row[side] for side in SIDES)
        if not named:
            raise PairError(f"{path}: entry {number} needs 'reference' and 'distorted' file names, got {row!r}")
        pairs.append(file_pair(str(base / row["reference"]), str(base / row["distorted"])))
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
        convention=options.convention,
        spatial_dims=3 if options.volume else 2,
    )
    try:
        if options.metric == "ssim":
            value = msssim.ssim(ref, dist, max_val, **kwargs)
        else:
            weights = options.power_factors or msssim.MSSSIM_WEIGHTS
            value = msssim.ssim_multiscale(ref, dist, max_val, weights, **kwargs)
    except ValueError as exc:  # (the library's errors name its arguments: here they are the files' sides)
        message = str(exc)
        if message.startswith(("img1 ", "img2 ")):
            message = ("the reference" if message[3] == "1" else "the distorted") + message[4:]
        raise PairError(message) from None
    return float(str(np.float32(value)))  # the shortest decimal that reads back as the float32


@contextmanager
def _blame(side: str):
    """A file that cannot be read becomes a :class:`FileError` naming it and its side."""
    try:
        yield
    except ImageReadError as exc:
        raise FileError(f"{exc.path} ({side}): {exc.reason}") from None


def _matched(ref: np.ndarray, dist: np.ndarray, options: Options, what: str = "") -> np.ndarray:
    """``dist``, resized to ``ref``'s size if ``options.scale`` says so; an
    error if their bit depths, channels or (without ``scale``) sizes differ."""
    if ref.dtype != dist.dtype:
        raise PairError(
            f"bit depths differ{what}: reference is {ref.dtype}, distorted is {dist.dtype}; msssim does not guess "
            "how one's range maps onto the other's (it converts 8-bit to 16-bit, and floats to floats only): save "
            "both at one bit depth"
        )
    if ref.shape[-1] != dist.shape[-1]:
        hint = "; pass --color gray to compare their luma" if 1 in (ref.shape[-1], dist.shape[-1]) else ""
        raise PairError(f"channels differ{what}: reference has {ref.shape[-1]}, distorted {dist.shape[-1]}{hint}")
    if ref.shape != dist.shape:
        if options.scale is None:
            raise PairError(
                f"sizes differ{what}: reference is {ref.shape[1]}x{ref.shape[0]}, distorted is "
                f"{dist.shape[1]}x{dist.shape[0]} (width x height); pass --scale bicubic or --scale lanczos "
                "to resize the distorted to the reference's size"
            )
        from msssim._io import resize

        dist = resize(dist, ref.shape[0], ref.shape[1], options.scale)
    return dist


def _one_depth(ref: np.ndarray, dist: np.ndarray, options: Options) -> tuple[np.ndarray, np.ndarray]:
    """Two images' pixels in one type where the ranges map without a guess:
    8- and 16-bit as FFmpeg converts them (x257, 255 to 65535), float16 and
    float32 as they are (both hold [0, 1]). Others stay apart (:func:`_matched`
    refuses them)."""
    if ref.dtype == dist.dtype:
        return ref, dist
    kinds = {ref.dtype.kind + str(ref.dtype.itemsize), dist.dtype.kind + str(dist.dtype.itemsize)}
    if kinds <= {"f2", "f4", "f8"}:
        wider = np.result_type(ref, dist)
        return ref.astype(wider, copy=False), dist.astype(wider, copy=False)
    if kinds == {"u1", "u2"}:
        if options.max_val is not None:
            raise PairError(
                f"bit depths differ: reference is {ref.dtype}, distorted is {dist.dtype}, so one --max-val does "
                "not fit both; leave it out to compare them in the 16-bit range"
            )
        return tuple(a.astype(np.uint16) * np.uint16(257) if a.dtype == np.uint8 else a for a in (ref, dist))
    return ref, dist


def _grey_and_colour(reference_grey: bool) -> None:
    grey, colour = ("reference", "distorted") if reference_grey else ("distorted", "reference")
    raise PairError(
        f"the {grey} is grey and the {colour} colour: --color y maps colour to limited-range luma (16-235 "
        "for 8 bits), which grey pixels are not; pass --color gray to compare full-range luma"
    )


def _max_val(options: Options, dtype: np.dtype, implied: float) -> float:
    """``--max-val``, or the range the pixels' bit depth implies; a ``--max-val``
    that integer pixels cannot hold is that pair's error (a folder may mix
    8- and 16-bit files: the others are scored)."""
    if options.max_val is None:
        return implied
    if dtype.kind in "iu" and not 1 <= options.max_val <= implied:  # (a 10-bit Y plane's is 1023)
        raise PairError(
            f"--max-val {options.max_val:g} does not fit {int(implied).bit_length()}-bit pixels, whose largest "
            f"value is {implied:g}; give --max-val between 1 and {implied:g}, or leave it out "
            "to take the range from the bit depth"
        )
    return options.max_val


def _score_image(pair: Pair, options: Options) -> dict:
    return {options.metric: score_arrays(*_image_pair(pair, options), options)}


def _image_pair(pair: Pair, options: Options) -> tuple[np.ndarray, np.ndarray, float]:
    from msssim._io import default_max_val, read_image, read_volume, to_color

    read = read_volume if options.volume else read_image
    with _blame("reference"):
        ref = read(pair.reference)
    with _blame("distorted"):
        dist = read(pair.distorted)
    if not options.volume:
        ref, dist = _oriented(pair, ref, dist, options)
    if options.color == "y" and (ref.shape[-1] == 1) != (dist.shape[-1] == 1):
        _grey_and_colour(ref.shape[-1] == 1)
    ref, dist = _one_depth(ref, dist, options)
    ref, dist = to_color(ref, options.color), to_color(dist, options.color)
    if not options.volume and _quarter_apart(ref, dist):
        _turned(pair, ref.shape, options)
    if options.volume and ref.shape[:-1] != dist.shape[:-1]:
        sizes = ["x".join(map(str, a.shape[:-1])) for a in (ref, dist)]
        raise PairError(f"sizes differ: reference is {sizes[0]}, distorted is {sizes[1]} (D x H x W)")
    dist = _matched(ref, dist, options)
    if options.max_val is None and ref.dtype.kind in "iu" and ref.dtype.itemsize > 2:
        raise PairError(
            f"{ref.dtype} pixels have no usual range ({np.iinfo(ref.dtype).max} would score 0-255 data near 1); "
            "pass --max-val with theirs"
        )
    if options.max_val is None and ref.dtype.kind == "f":
        top = max(float(np.nanmax(ref, initial=0)), float(np.nanmax(dist, initial=0)))
        if 1.5 < top < np.inf:  # (float files are taken to hold [0, 1], as TF takes float images; inf: below)
            raise PairError(
                f"float pixels reach {top:g}, far past 1, the range a float file is taken to have; pass --max-val "
                "with their real range (255 for 0-255 data)"
            )
    return ref, dist, _max_val(options, ref.dtype, default_max_val(ref.dtype))


def _oriented(pair: Pair, ref: np.ndarray, dist: np.ndarray, options: Options) -> tuple[np.ndarray, np.ndarray]:
    """The images as their EXIF orientations show them, with
    ``--exif-orientation``; else as stored. (No warning where the tags differ
    and the sizes agree: a copy saved without the tag, its pixels as stored,
    is the usual case, and pairs rightly.)"""
    if not options.exif_orientation:
        return ref, dist
    from msssim._io import as_shown, exif_orientation

    return as_shown(ref, exif_orientation(pair.reference)), as_shown(dist, exif_orientation(pair.distorted))


def _quarter_apart(ref: np.ndarray, dist: np.ndarray) -> bool:
    return ref.shape[:2] != dist.shape[:2] and ref.shape[:2] == dist.shape[1::-1]


def _turned(pair: Pair, shape: tuple[int, ...], options: Options) -> None:
    """The error for images whose sizes are each other's turned a quarter
    (a photo's EXIF orientation applied to one of them): resizing is no fix."""
    from msssim._io import exif_orientation

    tags = {"reference": exif_orientation(pair.reference), "distorted": exif_orientation(pair.distorted)}
    why = "; ".join(f"the {side}'s EXIF orientation is {tag}" for side, tag in tags.items() if tag != 1)
    if options.exif_orientation:
        why, fix = f" (as shown: {why or 'neither has an EXIF orientation'})", "save both as shown"
    else:
        why = f" ({why}, which msssim, like TensorFlow, does not apply unless told: --exif-orientation)" if why else ""
        fix = "save both as stored or both as shown (ImageOps.exif_transpose in Pillow, exiftran -a)"
    raise PairError(
        f"sizes differ: reference is {shape[1]}x{shape[0]}, distorted is {shape[0]}x{shape[1]}: one is turned a "
        f"quarter{why}; {fix} and score them again"
    )


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
        convention=options.convention,
    )


def _animated(pair: Pair) -> bool:
    """Whether the pair is of animated images (GIF, PNG, WebP, AVIF), scored frame
    by frame as videos are; one animated and one still is an error."""
    from msssim._io import frame_count

    counts = frame_count(pair.reference), frame_count(pair.distorted)
    if (counts[0] > 1) != (counts[1] > 1):
        animated, still = ("reference", "distorted") if counts[0] > 1 else ("distorted", "reference")
        raise PairError(f"the {animated} is an animation of {max(counts)} frames, the {still} a still image")
    return counts[0] > 1


def _animation_frames(path: str, color: str, frames: slice, raw=None) -> Iterator[tuple[int, np.ndarray, float, bool]]:
    """An animation's frames as :func:`msssim._video.read_frames` gives a video's."""
    from msssim._io import read_animation, to_color

    for number, pixels in read_animation(path, frames):
        yield number, to_color(pixels, color), 255.0, False


def _score_video(pair: Pair, options: Options, on_frame: Callable[[], None] | None = None, read=None) -> dict:
    from msssim._video import offset_ranges, read_frames

    read = read or read_frames
    ref_range, dist_range = offset_ranges(options.selected_frames(), options.offset)
    ref_frames = read(pair.reference, options.color, ref_range, options.raw)
    dist_frames = read(pair.distorted, options.color, dist_range, options.raw)
    frames = []
    try:
        ended = _score_frames(options, ref_frames, dist_frames, frames, on_frame)
    except KeyboardInterrupt as stop:  # (Ctrl-C, SIGTERM: the frames scored go with it, as FFmpeg prints them)
        stop.frames = frames
        raise
    if not frames:  # (one ended at once: both, or the other under --shortest)
        empty = " and the ".join(ended)
        where = " that --frames and --offset select" if options.frames != slice(None) or options.offset else ""
        raise PairError(f"no frames to score: the {empty} {'have' if ' and ' in empty else 'has'} none{where}")
    return {options.metric: _mean(frames, options.metric), "frames": frames}


def _mean(frames: list[dict], metric: str) -> float:
    """A video's score: the mean of its frames' (float32, as each frame's)."""
    return float(str(np.float32(np.mean([f[metric] for f in frames]))))


def _score_frames(options: Options, ref_frames: Iterator, dist_frames: Iterator, frames: list, on_frame) -> list[str]:
    """Score the frames of two videos into ``frames``, one after another
    (scored until stopped); returns the side or sides that ran out first."""
    while True:
        with _blame("reference"):
            ref = next(ref_frames, None)
        with _blame("distorted"):
            dist = next(dist_frames, None)
        if ref is None or dist is None:
            going_on = dist_frames if ref is None else ref_frames
            if ref is not dist and not options.shortest and not _offset_explains(options, ref is None, going_on):
                longer, shorter = ("reference", "distorted") if dist is None else ("distorted", "reference")
                raise PairError(
                    f"frame counts differ: the {shorter} ends after {len(frames)} scored frames while the "
                    f"{longer} goes on; pass --shortest to score the common frames"
                )
            return [side for side, frame in (("reference", ref), ("distorted", dist)) if frame is None]
        (number, ref_px, max_val, ref_grey), (dist_number, dist_px, dist_max, dist_grey) = ref, dist
        if options.color == "y" and ref_grey != dist_grey:
            _grey_and_colour(ref_grey)
        if options.color == "rgb" and ref_grey != dist_grey:  # (as a grey and a colour image: not guessed)
            grey, colour = ("reference", "distorted") if ref_grey else ("distorted", "reference")
            raise PairError(
                f"channels differ at frame {number}: the {grey} is grey, the {colour} colour; pass --color gray "
                "to compare their luma"
            )
        if max_val != dist_max:  # (an 8-bit source against a 10-bit encode)
            if options.max_val is not None:
                raise PairError(
                    f"bit depths differ at frame {number}: the reference's samples reach {max_val:g}, the "
                    f"distorted's {dist_max:g}, so one --max-val does not fit both; leave it out to compare "
                    "them in the deeper one's range"
                )
            (ref_px, max_val), (dist_px, dist_max) = (
                _deeper(ref_px, max_val, dist_max, options.color),
                _deeper(dist_px, dist_max, max_val, options.color),
            )
        if ref_px.shape[:2] != dist_px.shape[:2] and ref_px.shape[:2] == dist_px.shape[1::-1]:
            raise PairError(
                f"sizes differ at frame {number}: reference is {ref_px.shape[1]}x{ref_px.shape[0]}, distorted is "
                f"{dist_px.shape[1]}x{dist_px.shape[0]}: one is turned a quarter. msssim turns each video as its "
                "display matrix says, as players do, so one has a rotation the other lacks, or was stored turned; "
                "resizing is no fix: make them show the same way (e.g. re-encode one with ffmpeg's transpose filter)"
            )
        dist_px = _matched(ref_px, dist_px, options, f" at frame {number}")
        value = score_arrays(ref_px, dist_px, _max_val(options, ref_px.dtype, max_val), options)
        frames.append({"frame": number, options.metric: value})
        if options.offset:
            frames[-1]["distorted_frame"] = dist_number
        if on_frame:
            on_frame()


def _deeper(pixels: np.ndarray, top: float, other: float, color: str) -> tuple[np.ndarray, float]:
    """A frame whose samples reach ``top`` in the range of a deeper one's
    ``other``, as FFmpeg converts between bit depths: a Y plane shifted up
    (8-bit 16-235 is 10-bit 64-940), RGB and grey scaled (255 to 65535 is
    x257), so that both are compared as the same fractions of their ranges."""
    if top >= other:
        return pixels, top
    factor = int(other + 1) // int(top + 1) if color == "y" else int(other) // int(top)
    return pixels.astype(np.uint16) * np.uint16(factor), other


def _offset_explains(options: Options, reference_ended: bool, going_on: Iterator) -> bool:
    """Whether the frames left in the video that goes on are those the offset
    leaves without a partner in two files of one length: a distorted ``N``
    frames late (``--offset N``) ends ``N`` frames before the reference; one
    early (``-N``), ``N`` after it. (Read to find out: at most that many frames.)"""
    if not options.offset or reference_ended != (options.offset < 0):
        return False
    unpartnered = -(-abs(options.offset) // options.selected_frames().step)  # (of the frames scored)
    with _blame("distorted" if reference_ended else "reference"):
        left = 1 + sum(1 for _ in itertools.islice(going_on, unpartnered))  # (its next frame is read already)
    return left <= unpartnered


def score_pair(pair: Pair, options: Options, on_frame: Callable[[], None] | None = None) -> dict:
    """One result: ``reference``, ``distorted`` and the score, or ``error``, a
    message that names the file at fault, or both files if it is the pair.
    ``on_frame`` is called after each video frame."""
    result: dict = {"reference": pair.reference, "distorted": pair.distorted}
    try:
        if pair.problem:
            raise FileError(pair.problem)
        if pair.kind == "mixed":
            raise PairError("one file is an image and the other a video")
        if pair.is_video:
            from msssim._video import warn_if_rates_differ

            warn_if_rates_differ(pair.reference, pair.distorted, options.raw)
            result.update(_score_video(pair, options, on_frame))
        elif not options.volume and _animated(pair):
            result.update(_score_video(pair, options, read=_animation_frames))  # (the bar counts it as one pair)
        else:
            result.update(_score_image(pair, options))
    except FileError as exc:
        result["error"] = str(exc)
    except (PairError, ValueError, TypeError) as exc:  # also msssim's own checks: size, parameters
        result["error"] = f"{pair.distorted} vs {pair.reference}: {exc}"
    except MemoryError:
        result["error"] = f"{pair.distorted} vs {pair.reference}: out of memory while scoring this pair"
    except KeyboardInterrupt as stop:  # (a video stopped part way: its frames so far, as an error, tried again)
        if getattr(stop, "frames", None):
            count, mean = len(stop.frames), _mean(stop.frames, options.metric)
            stop.result = {
                **result,
                "error": f"{pair.distorted} vs {pair.reference}: stopped after {count} frames (their mean {mean:.6f})",
                "frames": stop.frames,
            }
        raise
    return result


def score_partition(pairs: list[Pair], options: Options, on_frame: Callable[[], None] | None = None) -> list[dict]:
    """The unit of work sent to a worker: many pairs, scored one after another."""
    return [score_pair(pair, options, on_frame) for pair in pairs]


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
    on_frame: Callable[[], None] | None = None,
) -> None:
    """Score every pair and hand each result to ``on_result`` as it completes
    (and call ``on_frame`` after each video frame, when they run in this process)."""
    chunks = partitions(pairs, workers)
    if scheduler:
        results = _on_dask(chunks, options, scheduler)
    elif workers > 1:
        results = _in_processes(chunks, options, workers)
    else:
        results = ([score_pair(pair, options, on_frame)] for chunk in chunks for pair in chunk)  # (each as it is done)
    try:
        for partition_results in results:
            for result in partition_results:
                on_result(result)
    except KeyboardInterrupt as stop:
        if hasattr(stop, "result"):  # (a video of this process stopped part way)
            on_result(stop.result)
        raise
    finally:
        results.close()  # (stopped early: the workers are stopped now, not when the generator is collected)


def cores() -> int:
    """The cores this process may use (its CPU affinity, as a batch system
    sets it), and no more than the threads Numba starts with (``NUMBA_NUM_THREADS``)."""
    count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    numba = os.environ.get("NUMBA_NUM_THREADS", "")
    return max(1, min(count, int(numba))) if numba.strip().isdigit() else count


def _in_processes(chunks: list[list[Pair]], options: Options, workers: int) -> Iterator[list[dict]]:
    """The partitions' results from ``workers`` processes. A worker that dies
    (the out-of-memory killer, kill -9) breaks the pool, and its partner's
    partitions stop with it: those that had started are tried again, each
    alone in a pool of its own, and lost if it dies again; those that had
    not go to a new pool."""
    import multiprocessing

    # Spawned, not forked: Numba's thread pool does not survive a fork. Each
    # worker's share of the cores keeps the machine from being oversubscribed.
    options = replace(options, threads=options.threads or max(1, cores() // workers))
    context = multiprocessing.get_context("spawn")
    todo = list(range(len(chunks)))
    while todo:
        started, waiting = yield from _pool(chunks, todo, options, workers, context)
        if started or len(waiting) < len(todo):
            todo = waiting
        else:  # (the workers died before scoring anything: as they would again)
            todo, started = [], waiting
        for index in started:
            if any((yield from _pool(chunks, [index], options, 1, context))):  # (died again, at any point)
                yield [_lost(pair) for pair in chunks[index]]


def _pool(chunks, indices: list[int], options: Options, workers: int, context):
    """Yield the results of partitions ``indices`` from a pool of ``workers``
    processes; then return, if a worker died, the partitions that had
    started and those that had not (else two empty lists)."""
    import ctypes
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    began = context.RawArray(ctypes.c_bool, len(chunks))  # (each partition's flag, set as it starts: never blocks)
    others = set(multiprocessing.active_children())
    done, broken, restore = set(), False, lambda: None
    try:
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_worker, initargs=(began,)) as pool:
            futures = {pool.submit(_score_numbered, index, chunks[index], options): index for index in indices}
            try:
                for future in as_completed(futures):
                    try:
                        results = future.result()
                    except BrokenProcessPool:
                        broken = True
                        continue
                    done.add(futures[future])
                    yield results
            except BaseException:  # (Ctrl-C, SIGTERM, the caller stopped): the workers stop too, mid-pair,
                # and the pool, broken, fails the futures left (cancelling them first races its thread);
                # a second Ctrl-C while it shuts down would only interrupt that with a traceback
                restore = _ignore_interrupts()
                for worker in set(multiprocessing.active_children()) - others:
                    worker.terminate()
                raise
    finally:
        restore()
    if not broken:
        return [], []
    left = [index for index in indices if index not in done]
    return [i for i in left if began[i]], [i for i in left if not began[i]]


def _ignore_interrupts() -> Callable[[], None]:
    """SIGINT ignored (in the main thread, which alone may say so) until the
    function returned puts back the handler it had (the default where it had
    one set outside Python)."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    return lambda: signal.signal(signal.SIGINT, signal.SIG_DFL if previous is None else previous)


_BEGAN = None  # (in a worker process: where it says which partitions it started)


def _worker(began) -> None:
    from msssim._video import report_decoder_errors

    global _BEGAN
    _BEGAN = began
    report_decoder_errors()  # (as the command line's own process does)


def _score_numbered(index: int, pairs: list[Pair], options: Options) -> list[dict]:
    _BEGAN[index] = True
    return score_partition(pairs, options)


def _lost(pair: Pair) -> dict:
    """The result of a pair whose worker process died, twice, before it was
    scored (the others' results stand, and a resumed run tries it again)."""
    why = "the worker process scoring it stopped (killed, perhaps for lack of memory); run again to retry it"
    return {
        "reference": pair.reference,
        "distorted": pair.distorted,
        "error": f"{pair.distorted} vs {pair.reference}: {why}",
    }


def _on_dask(chunks: list[list[Pair]], options: Options, address: str) -> Iterator[list[dict]]:
    try:
        from distributed import Client, KilledWorker, as_completed
    except ImportError:
        raise PairError('--scheduler needs Dask: pip install "msssim[dask]"') from None
    try:
        _answers(address, seconds=10)  # (Client's own timeout is the connection's: a silent port hung it)
        client = Client(address, timeout="10s")
    except (OSError, TimeoutError, ValueError, TypeError, MemoryError) as exc:  # (a bad scheme, TLS, garbage)
        why = f"{type(exc).__name__}: {exc}" if str(exc) else "no answer in 10 s: is it a Dask scheduler's address?"
        raise PairError(f"cannot reach the Dask scheduler at {address} ({why})") from None
    # The workers open the files from their own working folder (another
    # machine's, or the scheduler's): they get absolute paths, and the results
    # name the files as they were given (the keys a resumed run matches)
    sent = [[replace(p, reference=os.path.abspath(p.reference), distorted=os.path.abspath(p.distorted)) for p in chunk]
            for chunk in chunks]  # fmt: skip
    with client:
        futures = client.map(score_partition, sent, options=options, pure=False)
        given = {future.key: (chunk, absolute) for future, chunk, absolute in zip(futures, chunks, sent)}
        try:
            for future in as_completed(futures):
                chunk, absolute = given[future.key]
                try:
                    results = future.result()
                except KilledWorker:  # (the workers running it died, again and again: its pairs are lost, not the run)
                    yield [_lost(pair) for pair in chunk]
                    continue
                yield [_as_given(result, pair, as_sent) for result, pair, as_sent in zip(results, chunk, absolute)]
        finally:
            client.cancel(futures)


def _answers(address: str, seconds: float) -> None:
    """Whether a Dask scheduler answers at ``address`` within ``seconds``
    (TimeoutError if nothing does; in a thread of its own, whose event loop
    may not be the caller's: a notebook's is running)."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from distributed.core import rpc

    async def identity():
        async with rpc(address, timeout=seconds) as scheduler:
            return await scheduler.identity()

    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, asyncio.wait_for(identity(), seconds)).result()


def _as_given(result: dict, pair: Pair, sent: Pair) -> dict:
    """A worker's result with the files named as they were given, in its error too."""
    result = dict(result, reference=pair.reference, distorted=pair.distorted)
    if "error" in result:
        paths = sorted([(sent.reference, pair.reference), (sent.distorted, pair.distorted)], key=lambda p: -len(p[0]))
        for absolute, given in paths:  # (the longer first: one may begin with the other)
            result["error"] = result["error"].replace(absolute, given)
    return result

"""Video frames in, ``[H, W, C]`` arrays out, through PyAV: any container FFmpeg
decodes (y4m included), and raw planar YUV files (``.yuv``), which have no
header, so their size and pixel format are given (:class:`RawVideo`). PyAV is
the optional ``video`` extra."""

from __future__ import annotations

import collections
import functools
import logging
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from msssim._io import ImageReadError, regular_file, to_color

VIDEO_SUFFIXES = frozenset(
    ".mp4 .m4v .mov .mkv .webm .avi .y4m .mpg .mpeg .m2v .ts .m2ts .mts .flv .wmv .asf .ivf .obu "
    ".h264 .264 .avc .h265 .265 .hevc .vvc .266 .mxf .nut .ogv .3gp .dv".split()
)
RAW_SUFFIXES = frozenset({".yuv"})
# Planar formats a raw file may hold; 10- to 16-bit samples are little-endian uint16.
PIXEL_FORMATS = tuple(
    family + bits for bits in ("", "10le", "12le", "16le") for family in ("yuv420p", "yuv422p", "yuv444p", "gray")
)
_NEEDS_PYAV = 'PyAV is not installed; install it with: pip install "msssim[video]"'


@dataclass(frozen=True)
class RawVideo:
    """What a raw ``.yuv`` file holds: frames of ``width`` x ``height`` in ``pix_fmt``."""

    width: int
    height: int
    pix_fmt: str = "yuv420p"

    def frame_bytes(self) -> int:
        import av

        planes = {}
        for part in av.VideoFormat(self.pix_fmt, self.width, self.height).components:
            planes[part.plane] = part.width * part.height * -(-part.bits // 8)
        return sum(planes.values())


def frame_range(text: str) -> slice:
    """``START:STOP:STEP`` (each part optional) as a slice of frame numbers."""
    parts = text.split(":")
    if len(parts) > 3:
        msg = f"expected START:STOP:STEP, got {text!r}"
        raise ValueError(msg)
    try:
        numbers = [int(p) if p.strip() else None for p in parts] + [None] * (3 - len(parts))
    except ValueError:
        msg = f"expected integers in START:STOP:STEP, got {text!r}"
        raise ValueError(msg) from None
    start, stop, step = numbers
    if any(n is not None and n < 0 for n in numbers) or step == 0:
        msg = f"START:STOP:STEP must be >= 0 with STEP >= 1, got {text!r}"
        raise ValueError(msg)
    return slice(start, stop, step)


def offset_ranges(frames: slice, offset: int) -> tuple[slice, slice]:
    """The reference's and the distorted's frames when distorted frame ``n +
    offset`` shows reference frame ``n``: ``frames`` selects reference frames,
    less those whose distorted frame would be before the first."""
    start, stop, step = frames.start or 0, frames.stop, frames.step or 1
    if start + offset < 0:
        start += -(-(-offset - start) // step) * step
    shifted = slice(start + offset, None if stop is None else stop + offset, step)
    return slice(start, stop, step), shifted


def _open(path: Path, raw: RawVideo | None):
    import av

    if path.suffix.lower() not in RAW_SUFFIXES:
        return av.open(str(path))
    if raw is None:
        raise ImageReadError(path, "raw YUV has no header: give its size and pixel format (--size WxH --pix-fmt)")
    size, frame = path.stat().st_size, raw.frame_bytes()
    if size % frame:
        raise ImageReadError(
            path,
            f"{size} bytes is not a whole number of {raw.width}x{raw.height} {raw.pix_fmt} frames "
            f"({frame} bytes each); check --size and --pix-fmt",
        )
    options = {"video_size": f"{raw.width}x{raw.height}", "pixel_format": raw.pix_fmt}
    return av.open(str(path), format="rawvideo", options=options)


def frame_count(path: str | os.PathLike, raw: RawVideo | None = None) -> int | None:
    """How many frames the file holds, from its size or header; None if unknown."""
    try:
        path = regular_file(path)
        with _open(path, raw) as container:
            stream = container.streams.video[0]
            if stream.frames:
                return stream.frames
            if container.duration and stream.average_rate:
                return round(container.duration / 1e6 * stream.average_rate)
    except Exception:  # unreadable: the scoring reports why
        return None
    return None


def frame_rate(path: str | os.PathLike, raw: RawVideo | None = None) -> float | None:
    """The frames a second the file's header gives; None if unknown (a raw
    ``.yuv`` file has no header)."""
    if raw is not None and Path(path).suffix.lower() in RAW_SUFFIXES:
        return None
    try:
        with _open(regular_file(path), raw) as container:
            rate = container.streams.video[0].average_rate
    except Exception:  # unreadable: the scoring reports why
        return None
    return float(rate) if rate else None


def warn_if_rates_differ(reference, distorted, raw: RawVideo | None = None) -> None:
    """Say on stderr when two videos' frame rates differ: their frames are
    paired by number, so pairs then show different moments."""
    rates = frame_rate(reference, raw), frame_rate(distorted, raw)
    if None in rates or abs(rates[0] - rates[1]) <= 1e-4 * max(rates):  # (30 and 30000/1001 differ by 1e-3)
        return
    _warn(
        f"{distorted} vs {reference}: frame rates differ (reference {rates[0]:.6g} fps, distorted "
        f"{rates[1]:.6g}): frames are paired by number, not by time; to pair them by time, convert one to the "
        "other's rate first (e.g. ffmpeg's fps filter)"
    )


def read_frames(
    path: str | os.PathLike, color: str, frames: slice = slice(None), raw: RawVideo | None = None
) -> Iterator[tuple[int, np.ndarray, float, bool]]:
    """``(frame number, pixels, max_val, grey)`` for the frames ``frames``
    selects, in order, turned as the video's display matrix says (as players
    and FFmpeg show them); ``grey``: a grey video.

    8-bit video gives uint8 pixels, deeper video uint16. ``color="y"`` takes the
    Y plane as coded (no conversion; ``max_val`` is ``2**bits - 1``, 1023 for
    10-bit); ``rgb`` and ``gray`` convert with FFmpeg to 8 or 16 bits. A ``.yuv``
    file is read as ``raw`` says.
    """
    try:
        import av  # noqa: F401
    except ImportError:
        raise ImageReadError(path, _NEEDS_PYAV) from None
    path = regular_file(path)
    start, stop, step = frames.start or 0, frames.stop, frames.step or 1
    log, damaged, said = _decoder_log(), [], ""
    try:
        with _open(path, raw) as container:
            if not container.streams.video:
                raise ImageReadError(path, "no video stream")
            seen, last = log.mark() if log else None, None
            for number, frame in enumerate(container.decode(container.streams.video[0])):
                if stop is not None and number >= stop:
                    break
                last = frame.time if frame.time is not None else last
                if number >= start and (number - start) % step == 0:
                    if log and (complaint := log.since(seen)) is not None:  # (while it decoded this frame)
                        damaged.append(number)
                        said = said or complaint
                    pixels, max_val, grey = _pixels(frame, color)
                    yield number, _shown(pixels, frame), max_val, grey
                seen = log.mark() if log else None  # (the other file's frame, decoded meanwhile, is not this one's)
            else:
                _warn_if_cut(path, container, last)
    except ImageReadError:
        raise
    except Exception as exc:  # PyAV raises many types for broken files
        raise ImageReadError(path, f"cannot decode the video ({type(exc).__name__}: {exc})") from None
    finally:
        if damaged:  # (as FFmpeg goes on, and says so)
            shown = ", ".join(map(str, damaged[:10])) + (", ..." if len(damaged) > 10 else "")
            _warn(
                f"{path}: the decoder reported errors at {len(damaged)} of the frames scored ({shown}; {said}): "
                "they are scored as decoded, damage and all"
            )


def _warn_if_cut(path: Path, container, last: float | None) -> None:
    """Say on stderr when a video's frames end well before the duration its
    header gives (a copy or download cut short decodes what it holds, and
    FFmpeg says nothing): the last frame's time against the video stream's
    duration, or the file's where it holds that stream alone (an audio track
    may run longer). Times, not counts: a variable frame rate's count is not
    its duration times its nominal rate. Half a second, or three frames,
    of slack (a codec's delay, the last frame's own duration)."""
    stream = container.streams.video[0]
    if last is None:
        return
    if stream.duration and stream.time_base:
        start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        end = start + float(stream.duration * stream.time_base)
    elif container.duration and len(container.streams) == 1:
        start = container.start_time / 1e6 if container.start_time is not None else 0.0
        end = start + container.duration / 1e6
    else:
        return
    frame = 1 / float(stream.average_rate) if stream.average_rate else 0.0
    if end - last > max(0.5, 3 * frame):
        _warn(
            f"{path}: its frames end at {last - start:.2f} s where its header's duration is {end - start:.2f} s: "
            "the file may be cut short; its frames are scored as they are"
        )


def _warn(message: str) -> None:
    """A warning on stderr, where the command line's go (the pair is scored still)."""
    print(f"msssim: warning: {message}", file=sys.stderr)


class _DecoderLog(logging.Handler):
    """FFmpeg's errors, which PyAV hands to Python's logging once its level is
    set: the text of the last few (PyAV's own count, of every error, says how many)."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.count, self.recent = 0, collections.deque(maxlen=16)

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        self.recent.append((self.count, record.getMessage().strip()))

    def mark(self) -> tuple[int, int]:
        from av import logging as av_logging

        return av_logging.get_last_error()[0], self.count

    def since(self, mark: tuple[int, int]) -> str | None:
        """The text of FFmpeg's first error since ``mark``, or None if there was none."""
        if self.mark()[0] <= mark[0]:
            return None
        return next((text for number, text in self.recent if number > mark[1]), "an error")


_REPORTED = [False]  # (set by report_decoder_errors)


def report_decoder_errors() -> None:
    """Have :func:`read_frames` warn of the frames FFmpeg reported errors in.
    For the command line's own processes, which decode in one thread: PyAV
    then hands FFmpeg's messages to Python's logging, which its documentation
    warns may not play well with threads, so a library user's process (and a
    Dask worker, threaded) is left as it is."""
    _REPORTED[0] = True


@functools.cache
def _handler() -> _DecoderLog:
    """The handler of FFmpeg's errors, installed once (on PyAV's "libav"
    logger, so that they are not printed raw; at PyAV's ERROR level, unless
    the program set one)."""
    from av import logging as av_logging

    if av_logging.get_level() is None:
        av_logging.set_level(av_logging.ERROR)
    handler = _DecoderLog()
    logging.getLogger("libav").addHandler(handler)
    return handler


def _decoder_log() -> _DecoderLog | None:
    """The handler, where FFmpeg's errors are reported."""
    return _handler() if _REPORTED[0] else None


def _pixels(frame, color: str) -> tuple[np.ndarray, float, bool]:
    """A frame's pixels in ``color``, their ``max_val``, and whether the video
    is grey (its plane full-range luma, where a colour video's Y is limited)."""
    name, bits = frame.format.name, frame.format.components[0].bits
    grey = name.startswith(("gray", "ya"))
    if color == "y" and name.startswith(("yuv", "nv12", "gray")):
        plane = frame.planes[0]
        dtype = np.dtype(">u2" if name.endswith("be") else "<u2") if bits > 8 else np.dtype(np.uint8)
        rows = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size).view(dtype)
        return rows[:, : plane.width].astype(dtype.newbyteorder("="))[..., None], float(2**bits - 1), grey
    rgb = frame.to_ndarray(format="rgb48le" if bits > 8 else "rgb24")
    return to_color(rgb, color), float(np.iinfo(rgb.dtype).max), grey


def _shown(pixels: np.ndarray, frame) -> np.ndarray:
    """A frame as players show it: turned as the stream's display matrix says
    (a phone's portrait video is stored sideways), as FFmpeg does by default."""
    turns = round(getattr(frame, "rotation", 0) / 90) % 4  # (counter-clockwise degrees)
    return np.ascontiguousarray(np.rot90(pixels, turns)) if turns else pixels

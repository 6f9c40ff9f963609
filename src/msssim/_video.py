"""Video frames in, ``[H, W, C]`` arrays out, through PyAV (any container FFmpeg
decodes, y4m included). PyAV is the optional ``video`` extra."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from msssim._io import ImageReadError, to_color


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


def read_frames(
    path: str | os.PathLike, color: str, frames: slice = slice(None)
) -> Iterator[tuple[int, np.ndarray, float]]:
    """``(frame number, pixels, max_val)`` for the frames ``frames`` selects, in order.

    8-bit video gives uint8 pixels, deeper video uint16. ``color="y"`` takes the
    Y plane as coded (no conversion; ``max_val`` is ``2**bits - 1``); ``rgb`` and
    ``gray`` convert with FFmpeg to 8 or 16 bits.
    """
    try:
        import av
    except ImportError:
        msg = f'{path}: PyAV is not installed; install it with: pip install "msssim[video]"'
        raise ImageReadError(msg) from None
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise ImageReadError(f"{path}: the file is empty")
    start, stop, step = frames.start or 0, frames.stop, frames.step or 1
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ImageReadError(f"{path}: no video stream")
            for number, frame in enumerate(container.decode(container.streams.video[0])):
                if stop is not None and number >= stop:
                    break
                if number >= start and (number - start) % step == 0:
                    yield (number, *_pixels(frame, color))
    except ImageReadError:
        raise
    except Exception as exc:  # PyAV raises many types for broken files
        msg = f"{path}: cannot decode the video ({type(exc).__name__}: {exc})"
        raise ImageReadError(msg) from None


def _pixels(frame, color: str) -> tuple[np.ndarray, float]:
    bits = frame.format.components[0].bits
    if color == "y" and frame.format.name.startswith(("yuv", "nv12", "gray")):
        plane = frame.planes[0]
        dtype = np.dtype("<u2") if bits > 8 else np.dtype(np.uint8)
        rows = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size).view(dtype)
        return rows[:, : plane.width].astype(dtype.newbyteorder("="))[..., None], float(2**bits - 1)
    rgb = frame.to_ndarray(format="rgb48le" if bits > 8 else "rgb24")
    return to_color(rgb, color), float(np.iinfo(rgb.dtype).max)

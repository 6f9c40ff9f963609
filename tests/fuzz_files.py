"""Fuzz the file readers and the command line with mutated image and video bytes.

    python tests/fuzz_files.py FORMAT [EXAMPLES]

Run by test_fuzz_files.py in a child process with a time limit, so that a crash
or a hang fails that test rather than the test run. Each mutated file must give
a score or an ``error`` entry, and the command line must exit 0 or 3 with JSON.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from msssim._dataset import Options, Pair, score_pair
from msssim.cli import main


def seed_file(folder: Path, fmt: str) -> Path:
    """A small valid file of ``fmt`` to mutate."""
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (176, 176, 3), dtype=np.uint8) for _ in range(3)]
    path = folder / f"seed.{fmt}"
    if fmt in ("png", "jpeg"):
        from PIL import Image

        Image.fromarray(frames[0]).save(path, quality=90) if fmt == "jpeg" else Image.fromarray(frames[0]).save(path)
    elif fmt == "tiff":
        import tifffile

        tifffile.imwrite(path, frames[0])
    else:
        import av

        with av.open(str(path), "w") as container:
            stream = container.add_stream("rawvideo" if fmt == "y4m" else "ffv1", rate=25)
            stream.width = stream.height = 176
            stream.pix_fmt = "yuv420p"
            for frame in frames:
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            container.mux(stream.encode())
    return path


def mutations(size: int):
    """Truncations, byte flips, overwritten runs and insertions."""
    position = st.integers(0, max(size - 1, 0))
    return st.lists(
        st.one_of(
            st.tuples(st.just("truncate"), position, st.just(b"")),
            st.tuples(st.just("flip"), position, st.binary(min_size=1, max_size=1)),
            st.tuples(st.just("overwrite"), position, st.binary(min_size=1, max_size=64)),
            st.tuples(st.just("insert"), position, st.binary(min_size=1, max_size=64)),
        ),
        min_size=1,
        max_size=4,
    )


def mutate(data: bytes, edits) -> bytes:
    out = bytearray(data)
    for kind, at, payload in edits:
        at = min(at, len(out))
        if kind == "truncate":
            del out[at:]
        elif kind == "flip" and at < len(out):
            out[at] ^= payload[0] or 1
        elif kind == "overwrite":
            out[at : at + len(payload)] = payload
        elif kind == "insert":
            out[at:at] = payload
    return bytes(out)


def run(fmt: str, examples: int) -> int:
    folder = Path(tempfile.mkdtemp())
    reference = seed_file(folder, fmt)
    data = reference.read_bytes()
    broken = folder / f"broken.{fmt}"
    seen = {"scored": 0, "error": 0}

    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(mutations(len(data)))
    def check(edits):
        broken.write_bytes(mutate(data, edits))
        result = score_pair(Pair(str(reference), str(broken)), Options())
        assert ("ms_ssim" in result) != ("error" in result), result
        seen["scored" if "ms_ssim" in result else "error"] += 1
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            code = main([str(reference), str(broken), "--format", "json"])
        assert code in (0, 3), code
        (entry,) = json.loads(out.getvalue())["results"]
        assert ("error" in entry) == (code == 3)

    check()
    print(f"ok {fmt}: {seen['scored']} scored, {seen['error']} errors")
    return 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 100))

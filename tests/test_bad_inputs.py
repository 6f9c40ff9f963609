"""The bad-input matrix: every public function × every odd input, one table.

Each cell gives either a documented result or a clear error (type and message);
none may crash, hang or return NaN. docs/bad-inputs.md shows the same table.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import msssim

RNG = np.random.default_rng(17)
IMG = RNG.random((2, 161, 170, 3), dtype=np.float32)
OTHER = np.clip(IMG + 0.1 * RNG.standard_normal(IMG.shape, dtype=np.float32), 0, 1)
FUNCTIONS = {
    "ssim_multiscale": lambda a, b, **kw: msssim.ssim_multiscale(a, b, **kw),
    "ssim_multiscale_parts": lambda a, b, **kw: msssim.ssim_multiscale_parts(a, b, **kw).ms_ssim,
    "ssim": lambda a, b, **kw: msssim.ssim(a, b, **{k: v for k, v in kw.items() if k != "power_factors"}),
    "ssim index map": lambda a, b, **kw: msssim.ssim(
        a, b, return_index_map=True, **{k: v for k, v in kw.items() if k != "power_factors"}
    ),
}


def _with(value, where=(0, 5, 7, 1)):
    broken = IMG.copy()
    broken[where] = value
    return broken


def _memmap(tmp: Path) -> np.ndarray:
    np.save(tmp / "img.npy", IMG)
    return np.load(tmp / "img.npy", mmap_mode="r")


def _read_only() -> np.ndarray:
    arr = IMG.copy()
    arr.flags.writeable = False
    return arr


SAME = "same as contiguous float32"
# name: (make img1 (given a temp folder), img2, keyword overrides, expected)
# expected: (ErrorType, message regex), or SAME, or "empty".
CASES = {
    "NaN pixel": (
        lambda t: _with(np.nan),
        OTHER,
        {},
        (ValueError, r"img1 has 1 NaN or infinite .* index \(0, 5, 7, 1\)"),
    ),
    "+Inf pixel": (lambda t: _with(np.inf), OTHER, {}, (ValueError, r"NaN or infinite pixel")),
    "-Inf pixel": (lambda t: _with(-np.inf), OTHER, {}, (ValueError, r"NaN or infinite pixel")),
    "rank 2": (lambda t: IMG[0, :, :, 0], OTHER[0, :, :, 0], {}, (ValueError, r"expected rank >= 3")),
    "Python scalar": (lambda t: 0.5, 0.5, {}, (ValueError, r"expected rank >= 3")),
    "zero-size batch": (lambda t: IMG[:0], OTHER[:0], {}, "empty"),
    "zero-size H": (lambda t: IMG[:, :0], OTHER[:, :0], {}, (ValueError, r"too small")),
    "zero-size C": (lambda t: IMG[..., :0], OTHER[..., :0], {}, (ValueError, r"zero channels")),
    "mismatched H": (lambda t: IMG[:, 1:], OTHER, {}, (ValueError, r"same height, width and channels")),
    "mismatched W": (lambda t: IMG[:, :, 1:], OTHER, {}, (ValueError, r"same height, width and channels")),
    "mismatched C": (lambda t: IMG[..., :2], OTHER, {}, (ValueError, r"same height, width and channels")),
    "batch dims do not broadcast": (lambda t: IMG, np.stack([OTHER[0]] * 3), {}, (ValueError, r"do not broadcast")),
    "too small": (lambda t: IMG[:, :10, :10], OTHER[:, :10, :10], {}, (ValueError, r"too small.*at least")),
    "complex dtype": (lambda t: IMG.astype(np.complex64), OTHER, {}, (TypeError, r"img1 has dtype complex64")),
    "bool dtype": (lambda t: IMG > 0.5, OTHER, {}, (TypeError, r"img1 has dtype bool")),
    "object dtype": (lambda t: IMG.astype(object), OTHER, {}, (TypeError, r"img1 has dtype object")),
    "string dtype": (lambda t: IMG.astype("U8"), OTHER, {}, (TypeError, r"img1 has dtype <U8")),
    "max_val 0": (lambda t: IMG, OTHER, {"max_val": 0}, (ValueError, r"max_val must be finite and > 0")),
    "max_val negative": (lambda t: IMG, OTHER, {"max_val": -1.0}, (ValueError, r"max_val must be finite and > 0")),
    "max_val NaN": (lambda t: IMG, OTHER, {"max_val": float("nan")}, (ValueError, r"max_val must be finite")),
    "filter_size 0": (lambda t: IMG, OTHER, {"filter_size": 0}, (ValueError, r"filter_size must be >= 1")),
    "filter_sigma 0": (lambda t: IMG, OTHER, {"filter_sigma": 0.0}, (ValueError, r"filter_sigma must be finite")),
    "empty power factors": (lambda t: IMG, OTHER, {"power_factors": ()}, (ValueError, r"power_factors is empty")),
    "negative power factor": (
        lambda t: IMG,
        OTHER,
        {"power_factors": (0.5, -0.5)},
        (ValueError, r"power_factors must be finite and >= 0"),
    ),
    "Python lists": (lambda t: IMG.tolist(), OTHER.tolist(), {}, SAME),
    "memmap": (_memmap, OTHER, {}, SAME),
    "read-only": (lambda t: _read_only(), OTHER, {}, SAME),
    "big-endian": (lambda t: IMG.astype(">f4"), OTHER.astype(">f4"), {}, SAME),
    "non-contiguous": (lambda t: np.asfortranarray(IMG)[:, ::-1][:, ::-1], OTHER, {}, SAME),
}
POWER_ONLY = {"empty power factors", "negative power factor"}
CELLS = [
    (f, c) for f in FUNCTIONS for c in CASES if not (c in POWER_ONLY and f.startswith("ssim") and "multi" not in f)
]


@pytest.mark.parametrize(("function", "case"), CELLS)
def test_matrix(tmp_path, function, case):
    make, img2, overrides, expected = CASES[case]
    img1 = make(tmp_path)
    kwargs = {"max_val": 1.0, **overrides}
    call = FUNCTIONS[function]
    with ThreadPoolExecutor(1) as pool:  # a hang fails the test instead of the run
        future = pool.submit(call, img1, img2, **kwargs)
        if isinstance(expected, tuple):
            error, pattern = expected
            with pytest.raises(error, match=pattern):
                future.result(timeout=60)
            return
        got = future.result(timeout=60)
    assert isinstance(got, np.ndarray) and got.dtype == np.float32
    assert not np.isnan(got).any()
    if expected == "empty":
        assert got.size == 0
    else:
        np.testing.assert_array_equal(got, call(IMG, OTHER, max_val=1.0))


def test_docs_show_every_case():
    table = (Path(__file__).parent.parent / "docs" / "bad-inputs.md").read_text()
    rows = {m.group(1) for m in re.finditer(r"^\| ([^|]+?) \|", table, flags=re.M)}
    assert set(CASES) <= rows, set(CASES) - rows


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"numerics": "tensorflow-cpu"}, {"engine": "reference"}, {"power_factors": (0.0, 0.0)}],
    ids=["exact", "tensorflow-cpu", "reference", "zero power factors"],
)
def test_nan_pixels_are_found_after_the_score(kwargs):
    """The NumPy engines look for NaN/Inf pixels only when the score (or a term
    of it: a zero power factor hides one) is not finite; they must still name
    the pixel, whatever the numerics, engine or weights."""
    img2 = OTHER.copy()
    img2[1, 160, 3, 2] = np.inf
    with pytest.raises(ValueError, match=r"img2 has 1 NaN or infinite .* index \(1, 160, 3, 2\)"):
        msssim.ssim_multiscale(IMG, img2, 1.0, **kwargs)

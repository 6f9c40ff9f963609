"""Images larger than memory: memory-mapped arrays and uncompressed TIFF files
are streamed through the kernels, never copied to float. The 400-megapixel
pairs are scored in a child process whose peak resident memory is measured."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

import msssim

SIDE = 20_000  # 400 MP: 0.8 GB of uint8 input for the pair
LIMIT_MIB = 2048


def _write_pair(folder: Path, side: int, writer) -> tuple[Path, Path]:
    """Two correlated uint8 images, written in bands so the test itself stays small."""
    rng = np.random.default_rng(5)
    paths = writer(folder, side)
    for start in range(0, side, 2000):
        band = rng.integers(0, 256, (min(2000, side - start), side), dtype=np.uint8)
        noisy = np.clip(band.astype(np.int16) + rng.integers(-20, 21, band.shape, dtype=np.int16), 0, 255)
        for target, values in zip(paths[1], (band, noisy.astype(np.uint8))):
            target[start : start + len(band)] = values
    for target in paths[1]:
        target.flush()
    return paths[0]


def _npy(folder: Path, side: int):
    names = folder / "a.npy", folder / "b.npy"
    return names, [np.lib.format.open_memmap(n, mode="w+", dtype=np.uint8, shape=(side, side)) for n in names]


def _tiff(folder: Path, side: int):
    names = folder / "a.tif", folder / "b.tif"
    return names, [tifffile.memmap(n, shape=(side, side), dtype=np.uint8) for n in names]


def _peak_mib(code: str) -> tuple[str, float]:
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across execve, so a child
    # would report the test process's own peak if that were larger.
    script = code + (
        "\nimport sys\nhwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0]"
        "\nprint(int(hwm.split()[1]) / 1024, file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert done.returncode in (0, 3), done.stderr
    return done.stdout, float(done.stderr.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    return tmp_path_factory.mktemp("big")


def test_memory_mapped_400_megapixel_pair_in_under_2_gib(big):
    a, b = _write_pair(big, SIDE, _npy)
    out, peak = _peak_mib(
        f"import numpy as np, msssim\n"
        f"a = np.load({str(a)!r}, mmap_mode='r')[..., None]\n"
        f"b = np.load({str(b)!r}, mmap_mode='r')[..., None]\n"
        f"print(float(msssim.ssim_multiscale(a, b, 255)))"
    )
    assert 0 < float(out) < 1
    print(f"peak resident memory {peak:.0f} MiB")
    assert peak <= LIMIT_MIB, f"peak resident memory {peak:.0f} MiB"


def test_large_tiff_through_the_command_line_in_under_2_gib(big):
    a, b = _write_pair(big, SIDE, _tiff)
    out, peak = _peak_mib(
        f"import sys\nfrom msssim.cli import main\ncode = main([{str(a)!r}, {str(b)!r}])\nprint(code)"
    )
    assert out.split()[-1] == "0", out
    assert 0 < float(out.split()[0]) < 1
    print(f"peak resident memory {peak:.0f} MiB")
    assert peak <= LIMIT_MIB, f"peak resident memory {peak:.0f} MiB"


def test_streamed_result_equals_in_memory(tmp_path):
    a, b = _write_pair(tmp_path, 3001, _npy)
    mapped = [np.load(p, mmap_mode="r")[..., None] for p in (a, b)]
    loaded = [np.array(m) for m in mapped]
    np.testing.assert_array_equal(msssim.ssim_multiscale(*mapped, 255), msssim.ssim_multiscale(*loaded, 255))
    small = [m[:400, :517] for m in mapped]
    np.testing.assert_allclose(  # float32 kernels against float64: both within 1e-6 of the formula
        msssim.ssim_multiscale(*small, 255), msssim.ssim_multiscale(*small, 255, engine="reference"), rtol=0, atol=1e-6
    )

"""The command line on many pairs: folders, manifests, videos, output formats,
resuming, local workers and a Dask cluster. Every file is made here."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import time
import zlib
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

import msssim
import msssim._dataset
from msssim import _dataset
from msssim._dataset import score_partition
from msssim._io import to_color
from msssim._video import read_frames
from msssim.cli import Terminated, main

RNG = np.random.default_rng(21)
H, W = 176, 181


def _image(seed: int, channels: int = 3, size: tuple[int, int] = (H, W)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0 : size[0], 0 : size[1]] / size[1]
    base = np.stack([0.5 + 0.4 * np.sin(7 * x + c + seed) * np.cos(5 * y) for c in range(channels)], -1)
    return np.clip((base + 0.08 * rng.standard_normal(base.shape)) * 255, 0, 255).astype(np.uint8)


def _save(path: Path, arr: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr).save(path)
    return path


def _folders(root: Path, names: list[str], size: tuple[int, int] = (H, W)) -> tuple[Path, Path]:
    for i, name in enumerate(names):
        ref = _image(i, size=size)
        dist = np.clip(ref.astype(int) + np.random.default_rng(100 + i).integers(-25, 26, ref.shape), 0, 255)
        _save(root / "ref" / name, ref)
        _save(root / "dist" / name, dist.astype(np.uint8))
    return root / "ref", root / "dist"


def _tf_score(tf, ref: np.ndarray, dist: np.ndarray, max_val: float = 255.0, **kwargs) -> float:
    return float(tf.image.ssim_multiscale(tf.constant(ref), tf.constant(dist), max_val, **kwargs))


def _run_json(capsys, *args) -> tuple[int, dict]:
    code = main([*map(str, args), "--format", "json"])
    return code, json.loads(capsys.readouterr().out)


def test_folders_match_by_relative_path_and_report_unmatched(tmp_path, capsys, tf):
    ref_dir, dist_dir = _folders(tmp_path, ["a.png", "sub/b.png", "sub/deeper/c.png"])
    _save(ref_dir / "only_ref.png", _image(50))
    _save(dist_dir / "sub" / "only_dist.png", _image(51))
    code, doc = _run_json(capsys, ref_dir, dist_dir)
    assert code == 3
    by_name = {Path(r["distorted"]).relative_to(dist_dir).as_posix(): r for r in doc["results"]}
    assert set(by_name) == {"a.png", "sub/b.png", "sub/deeper/c.png", "only_ref.png", "sub/only_dist.png"}
    only_dist = ref_dir / "sub" / "only_dist.png"
    assert (
        by_name["only_ref.png"]["error"]
        == f"{dist_dir / 'only_ref.png'} (distorted): no such file, though the reference exists"
    )
    assert (
        by_name["sub/only_dist.png"]["error"] == f"{only_dist} (reference): no such file, though the distorted exists"
    )
    for name in ("a.png", "sub/b.png", "sub/deeper/c.png"):
        ref = np.asarray(Image.open(ref_dir / name))
        dist = np.asarray(Image.open(dist_dir / name))
        assert abs(by_name[name]["ms_ssim"] - _tf_score(tf, ref, dist)) <= 1e-5
    assert doc["pooled"]["count"] == 3
    scores = [by_name[n]["ms_ssim"] for n in ("a.png", "sub/b.png", "sub/deeper/c.png")]
    assert doc["pooled"]["mean"] == pytest.approx(np.mean(scores))
    assert doc["pooled"]["min"] == min(scores) and doc["pooled"]["max"] == max(scores)
    assert set(doc["pooled"]) == {"count", "mean", "median", "min", "max", "stdev", "harmonic_mean", "p5", "p95"}


def test_folders_follow_symlinked_subfolders_not_loops_and_sniff_unknown_names(tmp_path, capsys):
    """An evaluation set gathered with symlinks: linked subfolders are
    searched (a link back up is not followed round); a file whose name does
    not say what it is is scored if Pillow knows it (AVIF), else skipped."""
    store_ref, store_dist = _folders(tmp_path / "store", ["clip/f1.png", "clip/f2.png"])
    ref_dir, dist_dir = _folders(tmp_path, ["own.png"])
    (ref_dir / "clip").symlink_to(store_ref / "clip", target_is_directory=True)
    (dist_dir / "clip").symlink_to(store_dist / "clip", target_is_directory=True)
    (ref_dir / "clip_loop").mkdir()
    (ref_dir / "clip_loop" / "up").symlink_to(ref_dir, target_is_directory=True)  # (a loop: ref/clip_loop/up/...)
    for folder, seed in ((ref_dir, 0), (dist_dir, 1)):
        Image.fromarray(_image(seed)).save(folder / "k.avif")
        (folder / "notes.txt").write_text("not an image")
    code, doc = _run_json(capsys, ref_dir, dist_dir)
    assert code == 0, capsys.readouterr().err
    names = sorted(Path(r["reference"]).relative_to(ref_dir).as_posix() for r in doc["results"])
    assert names == ["clip/f1.png", "clip/f2.png", "k.avif", "own.png"]
    assert all("ms_ssim" in r for r in doc["results"])
    assert doc["skipped"] == [str(ref_dir / "notes.txt"), str(dist_dir / "notes.txt")]


@pytest.mark.parametrize("kind", ["csv", "jsonl"])
def test_manifest_paths_are_relative_to_it(tmp_path, capsys, kind):
    ref_dir, dist_dir = _folders(tmp_path / "data", ["x.png", "y.png"])
    rows = [("ref/x.png", "dist/x.png"), ("ref/y.png", "dist/y.png")]
    manifest = tmp_path / "data" / f"pairs.{kind}"
    if kind == "csv":
        manifest.write_text("reference,distorted\n" + "".join(f"{r},{d}\n" for r, d in rows))
    else:
        manifest.write_text("".join(json.dumps({"reference": r, "distorted": d}) + "\n" for r, d in rows))
    code, doc = _run_json(capsys, "--pairs", manifest)
    assert code == 0
    for (ref, dist), result in zip(rows, doc["results"]):
        want = msssim.ssim_multiscale(
            np.asarray(Image.open(manifest.parent / ref)), np.asarray(Image.open(manifest.parent / dist)), 255
        )
        assert result["ms_ssim"] == pytest.approx(float(want), abs=1e-7)


def test_bad_manifest_is_a_runtime_error(tmp_path, capsys):
    manifest = tmp_path / "pairs.csv"
    for header in ("left,right\n", ""):  # (without a header, its one pair was taken for it: "lists no pairs")
        manifest.write_text(header + "a.png,b.png\n")
        assert main(["--pairs", str(manifest)]) == 3
        first = header.strip() or "a.png,b.png"
        assert f"first line is the header 'reference,distorted' (the columns' names); its first line is {first!r}" in (
            capsys.readouterr().err
        )
    for name, content, says in (
        ("latin.csv", "reference,distorted\ncaf\xe9.png,b.png\n".encode("latin-1"), "is not UTF-8 text"),
        ("number.jsonl", b'{"reference": 5, "distorted": "b.png"}\n', "entry 1 needs 'reference' and 'distorted'"),
        ("broken.json", b'[{"reference": "a.png",', "not JSON"),
    ):
        (tmp_path / name).write_bytes(content)
        assert main(["--pairs", str(tmp_path / name)]) == 3
        assert says in capsys.readouterr().err


def test_manifests_as_spreadsheets_and_editors_save_them(tmp_path, capsys):
    """A CSV with a byte-order mark and spaces after the commas (Excel's
    "CSV UTF-8"), a ``.json`` list, and JSON lines in a ``.json`` file: the
    same pairs as a plain CSV."""
    _folders(tmp_path, ["x.png", "y.png"])
    rows = [("ref/x.png", "dist/x.png"), ("ref/y.png", "dist/y.png")]
    entries = [{"reference": r, "distorted": d} for r, d in rows]
    manifests = {
        "plain.csv": "reference,distorted\n" + "".join(f"{r},{d}\n" for r, d in rows),
        "excel.csv": "\ufeffreference, distorted\r\n" + "".join(f"{r}, {d}\r\n" for r, d in rows),
        "list.json": json.dumps(entries, indent=2),
        "lines.json": "".join(json.dumps(e) + "\n" for e in entries),
    }
    scores = {}
    for name, text in manifests.items():
        (tmp_path / name).write_text(text, encoding="utf-8", newline="")
        code, doc = _run_json(capsys, "--pairs", tmp_path / name)
        assert code == 0, name
        scores[name] = [(Path(r["reference"]).name, r["ms_ssim"]) for r in doc["results"]]
    assert len(scores["plain.csv"]) == 2 and all(v == scores["plain.csv"] for v in scores.values())


def test_a_folder_against_a_path_that_is_not_there_names_it(tmp_path, capsys):
    ref_dir, _ = _folders(tmp_path, ["a.png"])
    assert main([str(ref_dir), str(tmp_path / "dist_typo")]) == 3
    assert f"error: {tmp_path / 'dist_typo'}: no such file or folder" in capsys.readouterr().err


def test_output_to_a_closed_pipe_and_file_names_that_are_not_utf8(tmp_path):
    """``| head -1`` of JSON lines: no traceback, the status a command SIGPIPE
    ends has; a CSV file of results whose file names are bytes that are not
    UTF-8 (a Latin-1 system's): written, those bytes kept."""
    ref_dir, dist_dir = _folders(tmp_path, [f"p{i}.png" for i in range(3)])
    command = [sys.executable, "-m", "msssim.cli", str(ref_dir), str(dist_dir), "--format", "jsonl"]
    run = subprocess.run(" ".join(command) + " | head -1; echo status ${PIPESTATUS[0]}", shell=True,
                         executable="/bin/bash", capture_output=True, text=True, timeout=300)  # fmt: skip
    first, status = run.stdout.splitlines()
    assert "parameters" in json.loads(first) and status == "status 141", run.stdout
    assert "Traceback" not in run.stderr, run.stderr
    latin = os.fsdecode(b"caf\xe9.png")
    for folder in (ref_dir, dist_dir):
        (folder / "p0.png").rename(folder / latin)
    out = tmp_path / "out.csv"
    done = subprocess.run([*command[:-2], "-o", str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert b"caf\xe9.png" in out.read_bytes() and out.read_bytes().count(b"\n") == 4


def test_workers_take_no_more_threads_than_numba_starts(tmp_path, capsys, monkeypatch):
    """``NUMBA_NUM_THREADS`` (an HPC job's setting) bounds each worker's share:
    asking each for its cores' share above it failed every pair."""
    from msssim._dataset import cores

    monkeypatch.setattr(os, "cpu_count", lambda: 8)  # (an 8-core node, of which the job may use all)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    assert cores() == 8
    monkeypatch.setenv("NUMBA_NUM_THREADS", "1")
    assert cores() == 1
    ref_dir, dist_dir = _folders(tmp_path, [f"p{i}.png" for i in range(3)])
    code, doc = _run_json(capsys, ref_dir, dist_dir, "--workers", "2")
    assert code == 0 and all("ms_ssim" in r for r in doc["results"])


def _video(path: Path, frames: list[np.ndarray], codec: str = "rawvideo", pix_fmt: str = "yuv420p", rate=25) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], pix_fmt
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return path


def _clip(seed: int, count: int) -> list[np.ndarray]:
    return [_image(seed + i)[:, :180] for i in range(count)]  # even sizes for 4:2:0


@pytest.mark.parametrize(("suffix", "codec"), [(".y4m", "rawvideo"), (".mkv", "ffv1")])
def test_videos_scored_per_frame_like_tensorflow(tmp_path, capsys, tf, suffix, codec):
    ref = _video(tmp_path / f"ref{suffix}", _clip(0, 4), codec)
    noisy = [np.clip(f.astype(int) + RNG.integers(-30, 31, f.shape), 0, 255).astype(np.uint8) for f in _clip(0, 4)]
    dist = _video(tmp_path / f"dist{suffix}", noisy, codec)
    code, doc = _run_json(capsys, ref, dist)
    assert code == 0
    (result,) = doc["results"]
    decoded = [(px_r, px_d) for (_, px_r, *_), (_, px_d, *_) in zip(read_frames(ref, "rgb"), read_frames(dist, "rgb"))]
    assert [f["frame"] for f in result["frames"]] == [0, 1, 2, 3]
    for frame, (px_r, px_d) in zip(result["frames"], decoded):
        assert abs(frame["ms_ssim"] - _tf_score(tf, px_r, px_d)) <= 1e-5
    assert result["ms_ssim"] == pytest.approx(np.mean([f["ms_ssim"] for f in result["frames"]]), abs=1e-7)


def test_video_luma_plane_frames_and_lengths(tmp_path, capsys, tf):
    ref = _video(tmp_path / "ref.y4m", _clip(0, 6))
    dist = _video(tmp_path / "dist.y4m", _clip(1, 5))
    code = main([str(ref), str(dist)])
    assert code == 3
    err = capsys.readouterr().err
    assert "frame counts differ: the distorted ends after 5 scored frames" in err and "--shortest" in err
    code, doc = _run_json(capsys, ref, dist, "--shortest", "--color", "y", "--frames", "1:5:2")
    assert code == 0
    frames = doc["results"][0]["frames"]
    assert [f["frame"] for f in frames] == [1, 3]
    with av.open(str(ref)) as c_ref, av.open(str(dist)) as c_dist:
        planes = [
            (np.asarray(fr.to_ndarray()[:H]), np.asarray(fd.to_ndarray()[:H]))
            for fr, fd in zip(c_ref.decode(video=0), c_dist.decode(video=0))
        ]
    for frame in frames:
        y_ref, y_dist = planes[frame["frame"]]
        assert abs(frame["ms_ssim"] - _tf_score(tf, y_ref[..., None], y_dist[..., None])) <= 1e-5


def _turned(path: Path) -> Path:
    """An MP4 whose track header's display matrix turns the picture a quarter
    clockwise: a phone's portrait video, stored sideways."""
    data = bytearray(path.read_bytes())
    at = data.find(b"tkhd")
    matrix = at + 8 + (32 if data[at + 4] == 1 else 20) + 16  # (version 1 has 64-bit times)
    struct.pack_into(">9i", data, matrix, 0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000)
    path.write_bytes(data)
    return path


def test_a_phone_video_stored_sideways_is_scored_as_shown(tmp_path, capsys, tf):
    """The reference is tagged to be shown turned (a display matrix); the
    distorted, re-encoded as FFmpeg shows it, is stored turned. Both are
    scored as shown: this was a size error whose --scale advice gave 0.06."""
    clip = _clip(0, 3)
    ref = _turned(_video(tmp_path / "ref.mp4", clip, "libx264"))
    shown = [np.ascontiguousarray(np.rot90(np.clip(f.astype(int) + 12, 0, 255).astype(np.uint8), -1)) for f in clip]
    dist = _video(tmp_path / "dist.mp4", shown, "libx264")
    with av.open(str(ref)) as c_ref, av.open(str(dist)) as c_dist:
        decoded = list(zip(c_ref.decode(video=0), c_dist.decode(video=0)))
    assert decoded[0][0].rotation == -90  # (counter-clockwise degrees)
    code, doc = _run_json(capsys, ref, dist)
    assert code == 0
    for frame, (f_ref, f_dist) in zip(doc["results"][0]["frames"], decoded):
        want = _tf_score(tf, np.rot90(f_ref.to_ndarray(format="rgb24"), -1), f_dist.to_ndarray(format="rgb24"))
        assert abs(frame["ms_ssim"] - want) <= 1e-5 and want > 0.9


def test_videos_shown_a_quarter_apart_are_an_error_not_a_resize(tmp_path, capsys):
    """One video has a display rotation and the other, stored the same way,
    none: the size error advised --scale, which scored 0.04."""
    clip = _clip(0, 2)
    ref = _turned(_video(tmp_path / "ref.mp4", clip, "libx264"))
    dist = _video(tmp_path / "dist.mp4", clip, "libx264")
    assert main([str(ref), str(dist)]) == 3
    err = capsys.readouterr().err
    assert f"reference is {H}x180, distorted is 180x{H}: one is turned a quarter. msssim turns each video" in err
    assert "--scale" not in err


def test_a_damaged_video_is_scored_with_a_warning_that_names_its_frames(tmp_path, capsys):
    """FFmpeg's complaints (slice CRC mismatch) were hidden: a damaged file
    scored 0.47 with nothing said. As FFmpeg, msssim goes on, and says so."""
    clip = _clip(0, 6)
    ref = _video(tmp_path / "ref.mkv", clip, "ffv1")
    dist = _video(tmp_path / "dist.mkv", clip, "ffv1")
    data = bytearray(ref.read_bytes())
    for at in range(len(data) // 2, len(data) - 100, 997):
        data[at] ^= 0x5A
    (tmp_path / "damaged.mkv").write_bytes(data)
    assert main([str(ref), str(dist), "--db"]) == 0
    out, err = capsys.readouterr()
    assert "warning" not in err
    assert out.count(" (inf dB)") == 7  # (the mean and each frame: --db put dB on the mean alone)
    assert main([str(tmp_path / "damaged.mkv"), str(dist)]) == 0
    err = capsys.readouterr().err
    assert f"msssim: warning: {tmp_path / 'damaged.mkv'}: the decoder reported errors at " in err, err
    assert "they are scored as decoded, damage and all" in err


@pytest.mark.parametrize(("suffix", "codec"), [(".mkv", "ffv1"), (".webm", "libvpx-vp9"), (".mxf", "mpeg2video")])
def test_a_video_cut_short_is_scored_with_a_warning(tmp_path, capsys, suffix, codec):
    """A copy cut part way decodes the frames it holds, and FFmpeg says
    nothing: scored against a copy cut alike (or with --shortest), it passed
    for a shorter video."""
    whole = _video(tmp_path / f"whole{suffix}", _clip(0, 40), codec)  # (1.6 s: half of it is missed)
    data = whole.read_bytes()
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(data[: len(data) // 2])
    assert main([str(whole), str(whole)]) == 0
    assert "warning" not in capsys.readouterr().err
    assert main([str(whole), str(cut), "--shortest"]) == 0
    err = capsys.readouterr().err
    assert f"msssim: warning: {cut}: its frames end at " in err and "the file may be cut short" in err, err
    assert str(whole) not in err


def test_a_whole_video_of_a_variable_frame_rate_is_not_called_cut(tmp_path, capsys):
    """Matroska gives its nominal rate (30) as the average: 30 frames over
    1.15 s were "33 or more" by a count, a false warning; their times end
    where the duration does."""
    import fractions

    path, base = tmp_path / "vfr.mkv", fractions.Fraction(1, 90000)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 180, H, "yuv420p"
        stream.codec_context.time_base = stream.time_base = base
        for number, pixels in enumerate(_clip(0, 30)):
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts, frame.time_base = 1500 * min(number, 10) + 4500 * max(number - 10, 0), base
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    assert main([str(path), str(path)]) == 0
    assert "warning" not in capsys.readouterr().err


@pytest.mark.parametrize(("suffix", "codec"), [(".y4m", "rawvideo"), (".mkv", "ffv1"), (".mp4", "libx264")])
def test_videos_of_two_frame_rates_are_scored_with_a_warning(tmp_path, capsys, suffix, codec):
    """Frames are paired by number: at 25 and 50 fps, pairs show different
    moments, which was not said."""
    clip = _clip(0, 3)
    ref = _video(tmp_path / f"ref{suffix}", clip, codec)
    same = _video(tmp_path / f"same{suffix}", clip, codec)
    faster = _video(tmp_path / f"faster{suffix}", clip, codec, rate=50)
    ntsc = _video(tmp_path / f"ntsc{suffix}", clip, codec, rate=Fraction(30000, 1001))
    whole = _video(tmp_path / f"whole{suffix}", clip, codec, rate=30)
    assert main([str(whole), str(ntsc)]) == 0  # (1e-3 apart: inside the tolerance that was)
    assert "frame rates differ (reference 30 fps, distorted 29.97)" in capsys.readouterr().err
    assert main([str(ref), str(same)]) == 0
    assert "warning" not in capsys.readouterr().err
    assert main([str(ref), str(faster)]) == 0
    err = capsys.readouterr().err
    assert f"msssim: warning: {faster} vs {ref}: frame rates differ (reference 25 fps, distorted 50): frames" in err


def _luma(frame, dtype) -> np.ndarray:
    """A frame's Y plane as coded, ``[H, W, 1]``."""
    plane = frame.planes[0]
    rows = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size).view(dtype)
    return rows[:, : plane.width, None]


@pytest.mark.parametrize("color", ["rgb", "gray", "y"])
def test_an_8_bit_source_against_a_10_bit_encode_is_compared_in_the_deeper_range(tmp_path, capsys, color):
    """An 8-bit reference against a 10-bit encode (Main10) was an error whose
    hint, --color rgb or gray, was already the default: now the 8-bit frame
    is taken to the deeper range as FFmpeg converts it, RGB x257 to 16 bits,
    a Y plane shifted up two bits (16-235 to 64-940), and scored there."""
    clip = _clip(0, 3)
    noisy = [np.clip(f.astype(int) + RNG.integers(-20, 21, f.shape), 0, 255).astype(np.uint8) for f in clip]
    ref = _video(tmp_path / "ref.mkv", clip, "ffv1")
    dist = _video(tmp_path / "dist.mkv", noisy, "ffv1", "yuv420p10le")
    with av.open(str(ref)) as c_ref, av.open(str(dist)) as c_dist:
        pairs = list(zip(c_ref.decode(video=0), c_dist.decode(video=0)))
    if color == "y":
        planes = [(_luma(r, np.uint8), _luma(d, np.dtype("<u2"))) for r, d in pairs]
        want = [msssim.ssim_multiscale(r.astype(np.uint16) * 4, d, 1023.0) for r, d in planes]
    else:
        shown = [(r.to_ndarray(format="rgb24"), d.to_ndarray(format="rgb48le")) for r, d in pairs]
        shown = [(to_color(r, color), to_color(d, color)) for r, d in shown]
        want = [msssim.ssim_multiscale(r.astype(np.uint16) * 257, d, 65535.0) for r, d in shown]
    for args in ((ref, dist), (dist, ref)):
        code, doc = _run_json(capsys, *args, "--color", color)
        assert code == 0
        np.testing.assert_allclose([f["ms_ssim"] for f in doc["results"][0]["frames"]], want, rtol=0, atol=1e-6)


def test_video_planes_of_other_depths_or_kinds_and_pipes_are_refused(tmp_path, capsys):
    """--color y scores Y planes as coded: 10- against 12-bit ones (both
    uint16) and a grey video's full-range plane against a colour one's
    limited-range Y were scored silently (0.42, 0.98); a big-endian 16-bit
    plane was read byte-swapped (0.09); a pipe was "no such file"."""
    clip = _clip(0, 2)
    ten, twelve = (_video(tmp_path / f"{b}.mkv", clip, "ffv1", f"yuv420p{b}le") for b in (10, 12))
    assert main([str(ten), str(twelve), "--color", "y", "--max-val", "1023"]) == 3
    assert "bit depths differ at frame 0: the reference's samples reach 1023, the distorted's 4095, so one " in (
        capsys.readouterr().err
    )
    assert main([str(ten), str(twelve)]) == 0  # (RGB: both converted to 16 bits)
    grey, colour = _video(tmp_path / "grey.mkv", clip, "ffv1", "gray"), _video(tmp_path / "yuv.mkv", clip, "ffv1")
    assert main([str(grey), str(colour), "--color", "y"]) == 3
    assert "the reference is grey and the distorted colour" in capsys.readouterr().err
    assert main([str(colour), str(grey)]) == 3  # (RGB: as a grey and a colour image, not scored silently)
    assert "channels differ at frame 0: the distorted is grey, the reference colour; pass --color gray" in (
        capsys.readouterr().err
    )
    assert main([str(colour), str(grey), "--color", "gray"]) == 0
    assert "pooled over 1: mean 0.99" in capsys.readouterr().out
    noisy = [np.clip(f.astype(int) + RNG.integers(-30, 31, f.shape), 0, 255).astype(np.uint8) for f in clip]
    deep = [_video(tmp_path / f"{name}.mov", frames, "png", "gray16be") for name, frames in (("a", clip), ("b", noisy))]
    scores = [_run_json(capsys, *deep, "--color", color)[1]["results"][0]["ms_ssim"] for color in ("y", "gray")]
    assert scores[0] == scores[1] and scores[0] > 0.5
    os.mkfifo(tmp_path / "pipe")
    assert main([str(ten), str(tmp_path / "pipe")]) == 3
    assert "pipe (distorted): not a regular file (a pipe or a device?)" in capsys.readouterr().err


def test_videos_without_frames_to_score_say_which(tmp_path, capsys):
    empty = tmp_path / "empty.y4m"
    empty.write_bytes(b"YUV4MPEG2 W180 H176 F25:1 Ip A1:1 C420jpeg\n")  # (a header, no frame)
    assert main([str(empty), str(empty)]) == 3
    assert "no frames to score: the reference and the distorted have none\n" in capsys.readouterr().err
    ref, dist = (_video(tmp_path / f"{name}.y4m", _clip(seed, 2)) for name, seed in (("ref", 0), ("dist", 1)))
    assert main([str(ref), str(dist), "--frames", "5:"]) == 3
    assert "the reference and the distorted have none that --frames and --offset select" in capsys.readouterr().err


def test_output_formats_db_and_fail_under(tmp_path, capsys):
    ref_dir, dist_dir = _folders(tmp_path, ["a.png", "b.png"])
    assert main([str(ref_dir), str(dist_dir), "--format", "csv", "--db"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "reference,distorted,ms_ssim,ms_ssim_db,error"
    ref, dist, score, db, error = lines[1].split(",")
    assert float(db) == pytest.approx(-10 * np.log10(1 - float(score)), abs=1e-3) and error == ""
    assert main([str(ref_dir), str(dist_dir), "--format", "jsonl"]) == 0
    settings, *rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert settings["parameters"]["numerics"] == "exact" and "reference" not in settings
    assert sorted(Path(r["distorted"]).name for r in rows) == ["a.png", "b.png"]
    assert main([str(ref_dir), str(dist_dir)]) == 0
    table = capsys.readouterr().out
    assert "a.png" in table and "pooled over 2: mean" in table
    worst = min(r["ms_ssim"] for r in rows)
    assert main([str(ref_dir), str(dist_dir), "--fail-under", str(worst + 0.5 * (1 - worst))]) == 1
    assert "below --fail-under" in capsys.readouterr().err
    out = tmp_path / "out.json"
    assert main([str(ref_dir), str(dist_dir), "--format", "json", "-o", str(out), "--ssim"]) == 0
    doc = json.loads(out.read_text())
    assert doc["parameters"]["metric"] == "ssim" and "ssim" in doc["results"][0]
    a = np.asarray(Image.open(ref_dir / "a.png"))
    b = np.asarray(Image.open(dist_dir / "a.png"))
    assert doc["results"][0]["ssim"] == pytest.approx(float(msssim.ssim(a, b, 255)), abs=1e-7)


def test_parameters_reach_the_metric(tmp_path, capsys, tf):
    ref_dir, dist_dir = _folders(tmp_path, ["a.png"])
    ref, dist = (np.asarray(Image.open(d / "a.png")) for d in (ref_dir, dist_dir))
    code, doc = _run_json(
        capsys,
        ref_dir / "a.png",
        dist_dir / "a.png",
        "--power-factors",
        "0.3,0.3,0.4",
        "--filter-size",
        "7",
        "--filter-sigma",
        "1.1",
        "--k1",
        "0.02",
        "--k2",
        "0.05",
        "--max-val",
        "200",
    )
    assert code == 0
    want = _tf_score(
        tf, ref, dist, 200.0, power_factors=(0.3, 0.3, 0.4), filter_size=7, filter_sigma=1.1, k1=0.02, k2=0.05
    )
    assert abs(doc["results"][0]["ms_ssim"] - want) <= 1e-5
    assert doc["parameters"]["power_factors"] == [0.3, 0.3, 0.4]


@pytest.mark.parametrize(
    "args",
    [
        ["--filter-size", "0"],
        ["--power-factors", "0.5,-1"],
        ["--k2", "-1"],
        ["--frames", "5:1:0"],
        ["--fail-under", "2"],
        ["--workers", "0"],
    ],
)
def test_bad_parameters_are_usage_errors(tmp_path, args):
    with pytest.raises(SystemExit) as info:
        main(["a.png", "b.png", *args])
    assert info.value.code == 2


def test_a_negative_frame_range_is_told_why_it_is_refused(capsys):
    """``--frames -1:`` looked like an option to argparse: "expected one argument"."""
    with pytest.raises(SystemExit) as info:
        main(["a.mp4", "b.mp4", "--frames", "-1:"])
    assert info.value.code == 2
    assert "START:STOP:STEP must be >= 0 with STEP >= 1, got '-1:'" in capsys.readouterr().err
    # only values are joined: an option after one that wants a value is not taken for it
    for argv in (["-o", "--format=json"], ["--max-val", "--ss"]):
        with pytest.raises(SystemExit) as info:
            main(["a.png", "b.png", *argv])
        assert info.value.code == 2 and "expected one argument" in capsys.readouterr().err
    assert not Path("--format=json").exists()


def _bomb(path: Path) -> Path:
    """A PNG header claiming 40000x40000 pixels, with no image data behind it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 40000, 40000, 8, 0, 0, 0, 0))
        + chunk(b"IEND", b"")
    )
    return path


def test_bad_files_get_error_entries_and_the_run_goes_on(tmp_path, capsys):
    ref_dir, dist_dir = _folders(tmp_path, ["good.png", "empty.png", "cut.png", "bomb.png", "small.png", "deep.png"])
    (dist_dir / "empty.png").write_bytes(b"")
    data = (dist_dir / "cut.png").read_bytes()
    (dist_dir / "cut.png").write_bytes(data[: len(data) // 3])
    _bomb(dist_dir / "bomb.png")
    _save(dist_dir / "small.png", _image(3)[:100])
    Image.fromarray(_image(4)[..., 0].astype(np.uint16) * 257).save(dist_dir / "deep.png")
    _save(ref_dir / "deep.png", _image(4)[..., :1])
    code, doc = _run_json(capsys, ref_dir, dist_dir)
    assert code == 3
    errors = {Path(r["distorted"]).name: r.get("error", "") for r in doc["results"]}
    assert errors["good.png"] == ""
    assert "the file is empty" in errors["empty.png"]
    assert "cannot decode" in errors["cut.png"]
    assert "40000x40000 is more than the 1073741824 pixels msssim decodes (a decompression bomb?)" in errors["bomb.png"]
    # Past Pillow's own limit of 89.5 million pixels (a 100-megapixel camera's): read.
    Image.new("L", (10000, 9500), 7).save(tmp_path / "large.png")
    assert msssim.read_image(tmp_path / "large.png").shape == (9500, 10000, 1)
    assert "sizes differ" in errors["small.png"]
    assert errors["deep.png"] == ""  # (16-bit against 8-bit: compared in the 16-bit range)
    assert next(r["ms_ssim"] for r in doc["results"] if r["distorted"].endswith("deep.png")) == 1.0


def test_map_and_plot_pictures(tmp_path, capsys):
    ref_dir, dist_dir = _folders(tmp_path, ["a.png"])
    out = tmp_path / "map.png"
    assert main([str(ref_dir / "a.png"), str(dist_dir / "a.png"), "--map", str(out)]) == 0
    picture = np.asarray(Image.open(out))
    assert picture.shape[0] >= H - 10 and picture.shape[1] > W - 10 + 24  # the map, then the colour bar
    ref = _video(tmp_path / "r.y4m", _clip(0, 3))
    dist = _video(tmp_path / "d.y4m", _clip(5, 3))
    plot = tmp_path / "plot.png"
    assert main([str(ref), str(dist), "--plot", str(plot)]) == 0
    assert Image.open(plot).size == (900, 400)
    with pytest.raises(SystemExit):
        main([str(ref), str(dist), "--map", str(out)])
    capsys.readouterr()
    short = _video(tmp_path / "short.y4m", _clip(5, 2))
    assert main([str(ref), str(short), "--plot", str(tmp_path / "none.png")]) == 3  # (frame counts differ)
    assert "no video was scored: " in capsys.readouterr().err and not (tmp_path / "none.png").exists()


def _count_results(path: Path) -> int:
    """Result lines: every line but the settings line that starts the file."""
    return max(0, len(path.read_text().splitlines()) - 1) if path.exists() else 0


def test_killed_run_resumes_with_every_pair_exactly_once(tmp_path):
    names = [f"img{i:02d}.png" for i in range(24)]
    ref_dir, dist_dir = _folders(tmp_path, names, size=(720, 960))  # slow enough to kill part-way
    out = tmp_path / "results.jsonl"
    command = [
        sys.executable,
        "-m",
        "msssim.cli",
        str(ref_dir),
        str(dist_dir),
        "--format",
        "jsonl",
        "-o",
        str(out),
        "--workers",
        "1",
    ]
    process = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while _count_results(out) < 3 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    first = _count_results(out)
    assert 3 <= first < len(names), "the run was killed part-way, after some results were written"
    with open(out, "a") as f:
        f.write('{"reference": "cut off mid-li')  # a write the kill interrupted
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert f"{first} pairs already in" in done.stderr
    settings, *rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert settings["parameters"]["numerics"] == "exact"  # one settings line, first
    assert sorted(Path(r["distorted"]).name for r in rows) == names
    clean = subprocess.run(
        [sys.executable, "-m", "msssim.cli", str(ref_dir), str(dist_dir), "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    want = {r["distorted"]: r["ms_ssim"] for r in json.loads(clean.stdout)["results"]}
    assert {r["distorted"]: r["ms_ssim"] for r in rows} == want


def _workers(pid: int) -> list[int]:
    """The process pool's workers that ``pid`` spawned (not its resource tracker)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue  # (a process that ended meanwhile)
        if parent == pid and b"spawn_main" in command:
            found.append(int(stat.parent.name))
    return found


def _busy_run(tmp_path: Path):
    """24 pairs scored by 2 workers to a JSONL file, caught once 3 results are
    written: the names, the command, the file, the process and its workers."""
    names = [f"img{i:02d}.png" for i in range(24)]
    ref_dir, dist_dir = _folders(tmp_path, names, size=(720, 960))
    out = tmp_path / "results.jsonl"
    command = [sys.executable, "-m", "msssim.cli", str(ref_dir), str(dist_dir), "-o", str(out), "--workers", "2"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while _count_results(out) < 3 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    return names, command, out, process, _workers(process.pid)


def test_a_killed_worker_s_pairs_are_scored_again(tmp_path):
    """A worker killed once mid-run (kill -9) broke the pool, and every pair
    not yet scored became an error, the other worker's too: the partitions
    that had started are scored again, each alone, the rest in a new pool."""
    names, command, out, process, workers = _busy_run(tmp_path)
    assert workers and process.poll() is None, "killed part-way, with workers running"
    os.kill(workers[0], signal.SIGKILL)
    _, err = process.communicate(timeout=300)
    assert process.returncode == 0 and "Traceback" not in err, err
    settings, *rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(Path(r["distorted"]).name for r in rows) == names  # (every pair, once)
    assert all("ms_ssim" in r for r in rows)


_DOOMED = """
import os

if os.environ.get("MSSSIM_TEST_DOOMED"):  # (every process, the spawned workers too)
    from msssim import _dataset

    scored = _dataset.score_partition

    def score_partition(pairs, options, on_frame=None):
        if any("doomed" in pair.reference for pair in pairs):
            os._exit(1)  # (as the out-of-memory killer ends a worker)
        return scored(pairs, options, on_frame)

    _dataset.score_partition = score_partition
"""


def test_partitions_whose_workers_die_before_starting_them_are_lost_not_dropped(monkeypatch):
    """A pool that breaks before its worker starts the partition retried
    alone (killed at spawn, as the first pool's were) dropped its pairs: no
    result, no error."""
    calls = []

    def broken(chunks, indices, options, workers, context):
        calls.append((list(indices), workers))
        return [], list(indices)  # (no partition started)
        yield  # (a generator, as _pool)

    monkeypatch.setattr(_dataset, "_pool", broken)
    chunks = [[_dataset.Pair(f"r{i}.png", f"d{i}.png")] for i in range(3)]
    results = [r for part in _dataset._in_processes(chunks, _dataset.Options(), 2) for r in part]
    assert sorted(r["distorted"] for r in results) == ["d0.png", "d1.png", "d2.png"]
    assert all("the worker process scoring it stopped" in r["error"] for r in results)
    assert calls == [([0, 1, 2], 2), ([0], 1), ([1], 1), ([2], 1)]


def test_a_pair_whose_worker_dies_each_time_loses_only_its_partition_and_a_rerun_retries_it(tmp_path):
    """A pair that kills its worker every time (out of memory on a huge
    file): its partition's pairs get an error entry each, exit 3, and every
    other pair is scored; the same command again tries only those."""
    names = [f"img{i:02d}.png" for i in range(11)] + ["doomed.png"]
    ref_dir, dist_dir = _folders(tmp_path, names)
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(_DOOMED)
    env = {**os.environ, "MSSSIM_TEST_DOOMED": "1", "PYTHONPATH": str(tmp_path / "site")}
    out = tmp_path / "results.jsonl"
    command = [sys.executable, "-m", "msssim.cli", str(ref_dir), str(dist_dir), "-o", str(out), "--workers", "2"]
    first = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert first.returncode == 3 and "Traceback" not in first.stderr, first.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()[1:]]
    assert sorted(Path(r["distorted"]).name for r in rows) == sorted(names)  # (every pair, once)
    lost = [r for r in rows if "error" in r]
    assert "doomed.png" in [Path(r["distorted"]).name for r in lost]
    size = len(_dataset.partitions([_dataset.Pair("a.png", "a.png")] * len(names), 2)[0])
    assert len(lost) <= size < len(names) // 2  # (its partition alone)
    assert all("worker process scoring it stopped" in r["error"] for r in lost)
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)  # (no longer doomed)
    assert done.returncode == 0, done.stderr
    assert f"scoring the other {len(lost)} ({len(lost)} of them again: they failed before)" in done.stderr
    assert f"{len(names)} of {len(names)} pairs scored" in done.stderr  # (each once in the pooled figures)
    last = {r["distorted"]: r for r in (json.loads(line) for line in out.read_text().splitlines()[1:])}
    assert len(last) == len(names) and all("ms_ssim" in r for r in last.values())


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def test_sigterm_stops_the_workers_and_keeps_what_they_scored(tmp_path):
    """``kill`` or a batch system's time limit ends the run as Ctrl-C does:
    exit 143, the results so far kept and counted, and no worker process left
    running (they were orphans that went on scoring)."""
    names, command, out, process, workers = _busy_run(tmp_path)
    assert workers and process.poll() is None, "terminated part-way, with workers running"
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143 and "Traceback" not in err, err
    done = re.search(r"terminated after (\d+) of 24 pairs; their results are in (.*); run the same command", err)
    assert done and int(done[1]) == _count_results(out) and done[2] == str(out), err
    deadline = time.monotonic() + 10
    while any(map(_alive, workers)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(map(_alive, workers))


@pytest.mark.parametrize("stop, code, said", [(KeyboardInterrupt, 130, "interrupted"), (Terminated, 143, "terminated")])
def test_a_stopped_run_still_writes_the_table_of_what_it_scored(tmp_path, capsys, monkeypatch, stop, code, said):
    """Ctrl-C or SIGTERM during a run that writes a table to stdout: the pairs
    scored so far are written (they were lost), and stderr says how many."""
    names = [f"img{i}.png" for i in range(5)]
    ref_dir, dist_dir = _folders(tmp_path, names)
    scored = []

    def score_pair(pair, options, on_frame=None):
        if len(scored) == 3:
            raise stop
        scored.append(pair.distorted)
        return real(pair, options, on_frame)

    real = msssim._dataset.score_pair
    monkeypatch.setattr(msssim._dataset, "score_pair", score_pair)
    assert main([str(ref_dir), str(dist_dir), "--format", "csv"]) == code
    out, err = capsys.readouterr()
    rows = out.splitlines()[1:]
    assert [row.split(",")[1] for row in rows] == scored and all(float(row.split(",")[2]) > 0 for row in rows)
    assert f"{said} after 3 of 5 pairs; their results are written" in err


@pytest.mark.parametrize("stop, code, said", [(KeyboardInterrupt, 130, "interrupted"), (Terminated, 143, "terminated")])
def test_a_video_stopped_part_way_keeps_its_frames_and_a_rerun_scores_it_whole(
    tmp_path, capsys, monkeypatch, stop, code, said
):
    """Ctrl-C or SIGTERM in the middle of a video: the frames scored so far
    are written, each with its score (FFmpeg prints its statistics so far),
    as a result that is an error, so that a resumed JSONL run scores the
    video again, whole; nothing of a stopped video counts as its score."""
    ref = _video(tmp_path / "ref.y4m", _clip(0, 6))
    dist = _video(tmp_path / "dist.y4m", [np.clip(f.astype(int) + 9, 0, 255).astype(np.uint8) for f in _clip(0, 6)])
    calls = []

    def score_arrays(*args):
        if len(calls) == 3:
            raise stop
        calls.append(real(*args))
        return calls[-1]

    real = msssim._dataset.score_arrays
    monkeypatch.setattr(msssim._dataset, "score_arrays", score_arrays)
    assert main([str(ref), str(dist)]) == code
    out, err = capsys.readouterr()
    assert f"{said} after 0 of 1 pairs and 3 frames of {dist}; their results are written" in err
    assert "Traceback" not in err
    lines = out.splitlines()
    assert "stopped after 3 frames" in lines[1] and f"their mean {np.mean(calls):.6f}" in lines[1]
    assert [line.split() for line in lines[2:]] == [["frame", str(n), f"{v:.6f}"] for n, v in enumerate(calls)]
    assert "pooled" not in out

    calls.clear()
    results = tmp_path / "results.jsonl"
    assert main([str(ref), str(dist), "--format", "jsonl", "-o", str(results)]) == code
    assert f"their results are in {results}; run the same command to finish" in capsys.readouterr().err
    (row,) = [json.loads(line) for line in results.read_text().splitlines()[1:]]
    assert "stopped after 3 frames" in row["error"] and "ms_ssim" not in row
    assert [f["ms_ssim"] for f in row["frames"]] == pytest.approx(calls, abs=1e-7)
    monkeypatch.setattr(msssim._dataset, "score_arrays", real)
    assert main([str(ref), str(dist), "--format", "jsonl", "-o", str(results)]) == 0
    last = json.loads(results.read_text().splitlines()[-1])
    assert len(last["frames"]) == 6 and "error" not in last and "again" in capsys.readouterr().err


def _jsonl_run(capsys, ref_dir: Path, dist_dir: Path, out: Path, *args) -> tuple[int, str]:
    code = main([str(ref_dir), str(dist_dir), "--format", "jsonl", "-o", str(out), *args])
    return code, capsys.readouterr().err


def test_resumed_jsonl_refuses_results_of_other_numerics(tmp_path, capsys):
    ref_dir, dist_dir = _folders(tmp_path, ["a.png", "b.png"])
    out = tmp_path / "results.jsonl"
    assert _jsonl_run(capsys, ref_dir, dist_dir, out, "--numerics", "tensorflow-cpu")[0] == 0
    lines = out.read_text().splitlines()
    settings = json.loads(lines[0])
    assert set(settings) == {"schema_version", "msssim_version", "parameters"}
    assert settings["parameters"]["numerics"] == "tensorflow-cpu" and len(lines) == 3
    (dist_dir / "c.png").write_bytes((dist_dir / "a.png").read_bytes())
    (ref_dir / "c.png").write_bytes((ref_dir / "a.png").read_bytes())
    before = out.read_bytes()
    with pytest.raises(SystemExit) as info:
        _jsonl_run(capsys, ref_dir, dist_dir, out)  # the default, exact
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "holds results made with --numerics tensorflow-cpu, and this run asks for --numerics exact" in err
    assert "-o" in err and "--overwrite" in err
    assert out.read_bytes() == before  # untouched
    code, err = _jsonl_run(capsys, ref_dir, dist_dir, out, "--numerics", "tensorflow-cpu")
    assert code == 0 and "2 pairs already in" in err
    lines = out.read_text().splitlines()
    assert len(lines) == 4 and sum('"parameters"' in line for line in lines) == 1


def test_resumed_jsonl_of_a_version_without_a_later_setting_takes_it_as_off(tmp_path, capsys):
    """--exif-orientation came after files were written without it: their
    runs resume as long as it is left off."""
    ref_dir, dist_dir = _folders(tmp_path, ["a.png", "b.png"])
    out = tmp_path / "results.jsonl"
    assert _jsonl_run(capsys, ref_dir, dist_dir, out)[0] == 0
    settings, first, _ = out.read_text().splitlines()
    older = json.loads(settings)
    del older["parameters"]["exif_orientation"]
    out.write_text(f"{json.dumps(older)}\n{first}\n")
    with pytest.raises(SystemExit) as info:
        _jsonl_run(capsys, ref_dir, dist_dir, out, "--exif-orientation")
    assert info.value.code == 2 and "exif" in capsys.readouterr().err
    code, err = _jsonl_run(capsys, ref_dir, dist_dir, out)
    assert code == 0 and "1 pairs already in" in err and len(out.read_text().splitlines()) == 3
    # --db adds each score's twin in dB: a file's lines all have it, or none (they were mixed)
    with pytest.raises(SystemExit) as info:
        _jsonl_run(capsys, ref_dir, dist_dir, out, "--db")
    assert info.value.code == 2 and "holds results made with no --db, and this run asks for --db" in (
        capsys.readouterr().err
    )


def test_resumed_jsonl_without_settings_line_is_refused_until_overwritten(tmp_path, capsys):
    # A file written before the settings line existed: results only, which cannot be checked.
    ref_dir, dist_dir = _folders(tmp_path, ["a.png", "b.png"])
    out = tmp_path / "old.jsonl"
    assert _jsonl_run(capsys, ref_dir, dist_dir, out)[0] == 0
    out.write_text("\n".join(out.read_text().splitlines()[1:2]) + "\n")  # one result, no settings
    before = out.read_bytes()
    with pytest.raises(SystemExit) as info:
        _jsonl_run(capsys, ref_dir, dist_dir, out)
    assert info.value.code == 2 and out.read_bytes() == before
    assert "records no settings" in capsys.readouterr().err
    code, err = _jsonl_run(capsys, ref_dir, dist_dir, out, "--overwrite")
    assert code == 0 and "already in" not in err
    settings, *rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert "parameters" in settings and len(rows) == 2 and all("reference" in r for r in rows)


def test_local_workers_equal_one_process(tmp_path, capsys):
    ref_dir, dist_dir = _folders(tmp_path, [f"p{i}.png" for i in range(6)])
    _, alone = _run_json(capsys, ref_dir, dist_dir, "--workers", "1")
    _, pool = _run_json(capsys, ref_dir, dist_dir, "--workers", "2")
    assert pool["results"] == alone["results"]


def test_dask_cluster_on_loopback_equals_local_run(tmp_path, capsys, monkeypatch):
    """Folders named relative to this process's working folder, which is not
    the workers': the same results, naming the files as given."""
    from distributed import LocalCluster

    ref_dir, dist_dir = _folders(tmp_path, [f"p{i}.png" for i in range(5)])
    _video(ref_dir / "clip.y4m", _clip(0, 3))
    _video(dist_dir / "clip.y4m", _clip(9, 3))
    (ref_dir / "lonely.png").write_bytes((ref_dir / "p0.png").read_bytes())  # (its error names it as given too)
    with LocalCluster(
        host="127.0.0.1", n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        monkeypatch.chdir(tmp_path)  # (after the workers started: theirs is another folder)
        _, local = _run_json(capsys, "ref", "dist")
        code, remote = _run_json(capsys, "ref", "dist", "--scheduler", cluster.scheduler_address)
    assert code == 3
    assert remote["results"] == local["results"]
    assert len(local["results"]) == 7 and sum("ms_ssim" in r for r in local["results"]) == 6
    assert local["results"][0]["reference"].startswith("ref/")
    assert any(r.get("error", "").startswith("dist/lonely.png (distorted): no such file") for r in remote["results"])


def _dying(partition, options):
    """``score_partition``, but a partition with a pair named "doomed" kills its worker."""
    if any("doomed" in pair.reference for pair in partition):
        os._exit(1)
    return score_partition(partition, options)


def test_a_pair_that_kills_its_workers_is_lost_not_the_run(tmp_path, capsys, monkeypatch):
    """Dask gave up on a partition whose workers kept dying (KilledWorker:
    out of memory on a huge file): the run ended in a traceback, and a table
    or CSV lost every result. The partition's pairs are now errors, exit 3."""
    import cloudpickle
    import dask
    from distributed import LocalCluster

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # (_dying, to the workers)
    monkeypatch.setattr(_dataset, "score_partition", _dying)
    ref_dir, dist_dir = _folders(tmp_path, ["doomed.png", "fine.png"])
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        with LocalCluster(host="127.0.0.1", n_workers=1, threads_per_worker=1, dashboard_address=None) as cluster:
            code, document = _run_json(capsys, ref_dir, dist_dir, "--scheduler", cluster.scheduler_address)
    assert code == 3
    assert len(document["results"]) == 2
    assert all("the worker process scoring it stopped" in r["error"] for r in document["results"])


def test_a_scheduler_that_does_not_answer_or_a_bad_address_is_an_error(tmp_path, capsys):
    """A port that takes the connection and says nothing (another service, a
    dead tunnel) hung the run; an http:// or tls:// address was a traceback."""
    ref_dir, dist_dir = _folders(tmp_path, ["a.png"])
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        address = f"tcp://127.0.0.1:{silent.getsockname()[1]}"
        start = time.perf_counter()
        assert main([str(ref_dir), str(dist_dir), "--scheduler", address]) == 3
        assert time.perf_counter() - start < 60
    assert "no answer in 10 s: is it a Dask scheduler's address?" in capsys.readouterr().err
    for address in ("http://127.0.0.1:9", "tls://127.0.0.1:9"):
        assert main([str(ref_dir), str(dist_dir), "--scheduler", address]) == 3
        assert f"cannot reach the Dask scheduler at {address} (" in capsys.readouterr().err


def test_unreachable_scheduler_is_a_runtime_error(tmp_path, capsys):
    ref_dir, dist_dir = _folders(tmp_path, ["a.png"])
    assert main([str(ref_dir), str(dist_dir), "--scheduler", "tcp://127.0.0.1:9"]) == 3
    assert "cannot reach the Dask scheduler" in capsys.readouterr().err


# --- where the results go: outputs that fail, files other runs share (helper-15's review) -----------


def test_an_output_that_cannot_be_written_is_refused_first_or_reported_with_the_results_kept(
    tmp_path, capsys, monkeypatch
):
    """A read-only -o was found only after every pair was scored (a
    traceback, the results lost); a full disk at the end lost them too."""
    ref_dir, dist_dir = _folders(tmp_path, ["a.png", "b.png"])
    locked = tmp_path / "locked.json"

    def refusing(path, *args, **kwargs):
        if Path(path) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return open(path, *args, **kwargs)

    monkeypatch.setattr(msssim.cli, "open", refusing, raising=False)  # (as a read-only folder, even for root)
    scored = []
    monkeypatch.setattr(_dataset, "score_arrays", lambda *a: scored.append(a) or 0.5)
    with pytest.raises(SystemExit) as info:
        main([str(ref_dir), str(dist_dir), "-o", str(locked)])
    assert info.value.code == 2 and not scored and not locked.exists()
    assert f"-o {locked}: cannot write it (Permission denied)" in capsys.readouterr().err
    if not Path("/dev/full").exists():
        return
    assert main([str(ref_dir), str(dist_dir), "-o", "/dev/full", "--format", "csv", "--overwrite"]) == 3
    out, err = capsys.readouterr()
    assert "cannot write to /dev/full (No space left on device); the results follow on stdout instead" in err
    assert out.splitlines()[1:] == [f"{ref_dir / n},{dist_dir / n},0.5," for n in ("a.png", "b.png")]
    assert main([str(ref_dir), str(dist_dir), "-o", "/dev/full", "--format", "jsonl", "--overwrite"]) == 3
    assert "cannot write to /dev/full (No space left on device)" in capsys.readouterr().err
    assert Path("/dev/full").is_char_device()  # (--overwrite empties a file; it unlinked it, a device too)


def test_overwrite_writes_through_a_link_and_a_resumed_file_of_stray_bytes_is_read(tmp_path, capsys):
    ref_dir, dist_dir = _folders(tmp_path, ["a.png"])
    real, link = tmp_path / "real.jsonl", tmp_path / "link.jsonl"
    real.write_text("")
    link.symlink_to(real)
    assert main([str(ref_dir), str(dist_dir), "-o", str(link), "--overwrite"]) == 0
    assert link.is_symlink() and len(real.read_text().splitlines()) == 2
    with open(real, "ab") as f:
        f.write(b"\xff\xfe not a result\n")
    assert main([str(ref_dir), str(dist_dir), "-o", str(link)]) == 0  # (it was a UnicodeDecodeError)
    assert "1 pairs already in" in capsys.readouterr().err
    # a dangling link: written through, as the shell's > does (the check of -o made the file, then unlinked the link)
    dangling = tmp_path / "dangling.json"
    dangling.symlink_to(tmp_path / "target.json")
    assert main([str(ref_dir), str(dist_dir), "-o", str(dangling), "--format", "json"]) == 0
    assert dangling.is_symlink() and json.loads((tmp_path / "target.json").read_text())["results"]


def test_a_results_file_shared_with_other_runs_is_summed_up_for_this_run_s_pairs_only(tmp_path, capsys):
    """A JSONL file other jobs also wrote to: their rows (an error among
    them) went into this run's pooled mean and its exit status."""
    other_ref, other_dist = _folders(tmp_path / "other", ["x.png"])
    (other_dist / "x.png").unlink()
    out = tmp_path / "all.jsonl"
    assert main([str(other_ref), str(other_dist), "-o", str(out)]) == 3
    ref_dir, dist_dir = _folders(tmp_path / "mine", ["a.png", "b.png"])
    assert main([str(ref_dir), str(dist_dir), "-o", str(out)]) == 0
    assert "2 of 2 pairs scored" in capsys.readouterr().err
    assert len(out.read_text().splitlines()) == 4  # (the other run's row is kept in the file)


def test_unreadable_folders_and_renamed_files_get_errors_not_silence(tmp_path, capsys, monkeypatch):
    """A subfolder that cannot be listed was dropped with its pairs (exit 0);
    a PNG reference against a JPEG encode of the same name was twice "no such
    file", with no word of the namesake."""
    ref_dir, dist_dir = _folders(tmp_path, ["a.png", "sub/c.png", "d.png"])
    listing = os.scandir

    def scandir(path="."):
        if Path(path).name == "sub":
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return listing(path)

    monkeypatch.setattr(os, "scandir", scandir)
    (dist_dir / "d.png").rename(dist_dir / "d.jpg")
    code, doc = _run_json(capsys, ref_dir, dist_dir)
    monkeypatch.setattr(os, "scandir", listing)
    assert code == 3
    errors = {Path(r["distorted"]).name: r.get("error") for r in doc["results"]}
    assert errors["a.png"] is None and set(errors) == {"a.png", "sub", "d.png", "d.jpg"}
    monkeypatch.setattr(os, "scandir", scandir)  # (its entry was taken for a video's: --frames went unrefused)
    with pytest.raises(SystemExit) as info:
        main([str(ref_dir), str(dist_dir), "--frames", "0:2"])
    monkeypatch.setattr(os, "scandir", listing)
    assert info.value.code == 2 and "--frames applies to videos and animated images" in capsys.readouterr().err
    assert errors["sub"] == (
        f"{ref_dir / 'sub'} (reference): cannot read this folder (Permission denied); {dist_dir / 'sub'} "
        "(distorted): cannot read this folder (Permission denied); not scored"
    )
    assert errors["d.png"] == (
        f"{dist_dir / 'd.png'} (distorted): no such file, though the reference exists; the distorted folder has "
        "d.jpg: folders pair files by their whole relative path, extension included; list such pairs in a --pairs "
        "manifest"
    )


def test_file_names_that_are_not_utf8_reach_a_strict_stdout_as_their_bytes(tmp_path):
    """stdout under a UTF-8 locale (strict) could not take a name of other
    bytes: a traceback after the scoring, the results lost."""
    ref_dir, dist_dir = _folders(tmp_path, ["a.png"])
    for folder in (ref_dir, dist_dir):
        os.rename(folder / "a.png", os.path.join(os.fsencode(folder), b"caf\xe9.png"))
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    command = [sys.executable, "-m", "msssim", str(ref_dir), str(dist_dir), "--format", "csv"]
    done = subprocess.run(command, capture_output=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert b"/caf\xe9.png," in done.stdout.splitlines()[1]
    # an ASCII stdout, and a name it cannot spell (a traceback, the results lost)
    os.rename(os.path.join(os.fsencode(ref_dir), b"caf\xe9.png"), ref_dir / "café.png")
    os.rename(os.path.join(os.fsencode(dist_dir), b"caf\xe9.png"), dist_dir / "café.png")
    done = subprocess.run(command, capture_output=True, env={**env, "PYTHONIOENCODING": "ascii"}, timeout=120)
    assert done.returncode == 0, done.stderr
    assert b"/caf\\xe9.png," in done.stdout.splitlines()[1]


@pytest.mark.parametrize(
    "args, says",
    [
        (["--power-factors", "-1,1"], "power_factors must be finite and >= 0, got [-1.0, 1.0]"),
        (["--ssim", "--power-factors", "1,1"], "--power-factors with --ssim: SSIM has one scale; leave one out"),
        (["--workers", "2", "--scheduler", "tcp://h:1"], "--workers with --scheduler: the cluster's workers"),
        (["--overwrite"], "--overwrite without -o: it replaces the -o file; leave one out"),
    ],
)
def test_options_that_contradict_or_start_with_a_dash_are_told_why(capsys, args, says):
    with pytest.raises(SystemExit) as info:
        main(["a.png", "b.png", *args])
    assert info.value.code == 2 and says in capsys.readouterr().err


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_nan_or_inf_pixel_in_a_file_is_named_by_its_side(tmp_path, capsys, bad):
    """It was "img2 has ..." (the library's argument), and an infinite pixel
    was told it lay "far past 1"."""
    ref = np.random.default_rng(0).random((176, 176, 3)).astype(np.float32)
    dist = ref.copy()
    dist[5, 6, 1] = bad
    np.save(tmp_path / "ref.npy", ref)
    np.save(tmp_path / "dist.npy", dist)
    assert main([str(tmp_path / "ref.npy"), str(tmp_path / "dist.npy")]) == 3
    err = capsys.readouterr().err
    assert "dist.npy vs " in err and "ref.npy: the distorted has 1 NaN or infinite pixel value(s), the first at " in err

"""The command line as codec engineers use it: resumes that never mix settings,
raw YUV, frame offsets, resizing, and the edges a new user hit (issue 11).
Every file is made here; scores are held to the float64 oracle (tests/oracle.py)
evaluated on pixels read independently, with NumPy or Pillow."""

from __future__ import annotations

import gc
import json
import sys
import warnings
from pathlib import Path

import av
import numpy as np
import oracle
import png
import pytest
from PIL import Image

import msssim
from msssim.cli import main

H, W = 176, 192  # even, for 4:2:0 chroma; large enough for five scales


def _image(seed: int, channels: int = 3, size: tuple[int, int] = (H, W), noise: float = 0.08) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0 : size[0], 0 : size[1]] / size[1]
    base = np.stack([0.5 + 0.4 * np.sin(7 * x + c) * np.cos(5 * y + seed % 3) for c in range(channels)], -1)
    return np.clip((base + noise * rng.standard_normal(base.shape)) * 255, 0, 255).astype(np.uint8)


def _save(path: Path, arr: np.ndarray, **options) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr).save(path, **options)
    return path


def _folders(root: Path, names: list[str]) -> tuple[Path, Path]:
    for i, name in enumerate(names):
        _save(root / "ref" / name, _image(i))
        _save(root / "dist" / name, _image(i + 100))
    return root / "ref", root / "dist"


def _run(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _usage_error(capsys, *args) -> str:
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in args])
    assert info.value.code == 2
    return capsys.readouterr().err


def _oracle(ref: np.ndarray, dist: np.ndarray, max_val: float) -> float:
    return float(oracle.ssim_multiscale(ref, dist, max_val))


# 1. Resumes never mix settings -------------------------------------------------


CHANGED_SETTINGS = [
    (["--ssim"], "--ssim"),
    (["--color", "y"], "--color y"),
    (["--max-val", "200"], "--max-val 200"),
    (["--k1", "0.02"], "--k1 0.02"),
    (["--filter-size", "7"], "--filter-size 7"),
    (["--power-factors", "0.5,0.5"], "--power-factors 0.5,0.5"),
    (["--numerics", "tensorflow-cpu"], "--numerics tensorflow-cpu"),
    (["--convention", "piq"], "--convention piq"),
]


@pytest.mark.parametrize(("flags", "spelled"), CHANGED_SETTINGS, ids=[s for _, s in CHANGED_SETTINGS])
def test_resume_with_other_settings_is_refused_and_the_file_untouched(tmp_path, capsys, flags, spelled):
    ref_dir, dist_dir = _folders(tmp_path, ["a.png", "b.png"])
    out = tmp_path / "r.jsonl"
    assert _run(capsys, ref_dir, dist_dir, "-o", out)[0] == 0
    before = out.read_bytes()
    err = _usage_error(capsys, ref_dir, dist_dir, "-o", out, *flags, "--fail-under", "0.99")
    assert f"this run asks for {spelled}; resuming would mix them" in err
    assert "another file with -o" in err and "--overwrite" in err
    assert out.read_bytes() == before
    # --overwrite scores every pair again with the new settings, into the same file.
    code, _, err = _run(capsys, ref_dir, dist_dir, "-o", out, *flags, "--overwrite")
    assert code == 0 and "already in" not in err
    settings, *rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 2 and "parameters" in settings
    fresh = tmp_path / "fresh.json"
    assert _run(capsys, ref_dir, dist_dir, "-o", fresh, *flags)[0] == 0
    want = {r["distorted"]: r for r in json.loads(fresh.read_text())["results"]}
    assert {r["distorted"]: r for r in rows} == want


def test_resume_with_the_same_settings_scores_only_the_new_pairs(tmp_path, capsys):
    ref_dir, dist_dir = _folders(tmp_path, ["a.png", "b.png"])
    out = tmp_path / "r.jsonl"
    assert _run(capsys, ref_dir, dist_dir, "-o", out, "--color", "y")[0] == 0
    _save(ref_dir / "c.png", _image(7))
    _save(dist_dir / "c.png", _image(8))
    code, _, err = _run(capsys, ref_dir, dist_dir, "-o", out, "--color", "y", "--workers", "1")
    assert code == 0 and "2 pairs already in" in err and "scoring the other 1" in err
    rows = [json.loads(line) for line in out.read_text().splitlines()[1:]]
    assert sorted(Path(r["distorted"]).name for r in rows) == ["a.png", "b.png", "c.png"]


def test_resume_of_a_file_from_another_version_is_refused(tmp_path, capsys):
    ref_dir, dist_dir = _folders(tmp_path, ["a.png"])
    out = tmp_path / "r.jsonl"
    assert _run(capsys, ref_dir, dist_dir, "-o", out)[0] == 0
    lines = out.read_text().splitlines()
    settings = json.loads(lines[0])
    settings["msssim_version"] = "0.0.1"
    out.write_text("\n".join([json.dumps(settings), *lines[1:]]) + "\n")
    err = _usage_error(capsys, ref_dir, dist_dir, "-o", out)
    assert f"made with msssim 0.0.1, and this run asks for msssim {msssim.__version__}" in err


# 2. Nothing scored is a failure ------------------------------------------------


def test_nothing_to_score_exits_3_even_with_fail_under(tmp_path, capsys):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    code, out, err = _run(capsys, tmp_path / "a", tmp_path / "b", "--fail-under", "0.5")
    assert code == 3 and "nothing to score" in err and out == ""
    manifest = tmp_path / "pairs.csv"
    manifest.write_text("reference,distorted\n")
    code, _, err = _run(capsys, "--pairs", manifest, "--fail-under", "0.5")
    assert code == 3 and f"{manifest} lists no pairs" in err


def test_every_pair_failing_exits_3_with_a_summary(tmp_path, capsys):
    for side in ("ref", "dist"):
        for name in ("a.png", "b.png"):
            (tmp_path / side).mkdir(exist_ok=True)
            (tmp_path / side / name).write_bytes(b"not a png")
    code, _, err = _run(capsys, tmp_path / "ref", tmp_path / "dist", "--fail-under", "0")
    assert code == 3 and "nothing scored: none of the 2 pairs could be scored" in err


# 3. The format follows -o, and a file in another format is never appended to ----


@pytest.mark.parametrize("suffix", [".json", ".jsonl", ".ndjson", ".csv", ".txt"])
def test_output_format_follows_the_file_extension(tmp_path, capsys, suffix):
    ref_dir, dist_dir = _folders(tmp_path, ["a.png", "b.png"])
    out = tmp_path / f"x{suffix}"
    assert _run(capsys, ref_dir, dist_dir, "-o", out)[0] == 0
    text = out.read_text()
    if suffix == ".json":
        assert json.loads(text)["pooled"]["count"] == 2
    elif suffix in (".jsonl", ".ndjson"):
        assert [len(json.loads(line)) > 0 for line in text.splitlines()] == [True] * 3
    elif suffix == ".csv":
        assert text.startswith("reference,distorted,ms_ssim,error\n")
    else:
        assert text.startswith("distorted") and "pooled over 2" in text


def test_an_existing_file_in_another_format_is_refused(tmp_path, capsys):
    ref_dir, dist_dir = _folders(tmp_path, ["a.png", "b.png"])
    out = tmp_path / "x.jsonl"
    assert _run(capsys, ref_dir, dist_dir, "-o", out, "--format", "table")[0] == 0
    table = out.read_bytes()
    err = _usage_error(capsys, ref_dir, dist_dir, "--format", "jsonl", "-o", out)
    assert "holds a table, and this run writes JSON lines" in err
    assert out.read_bytes() == table
    notes = tmp_path / "notes.csv"
    notes.write_text("my own notes, not results\n")
    assert "holds something msssim did not write" in _usage_error(capsys, ref_dir, dist_dir, "-o", notes)
    assert _run(capsys, ref_dir, dist_dir, "-o", notes, "--overwrite")[0] == 0
    assert notes.read_text().startswith("reference,distorted,")
    assert _run(capsys, ref_dir, dist_dir, "-o", notes)[0] == 0  # its own format: replaced


# 4. --plot and the other video options on images ---------------------------------


@pytest.mark.parametrize(
    "flags",
    [["--plot", "p.png"], ["--frames", "0:3"], ["--offset", "2"], ["--subsample", "2"], ["--shortest"]],
    ids=lambda f: f[0],
)
def test_video_options_on_images_are_usage_errors(tmp_path, capsys, flags):
    ref_dir, dist_dir = _folders(tmp_path, ["a.png"])
    flags = [str(tmp_path / f) if f.endswith(".png") else f for f in flags]
    err = _usage_error(capsys, ref_dir / "a.png", dist_dir / "a.png", *flags)
    assert f"{flags[0]} applies to videos and animated images, and these are still images" in err
    assert not (tmp_path / "p.png").exists()


# 5. LZW TIFF --------------------------------------------------------------------


def test_lzw_tiff_decodes(tmp_path, capsys):
    ref, dist = _image(1), _image(2)
    _save(tmp_path / "ref.tif", ref, compression="tiff_lzw")
    _save(tmp_path / "dist.tif", dist, compression="tiff_lzw")
    np.testing.assert_array_equal(msssim.read_image(tmp_path / "ref.tif"), ref)
    code, out, err = _run(capsys, tmp_path / "ref.tif", tmp_path / "dist.tif")
    assert code == 0, err
    assert abs(float(out) - _oracle(ref, dist, 255.0)) <= 1e-6


# 6. Errors name the file at fault --------------------------------------------------


def test_errors_name_the_file_at_fault(tmp_path, capsys):
    _save(tmp_path / "present.png", _image(1))
    code, _, err = _run(capsys, tmp_path / "missing1.png", tmp_path / "present.png")
    assert code == 3 and err == f"msssim: error: {tmp_path / 'missing1.png'} (reference): no such file\n"
    code, _, err = _run(capsys, tmp_path / "present.png", tmp_path / "missing2.png")
    assert code == 3 and err == f"msssim: error: {tmp_path / 'missing2.png'} (distorted): no such file\n"
    code, _, err = _run(capsys, tmp_path / "missing1.png", tmp_path / "missing2.png")
    assert code == 3 and err.startswith(f"msssim: error: {tmp_path / 'missing1.png'} (reference)")


# 7. Folders pair images and videos only; JPEG's other names are images -----------


def test_folders_skip_other_files_and_list_them(tmp_path, capsys):
    ref_dir, dist_dir = _folders(tmp_path, ["a.png", "b.jfif", "c.jpe"])
    for folder in (ref_dir, dist_dir):
        (folder / "README.txt").write_text("notes\n")
    (ref_dir / "scores.csv").write_text("x\n")
    code, out, err = _run(capsys, ref_dir, dist_dir, "--format", "json")
    assert code == 0, err
    document = json.loads(out)
    assert sorted(Path(r["distorted"]).name for r in document["results"]) == ["a.png", "b.jfif", "c.jpe"]
    assert sorted(document["skipped"]) == sorted(
        [str(ref_dir / "README.txt"), str(dist_dir / "README.txt"), str(ref_dir / "scores.csv")]
    )
    assert "skipped 3 files that are neither images nor videos" in err and "decode" not in err


def test_jfif_scores_as_the_same_bytes_named_jpg(tmp_path, capsys):
    _save(tmp_path / "ref.jpg", _image(1), quality=90)
    _save(tmp_path / "dist.jpg", _image(1), quality=10)
    scores = []
    for suffix in (".jpg", ".jfif", ".jpe", ".dat", ".tif"):  # .dat, .tif: recognised by their first bytes
        for side in ("ref", "dist"):
            (tmp_path / f"{side}{suffix}").write_bytes((tmp_path / f"{side}.jpg").read_bytes())
        code, out, err = _run(capsys, tmp_path / f"ref{suffix}", tmp_path / f"dist{suffix}")
        assert code == 0, err
        scores.append(float(out))
    decoded = [np.asarray(Image.open(tmp_path / f"{side}.jpg")) for side in ("ref", "dist")]
    assert scores == [scores[0]] * 5  # (a .tif was tifffile's: "not a TIFF file")
    assert abs(scores[0] - _oracle(*decoded, 255.0)) <= 1e-6


# 8. The smaller ones ----------------------------------------------------------------


def _y4m(path: Path, frames: list[np.ndarray]) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("rawvideo", rate=25)
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return path


def test_video_table_columns_line_up(tmp_path, capsys):
    ref = _y4m(tmp_path / "r.y4m", [_image(i) for i in range(12)])
    dist = _y4m(tmp_path / "d.y4m", [_image(i + 50) for i in range(12)])
    code, out, _ = _run(capsys, ref, dist)
    assert code == 0
    lines = out.splitlines()[:-1]  # the pooled line is free text
    assert len(lines) == 14 and "  frame 11" in out
    columns = {len(line) - len(line.split()[-1]) for line in lines}
    assert len(columns) == 1, out


def test_bad_numbers_name_the_option_not_an_internal_function(capsys):
    err = _usage_error(capsys, "a.png", "b.png", "--workers", "abc")
    assert "_positive_int" not in err and "--workers: expected a whole number >= 1, got 'abc'" in err


def test_picture_without_an_extension_is_refused_before_scoring(tmp_path, capsys):
    ref_dir, dist_dir = _folders(tmp_path, ["a.png"])
    with pytest.raises(SystemExit) as info:
        main([str(ref_dir / "a.png"), str(dist_dir / "a.png"), "--map", str(tmp_path / "mapnoext")])
    captured = capsys.readouterr()
    assert info.value.code == 2 and captured.out == ""
    assert "--map" in captured.err and "has no extension" in captured.err


def test_max_val_too_large_for_8_bit_is_that_pairs_error_in_command_line_terms(tmp_path, capsys):
    """A folder may mix 8- and 16-bit files: --max-val 1023 (10-bit samples in
    16-bit PNG) fits the 16-bit pair, which is scored; the 8-bit pair gets an
    error entry that names the option, and the run exits 3 having scored the rest."""
    ref_dir, dist_dir = _folders(tmp_path, ["a.png"])
    deep = [np.round(_image(seed).astype(np.float64) * 1023 / 255).astype(np.uint16) for seed in (1, 2)]
    for folder, arr in zip((ref_dir, dist_dir), deep):
        png.from_array(arr.reshape(H, -1), "RGB;16").save(str(folder / "b.png"))
    code, out, err = _run(capsys, ref_dir, dist_dir, "--max-val", "1023", "--format", "json")
    assert code == 3 and "--max-val 1023 does not fit 8-bit pixels" in err and "max_val=" not in err
    scored, failed = sorted(json.loads(out)["results"], key=lambda r: r["reference"], reverse=True)
    assert "--max-val 1023 does not fit" in failed["error"] and "ms_ssim" not in failed
    assert scored["ms_ssim"] == pytest.approx(_oracle(*deep, 1023.0), abs=1e-6)


def test_progress_counts_video_frames(tmp_path, capsys, monkeypatch):
    ref = _y4m(tmp_path / "r.y4m", [_image(i) for i in range(6)])
    dist = _y4m(tmp_path / "d.y4m", [_image(i + 50) for i in range(6)])
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    code, _, err = _run(capsys, ref, dist, "--subsample", "2")
    assert code == 0 and "3/3" in err and "frame" in err


def test_16_bit_png_reader_closes_its_file(tmp_path):
    path = tmp_path / "deep.png"
    png.from_array(np.full((8, 24), 40000, np.uint16), "RGB;16").save(str(path))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert msssim.read_image(path).dtype == np.uint16
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]


def test_frame_plot_has_whole_frame_ticks_and_a_title(tmp_path):
    pytest.importorskip("matplotlib")
    from msssim._pictures import frame_plot

    results = [{"distorted": "d.y4m", "ms_ssim": 0.9, "frames": [{"frame": n, "ms_ssim": 0.9} for n in range(9)]}]
    figure = frame_plot(results, "ms_ssim")
    axes = figure.axes[0]
    assert "d.y4m" in axes.get_title()
    ticks = [t for t in axes.get_xticks() if 0 <= t <= 8]
    assert ticks and all(float(t).is_integer() for t in ticks)


def test_index_map_legend_is_not_clipped(tmp_path, capsys):
    ref_dir, dist_dir = _folders(tmp_path, ["a.png"])
    out = tmp_path / "map.png"
    assert _run(capsys, ref_dir / "a.png", dist_dir / "a.png", "--map", out)[0] == 0
    picture = np.asarray(Image.open(out).convert("L"))
    assert (picture[-2:] == 255).all()  # white below the lowest label
    bottom_tick = 24 + (H - 10) - 1  # the map of a VALID filter is 10 pixels smaller
    labels = picture[bottom_tick - 6 : bottom_tick + 8, (W - 10) + 8 + 24 + 6 :]
    assert (labels < 128).sum() > 10  # "0.00" is drawn there


# Raw YUV, --offset, --subsample, --scale -------------------------------------------


def _planes(seed: int, frames: int, pix_fmt: str) -> list[list[np.ndarray]]:
    """Smooth planes with noise, ``pix_fmt``'s subsampling and depth."""
    bits = 10 if "10" in pix_fmt else 8
    dtype = np.uint16 if bits > 8 else np.uint8
    chroma = {"yuv420p": (H // 2, W // 2), "yuv422p": (H, W // 2), "yuv444p": (H, W)}[pix_fmt[:7]]
    top = 2**bits - 1
    out = []
    for n in range(frames):
        y = _image(seed + n, 1)[..., 0].astype(np.float64) / 255 * top
        u, v = (np.full(chroma, top / 2) + 10 * np.sin(np.arange(chroma[1]) / (3 + c + n)) for c in range(2))
        out.append([np.round(p).astype(dtype) for p in (y, u, v)])
    return out


def _write_raw(path: Path, frames: list[list[np.ndarray]]) -> Path:
    with open(path, "wb") as f:
        for planes in frames:
            for plane in planes:
                f.write(plane.astype(plane.dtype.newbyteorder("<")).tobytes())
    return path


@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuv422p", "yuv444p", "yuv420p10le"])
def test_raw_yuv_luma_equals_the_float64_evaluation_of_the_y_plane(tmp_path, capsys, pix_fmt):
    ref_frames, dist_frames = _planes(0, 4, pix_fmt), _planes(40, 4, pix_fmt)
    ref = _write_raw(tmp_path / "ref.yuv", ref_frames)
    dist = _write_raw(tmp_path / "dist.yuv", dist_frames)
    code, out, err = _run(
        capsys, ref, dist, "--size", f"{W}x{H}", "--pix-fmt", pix_fmt, "--color", "y", "--format", "json"
    )
    assert code == 0, err
    (result,) = json.loads(out)["results"]
    top = 1023.0 if "10" in pix_fmt else 255.0
    for frame, r, d in zip(result["frames"], ref_frames, dist_frames, strict=True):
        assert abs(frame["ms_ssim"] - _oracle(r[0][..., None], d[0][..., None], top)) <= 1e-6


def test_raw_yuv_in_rgb_scores_as_the_same_frames_in_y4m(tmp_path, capsys):
    clips = {}
    for name, seed in (("ref", 0), ("dist", 40)):
        frames = _planes(seed, 3, "yuv420p")
        raw = _write_raw(tmp_path / f"{name}.yuv", frames)
        with av.open(str(tmp_path / f"{name}.y4m"), "w") as container:
            stream = container.add_stream("rawvideo", rate=25)
            stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
            for planes in frames:
                packed = np.concatenate([p.reshape(-1) for p in planes]).reshape(H * 3 // 2, W)
                container.mux(stream.encode(av.VideoFrame.from_ndarray(packed, format="yuv420p")))
            container.mux(stream.encode())
        clips[name] = raw
    code, out, _ = _run(capsys, clips["ref"], clips["dist"], "--size", f"{W}x{H}", "--format", "json")
    assert code == 0
    code, out_y4m, _ = _run(capsys, tmp_path / "ref.y4m", tmp_path / "dist.y4m", "--format", "json")
    assert code == 0
    assert json.loads(out)["results"][0]["frames"] == json.loads(out_y4m)["results"][0]["frames"]


def test_raw_yuv_needs_its_size_and_a_whole_number_of_frames(tmp_path, capsys):
    ref = _write_raw(tmp_path / "ref.yuv", _planes(0, 2, "yuv420p"))
    dist = tmp_path / "dist.yuv"
    dist.write_bytes(ref.read_bytes()[:-7])
    assert "give its --size WxH" in _usage_error(capsys, ref, dist)
    assert "--size and --pix-fmt describe raw .yuv files" in _usage_error(
        capsys, *_folders(tmp_path, ["a.png"]), "--size", "16x16"
    )
    assert "expected WIDTHxHEIGHT" in _usage_error(capsys, ref, dist, "--size", "1920by1080")
    code, _, err = _run(capsys, ref, dist, "--size", f"{W}x{H}")
    frame = W * H * 3 // 2
    assert code == 3
    assert f"{dist} (distorted): {2 * frame - 7} bytes is not a whole number of {W}x{H} yuv420p frames" in err


def test_offset_pairs_each_frame_with_the_one_n_later(tmp_path, capsys):
    ref_frames, dist_frames = _planes(0, 5, "yuv420p"), _planes(40, 7, "yuv420p")
    ref = _write_raw(tmp_path / "ref.yuv", ref_frames)
    dist = _write_raw(tmp_path / "dist.yuv", dist_frames)
    size = ["--size", f"{W}x{H}", "--color", "y", "--format", "json"]
    code, out, err = _run(capsys, ref, dist, *size, "--offset", "2")
    assert code == 0, err
    frames = json.loads(out)["results"][0]["frames"]
    assert [(f["frame"], f["distorted_frame"]) for f in frames] == [(n, n + 2) for n in range(5)]
    for f in frames:
        want = _oracle(ref_frames[f["frame"]][0][..., None], dist_frames[f["frame"] + 2][0][..., None], 255.0)
        assert abs(f["ms_ssim"] - want) <= 1e-6
    # The other way round: the reference starts later; reference frames 0 and 1 have no partner.
    code, out, err = _run(capsys, dist, ref, *size, "--offset", "-2", "--subsample", "2")
    assert code == 0, err
    frames = json.loads(out)["results"][0]["frames"]
    assert [(f["frame"], f["distorted_frame"]) for f in frames] == [(2, 0), (4, 2), (6, 4)]
    assert "frame counts differ" in _run(capsys, ref, dist, *size, "--offset", "1")[2]
    # Files of one length: the offset's last frames have no partner, and that is no error (more is).
    same = _write_raw(tmp_path / "same.yuv", dist_frames[:5])
    code, out, err = _run(capsys, ref, same, *size, "--offset", "2", "--subsample", "2")
    assert code == 0, err
    assert [(f["frame"], f["distorted_frame"]) for f in json.loads(out)["results"][0]["frames"]] == [(0, 2), (2, 4)]
    code, out, err = _run(capsys, same, ref, *size, "--offset", "-2")
    assert code == 0, err
    assert [(f["frame"], f["distorted_frame"]) for f in json.loads(out)["results"][0]["frames"]] == [
        (2, 0),
        (3, 1),
        (4, 2),
    ]
    short = _write_raw(tmp_path / "short.yuv", dist_frames[:4])
    assert "frame counts differ" in _run(capsys, ref, short, *size, "--offset", "2")[2]


def test_subsample_scores_every_nth_frame(tmp_path, capsys):
    ref = _y4m(tmp_path / "r.y4m", [_image(i) for i in range(7)])
    dist = _y4m(tmp_path / "d.y4m", [_image(i + 50) for i in range(7)])
    code, out, _ = _run(capsys, ref, dist, "--subsample", "3", "--format", "json")
    assert code == 0
    assert [f["frame"] for f in json.loads(out)["results"][0]["frames"]] == [0, 3, 6]
    code, out, _ = _run(capsys, ref, dist, "--frames", "1::2", "--subsample", "2", "--format", "json")
    assert [f["frame"] for f in json.loads(out)["results"][0]["frames"]] == [1, 5]


@pytest.mark.parametrize("method", ["bicubic", "lanczos"])
def test_scale_resizes_the_distorted_image_to_the_reference(tmp_path, capsys, method):
    ref = _image(1)
    small = Image.fromarray(_image(1, noise=0.02)).resize((W // 2, H // 2), Image.Resampling.BILINEAR)
    _save(tmp_path / "ref.png", ref)
    small.save(tmp_path / "small.png")
    code, _, err = _run(capsys, tmp_path / "ref.png", tmp_path / "small.png")
    assert code == 3 and f"reference is {W}x{H}, distorted is {W // 2}x{H // 2}" in err
    code, out, err = _run(capsys, tmp_path / "ref.png", tmp_path / "small.png", "--scale", method)
    assert code == 0, err
    filters = {"bicubic": Image.Resampling.BICUBIC, "lanczos": Image.Resampling.LANCZOS}
    resized = np.asarray(small.resize((W, H), filters[method]))
    assert abs(float(out) - _oracle(ref, resized, 255.0)) <= 1e-6
    assert float(out) > 0.8


def test_scale_resizes_each_video_frame_of_10_bit_luma(tmp_path, capsys):
    ref_frames, dist_frames = _planes(0, 2, "yuv444p10le"), _planes(40, 2, "yuv444p10le")
    ref = _write_raw(tmp_path / "ref.yuv", ref_frames)
    small = [[p[::2, ::2] for p in planes] for planes in dist_frames]
    dist = tmp_path / "dist.mkv"  # lossless FFV1, half the size
    with av.open(str(dist), "w") as container:
        stream = container.add_stream("ffv1", rate=25)
        stream.width, stream.height, stream.pix_fmt = W // 2, H // 2, "yuv444p10le"
        for planes in small:
            frame = av.VideoFrame(W // 2, H // 2, "yuv444p10le")
            for plane, values in zip(frame.planes, planes):
                rows = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
                rows[:, : 2 * (W // 2)] = values.astype("<u2").view(np.uint8).reshape(H // 2, -1)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    args = [ref, dist, "--size", f"{W}x{H}", "--pix-fmt", "yuv444p10le", "--color", "y", "--format", "json"]
    assert "sizes differ at frame 0" in _run(capsys, *args)[2]
    code, out, err = _run(capsys, *args, "--scale", "lanczos", "--max-val", "1023")
    assert code == 0, err
    for frame, r, d in zip(json.loads(out)["results"][0]["frames"], ref_frames, small, strict=True):
        plane = np.asarray(Image.fromarray(d[0].astype(np.float32)).resize((W, H), Image.Resampling.LANCZOS))
        resized = np.clip(np.round(plane), 0, 65535).astype(np.uint16)
        assert abs(frame["ms_ssim"] - _oracle(r[0][..., None], resized[..., None], 1023.0)) <= 1e-6

"""The ``msssim REF DIST`` command on real files written by the tests."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import oracle
import png
import pytest
import tifffile
from photos import photo
from PIL import Image

import msssim
from msssim._io import ImageReadError, to_color
from msssim.cli import main

RNG = np.random.default_rng(5)
H, W = 180, 197


def _pair(dtype, channels):
    top = np.iinfo(dtype).max
    ref = RNG.integers(0, top, (H, W, channels), endpoint=True).astype(dtype)
    noise = RNG.normal(0, top * 0.05, ref.shape)
    dist = np.clip(ref + noise, 0, top).astype(dtype)
    return ref, dist


def _save_pillow(path: Path, arr: np.ndarray, **options) -> None:
    Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr).save(path, **options)


def _save_png16(path: Path, arr: np.ndarray) -> None:
    mode = "L;16" if arr.shape[-1] == 1 else "RGB;16"
    png.from_array(arr.reshape(arr.shape[0], -1), mode).save(str(path))


def _save_pnm(path: Path, arr: np.ndarray, maxval: int = 65535, plain: bool = False) -> None:
    """PGM or PPM as netpbm defines it: a header (a comment in it), then
    big-endian 16-bit samples, or decimal ones in the plain format."""
    magic = {(1, False): "P5", (3, False): "P6", (1, True): "P2", (3, True): "P3"}[arr.shape[-1], plain]
    header = f"{magic}\n# written by the tests\n{arr.shape[1]} {arr.shape[0]}\n{maxval}\n".encode()
    path.write_bytes(header + (" ".join(map(str, arr.ravel())).encode() if plain else arr.astype(">u2").tobytes()))


def _save_planar_tiff(path: Path, arr: np.ndarray) -> None:
    """Colour planes one after another: [C, H, W] in the file."""
    tifffile.imwrite(path, np.moveaxis(arr, -1, 0), planarconfig="separate", photometric="rgb")


WRITERS = {
    "png8-rgb": (".png", np.uint8, 3, _save_pillow),
    "png8-grey": (".png", np.uint8, 1, _save_pillow),
    "png16-grey": (".png", np.uint16, 1, _save_png16),
    "png16-rgb": (".png", np.uint16, 3, _save_png16),
    "bmp": (".bmp", np.uint8, 3, _save_pillow),
    "webp-lossless": (".webp", np.uint8, 3, lambda p, a: _save_pillow(p, a, lossless=True)),
    "tiff8": (".tif", np.uint8, 3, lambda p, a: tifffile.imwrite(p, a)),
    "tiff16": (".tiff", np.uint16, 1, lambda p, a: tifffile.imwrite(p, a[..., 0])),
    "tiff16-planar": (".tif", np.uint16, 3, _save_planar_tiff),
    "pgm16": (".pgm", np.uint16, 1, _save_pnm),  # (Pillow read them as int32)
    "ppm16": (".ppm", np.uint16, 3, _save_pnm),  # (Pillow reduced them to 8 bits)
    "ppm16-plain": (".ppm", np.uint16, 3, lambda p, a: _save_pnm(p, a, plain=True)),
}


def _json_run(capsys, *args):
    code = main([*map(str, args), "--format", "json"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if captured.out else None, captured.err


@pytest.mark.parametrize("name", WRITERS)
def test_lossless_formats_decode_exactly_and_score_like_tensorflow(tmp_path, capsys, tf, name):
    suffix, dtype, channels, write = WRITERS[name]
    ref, dist = _pair(dtype, channels)
    ref_path, dist_path = tmp_path / f"ref{suffix}", tmp_path / f"dist{suffix}"
    write(ref_path, ref)
    write(dist_path, dist)
    np.testing.assert_array_equal(msssim.read_image(ref_path), ref)
    code, document, err = _json_run(capsys, ref_path, dist_path)
    assert code == 0, err
    (result,) = document["results"]
    assert result["reference"] == str(ref_path) and result["distorted"] == str(dist_path)
    want = float(tf.image.ssim_multiscale(tf.constant(ref), tf.constant(dist), float(np.iinfo(dtype).max)))
    assert abs(result["ms_ssim"] - want) <= 1e-5


def test_png_with_fewer_significant_bits_scores_its_16_bit_samples(tmp_path, capsys, tf):
    """A 10-bit PNG, as pypng and camera or medical exporters write it (16-bit
    samples and an sBIT chunk of 10): its samples as stored, as Pillow and
    libpng decode them, against the 16-bit maximum (they were shifted down to
    10 bits, which that maximum misjudged: 0.99998 where TF gives 0.98997)."""
    ref, dist = (np.right_shift(a, 6) for a in _pair(np.uint16, 1))
    for name, arr in (("ref", ref), ("dist", dist)):
        with open(tmp_path / f"{name}.png", "wb") as f:
            png.Writer(W, H, greyscale=True, bitdepth=10).write(f, arr[..., 0])
    stored = [np.asarray(Image.open(tmp_path / f"{name}.png"))[..., None] for name in ("ref", "dist")]
    assert stored[0].dtype == np.uint16 and stored[0].max() > 1023  # (the 10 bits scaled to 16)
    np.testing.assert_array_equal(msssim.read_image(tmp_path / "ref.png"), stored[0])
    code, document, _ = _json_run(capsys, tmp_path / "ref.png", tmp_path / "dist.png")
    assert code == 0
    want = float(tf.image.ssim_multiscale(tf.constant(stored[0]), tf.constant(stored[1]), 65535.0))
    assert abs(document["results"][0]["ms_ssim"] - want) <= 1e-5


def test_pgm_and_ppm_of_10_bits_are_scaled_to_16_as_pillow_reads_them(tmp_path, capsys, tf):
    """A maxval of 1023: the samples scaled to 0-65535 and rounded, as Pillow
    reads a PGM (and FFmpeg both), so the bit depth implies the range; the
    score is then within the rounding of the 10-bit samples' own."""
    ten_bit = [np.right_shift(a, 6) for a in _pair(np.uint16, 3)]
    for name, arr in zip(("ref", "dist"), ten_bit):
        _save_pnm(tmp_path / f"{name}.ppm", arr, maxval=1023)
        _save_pnm(tmp_path / f"{name}.pgm", arr[..., :1], maxval=1023)
    np.testing.assert_array_equal(msssim.read_image(tmp_path / "ref.pgm")[..., 0], Image.open(tmp_path / "ref.pgm"))
    scaled = [np.round(a * (65535 / 1023)).astype(np.uint16) for a in ten_bit]
    np.testing.assert_array_equal(msssim.read_image(tmp_path / "ref.ppm"), scaled[0])
    code, document, _ = _json_run(capsys, tmp_path / "ref.ppm", tmp_path / "dist.ppm")
    assert code == 0
    want = float(tf.image.ssim_multiscale(tf.constant(scaled[0]), tf.constant(scaled[1]), 65535.0))
    assert abs(document["results"][0]["ms_ssim"] - want) <= 1e-5
    own = float(tf.image.ssim_multiscale(tf.constant(ten_bit[0]), tf.constant(ten_bit[1]), 1023.0))
    assert abs(document["results"][0]["ms_ssim"] - own) <= 1e-4


@pytest.mark.parametrize(
    ("body", "message"),
    [(lambda a: a.astype(">u2").tobytes()[:-7], "truncated"), (lambda a: (a + 2000).astype(">u2").tobytes(), "past")],
    ids=["truncated", "past-maxval"],
)
def test_broken_16_bit_ppm_exits_3_naming_the_file(tmp_path, capsys, body, message):
    ref, _ = _pair(np.uint16, 3)
    _save_pnm(tmp_path / "ref.ppm", ref)
    ten_bit = np.right_shift(ref, 6)
    (tmp_path / "bad.ppm").write_bytes(f"P6 {W} {H} 1023\n".encode() + body(ten_bit))
    assert main([str(tmp_path / "ref.ppm"), str(tmp_path / "bad.ppm")]) == 3
    err = capsys.readouterr().err
    assert f"{tmp_path / 'bad.ppm'}" in err and message in err and err.count("\n") == 1


def _animation(seed: int, frames: int) -> list[np.ndarray]:
    """Frames of 216 colours (6 levels a channel), which a GIF's palette holds exactly."""
    rng = np.random.default_rng(seed)
    return [(rng.integers(0, 6, (H, W, 3)) * 51).astype(np.uint8) for _ in range(frames)]


@pytest.mark.parametrize(("suffix", "options"), [(".gif", {"loop": 0}), (".png", {}), (".webp", {"lossless": True})])
def test_animated_images_are_scored_frame_by_frame(tmp_path, capsys, suffix, options):
    """An animated GIF, PNG or WebP was scored by its first frame alone."""
    ref = _animation(1, 4)
    dist = [np.where(RNG.random((H, W, 1)) < 0.1, 255 - f, f) for f in ref]
    for name, frames in (("ref", ref), ("dist", dist)):
        first, *rest = (Image.fromarray(f) for f in frames)
        first.save(tmp_path / f"{name}{suffix}", save_all=True, append_images=rest, duration=100, **options)
    code, document, err = _json_run(capsys, tmp_path / f"ref{suffix}", tmp_path / f"dist{suffix}")
    assert code == 0, err
    (result,) = document["results"]
    want = [oracle.ssim_multiscale(r, d, 255.0) for r, d in zip(ref, dist)]
    assert [f["frame"] for f in result["frames"]] == [0, 1, 2, 3]
    np.testing.assert_allclose([f["ms_ssim"] for f in result["frames"]], want, rtol=0, atol=1e-6)
    assert result["ms_ssim"] == pytest.approx(np.mean(want), abs=1e-6)
    _save_pillow(tmp_path / "still.png", ref[0])
    assert main([str(tmp_path / "still.png"), str(tmp_path / f"dist{suffix}")]) == 3
    assert "the distorted is an animation of 4 frames, the reference a still image" in capsys.readouterr().err
    with pytest.raises(ImageReadError, match="an animation of 4 frames, not one image"):
        msssim.read_image(tmp_path / f"ref{suffix}")


def test_video_options_apply_to_animations_and_map_refuses_them(tmp_path, capsys):
    """An animated pair of different lengths was told to pass --shortest,
    which was then refused ("applies to videos, and these are images"), as
    were --frames, --offset and --plot; --map on an animated pair was a traceback."""
    ref = _animation(1, 5)
    dist = [np.where(RNG.random((H, W, 1)) < 0.1, 255 - f, f) for f in ref[:4]]
    for name, frames in (("ref", ref), ("dist", dist)):
        first, *rest = (Image.fromarray(f) for f in frames)
        first.save(tmp_path / f"{name}.gif", save_all=True, append_images=rest, duration=100, loop=0)
    pair = [tmp_path / "ref.gif", tmp_path / "dist.gif"]
    assert main([str(p) for p in pair]) == 3
    assert "pass --shortest to score the common frames" in capsys.readouterr().err
    code, document, err = _json_run(capsys, *pair, "--shortest", "--offset=-1", "--plot", tmp_path / "plot.png")
    assert code == 0, err
    frames = document["results"][0]["frames"]
    assert [(f["frame"], f["distorted_frame"]) for f in frames] == [(1, 0), (2, 1), (3, 2), (4, 3)]
    want = [oracle.ssim_multiscale(r, d, 255.0) for r, d in zip(ref[1:], dist)]
    np.testing.assert_allclose([f["ms_ssim"] for f in frames], want, rtol=0, atol=1e-6)
    assert (tmp_path / "plot.png").stat().st_size > 0
    with pytest.raises(SystemExit) as info:
        main([*map(str, pair), "--map", str(tmp_path / "map.png")])
    assert info.value.code == 2
    assert "--map needs exactly one pair of still images" in capsys.readouterr().err


def test_a_cameras_jpeg_with_a_second_picture_is_one_image(tmp_path, capsys):
    """A camera's or phone's JPEG often carries a second picture (MPO: a
    preview, a depth map), which Pillow counts as a frame: not an animation."""
    ref, dist = _pair(np.uint8, 3)
    for name, arr in (("ref", ref), ("dist", dist)):
        preview = Image.fromarray(arr[::4, ::4])
        Image.fromarray(arr).save(tmp_path / f"{name}.jpg", format="MPO", save_all=True, append_images=[preview])
    assert Image.open(tmp_path / "ref.jpg").n_frames == 2
    assert msssim.read_image(tmp_path / "ref.jpg").shape == (H, W, 3)
    code, document, err = _json_run(capsys, tmp_path / "ref.jpg", tmp_path / "dist.jpg")
    assert code == 0 and "frames" not in document["results"][0], err


def test_a_grey_image_against_a_colour_one(tmp_path, capsys):
    """Grey against colour: the default (rgb) and --color y refuse, saying to
    pass --color gray (y maps colour to limited-range luma and left the grey
    side full-range: a biased score); --color gray scores both as grey."""
    ref, dist = _pair(np.uint8, 3)
    _save_pillow(tmp_path / "ref.png", ref)
    Image.fromarray(dist).convert("L").save(tmp_path / "dist_grey.png")
    Image.fromarray(to_color(ref, "gray")[..., 0]).save(tmp_path / "ref_grey.png")  # (what --color gray makes)
    for color in ("rgb", "y"):
        code, document, err = _json_run(capsys, tmp_path / "ref.png", tmp_path / "dist_grey.png", "--color", color)
        assert code == 3 and "pass --color gray" in document["results"][0]["error"], err
    code, mixed, _ = _json_run(capsys, tmp_path / "ref.png", tmp_path / "dist_grey.png", "--color", "gray")
    code_grey, grey, _ = _json_run(capsys, tmp_path / "ref_grey.png", tmp_path / "dist_grey.png")
    assert code == code_grey == 0
    assert mixed["results"][0]["ms_ssim"] == grey["results"][0]["ms_ssim"]


def test_float_files_past_one_need_their_range(tmp_path, capsys, tf):
    """Float TIFFs of 0-255 data: their range is asked for (max_val 1, the
    float default, gave a plausible, wrong score); given, TF's score. Floats in
    [0, 1] need nothing."""
    ref, dist = (a.astype(np.float32) for a in _pair(np.uint8, 3))
    for name, arr in (("ref", ref), ("dist", dist), ("ref1", ref / 255), ("dist1", dist / 255)):
        tifffile.imwrite(tmp_path / f"{name}.tif", arr)
    code, document, err = _json_run(capsys, tmp_path / "ref.tif", tmp_path / "dist.tif")
    assert code == 3 and "float pixels reach 255, far past 1" in document["results"][0]["error"], err
    code, document, _ = _json_run(capsys, tmp_path / "ref.tif", tmp_path / "dist.tif", "--max-val", "255")
    want = float(tf.image.ssim_multiscale(tf.constant(ref), tf.constant(dist), 255.0))
    assert code == 0 and abs(document["results"][0]["ms_ssim"] - want) <= 1e-5
    code, document, _ = _json_run(capsys, tmp_path / "ref1.tif", tmp_path / "dist1.tif")
    assert code == 0 and abs(document["results"][0]["ms_ssim"] - want) <= 1e-5


def test_jpeg_scores_the_decoded_pixels(tmp_path, capsys, tf):
    ref, dist = _pair(np.uint8, 3)
    _save_pillow(tmp_path / "ref.jpg", ref, quality=95)
    _save_pillow(tmp_path / "dist.jpg", dist, quality=60)
    decoded = [np.asarray(Image.open(tmp_path / n)) for n in ("ref.jpg", "dist.jpg")]
    code, document, _ = _json_run(capsys, tmp_path / "ref.jpg", tmp_path / "dist.jpg")
    assert code == 0
    want = float(tf.image.ssim_multiscale(tf.constant(decoded[0]), tf.constant(decoded[1]), 255.0))
    assert abs(document["results"][0]["ms_ssim"] - want) <= 1e-5


def test_json_document_shape(tmp_path, capsys):
    ref, dist = _pair(np.uint8, 3)
    _save_pillow(tmp_path / "a.png", ref)
    _save_pillow(tmp_path / "b.png", dist)
    code, document, _ = _json_run(capsys, tmp_path / "a.png", tmp_path / "b.png", "--max-val", "255")
    assert code == 0
    assert document["schema_version"] == 1
    assert document["msssim_version"] == msssim.__version__
    assert document["parameters"]["max_val"] == 255.0
    assert document["parameters"]["power_factors"] == list(msssim.MSSSIM_WEIGHTS)
    assert set(document["results"][0]) == {"reference", "distorted", "ms_ssim"}


@pytest.mark.parametrize("numerics", ["exact", "tensorflow-cpu"])
@pytest.mark.parametrize("engine", ["numba", "reference"])
def test_engine_and_numerics_options_reach_the_metric_and_are_recorded(tmp_path, capsys, engine, numerics):
    ref, dist = _pair(np.uint8, 3)
    _save_pillow(tmp_path / "a.png", ref)
    _save_pillow(tmp_path / "b.png", dist)
    code, document, _ = _json_run(
        capsys, tmp_path / "a.png", tmp_path / "b.png", "--engine", engine, "--numerics", numerics
    )
    assert code == 0
    assert document["parameters"]["engine"] == engine
    assert document["parameters"]["numerics"] == numerics
    want = msssim.ssim_multiscale(ref, dist, 255, engine=engine, numerics=numerics)
    assert document["results"][0]["ms_ssim"] == float(str(want))


def test_numerics_default_is_exact_and_recorded(tmp_path, capsys):
    ref, dist = _pair(np.uint8, 3)
    _save_pillow(tmp_path / "a.png", ref)
    _save_pillow(tmp_path / "b.png", dist)
    code, document, _ = _json_run(capsys, tmp_path / "a.png", tmp_path / "b.png")
    assert code == 0
    assert document["parameters"]["engine"] == "numba" and document["parameters"]["numerics"] == "exact"
    assert document["results"][0]["ms_ssim"] == float(str(msssim.ssim_multiscale(ref, dist, 255, numerics="exact")))


def test_numerics_on_the_bundled_sample_agree_within_1e_4(capsys):
    examples = Path(__file__).parent.parent / "examples"
    printed = {}
    for numerics in ("exact", "tensorflow-cpu"):
        assert main([str(examples / "reference.png"), str(examples / "distorted.png"), "--numerics", numerics]) == 0
        printed[numerics] = float(capsys.readouterr().out)
    # Two roundings of one formula: TF-CPU's float32 digits, and within 1e-6 of float64.
    assert abs(printed["exact"] - printed["tensorflow-cpu"]) < 1e-4
    assert 0.9 < printed["exact"] < 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--engine", "separable"], "invalid choice: 'separable'"),
        (["--numerics", "float64"], "invalid choice: 'float64'"),
    ],
)
def test_engine_and_numerics_outside_their_choices_are_usage_errors(capsys, args, message):
    with pytest.raises(SystemExit) as info:
        main(["a.png", "b.png", *args])
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_text_output_and_explicit_max_val(tmp_path, capsys):
    ref, dist = _pair(np.uint8, 1)
    _save_pillow(tmp_path / "a.png", ref)
    _save_pillow(tmp_path / "b.png", dist)
    assert main([str(tmp_path / "a.png"), str(tmp_path / "b.png")]) == 0
    printed = float(capsys.readouterr().out)
    assert printed == pytest.approx(float(msssim.ssim_multiscale(ref, dist, 255)), abs=1e-6)
    assert main([str(tmp_path / "a.png"), str(tmp_path / "b.png"), "--max-val", "255"]) == 0
    assert float(capsys.readouterr().out) == printed


def test_alpha_is_dropped(tmp_path, capsys):
    ref, dist = _pair(np.uint8, 3)
    alpha = np.full((H, W, 1), 255, np.uint8)
    _save_pillow(tmp_path / "a.png", np.concatenate([ref, alpha], -1))
    _save_pillow(tmp_path / "b.png", dist)
    assert msssim.read_image(tmp_path / "a.png").shape == (H, W, 3)
    assert main([str(tmp_path / "a.png"), str(tmp_path / "b.png")]) == 0


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing.png", "no such file"),
        (lambda d: _write(d / "empty.png", b""), "the file is empty"),
        (lambda d: _write(d / "junk.png", b"not an image at all"), "cannot decode"),
    ],
    ids=["missing", "empty", "junk"],
)
def test_unreadable_files_exit_3_with_one_line(tmp_path, capsys, make, message):
    ref, _ = _pair(np.uint8, 3)
    _save_pillow(tmp_path / "ref.png", ref)
    bad = make(tmp_path)
    assert main([str(tmp_path / "ref.png"), str(bad)]) == 3
    err = capsys.readouterr().err
    assert err.startswith("msssim: error: ") and message in err and err.count("\n") == 1


def test_truncated_file_exits_3(tmp_path, capsys):
    ref, dist = _pair(np.uint8, 3)
    _save_pillow(tmp_path / "ref.png", ref)
    _save_pillow(tmp_path / "full.png", dist)
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    assert main([str(tmp_path / "ref.png"), str(tmp_path / "cut.png")]) == 3
    assert "cannot decode" in capsys.readouterr().err


def test_size_mismatch_exits_3(tmp_path, capsys):
    ref, dist = _pair(np.uint8, 3)
    _save_pillow(tmp_path / "ref.png", ref)
    _save_pillow(tmp_path / "dist.png", dist[:-1])
    assert main([str(tmp_path / "ref.png"), str(tmp_path / "dist.png")]) == 3
    captured = capsys.readouterr()
    pair = f"{tmp_path / 'dist.png'} vs {tmp_path / 'ref.png'}"
    assert f"{pair}: sizes differ: reference is {W}x{H}, distorted is {W}x{H - 1}" in captured.err
    assert "--scale bicubic" in captured.err
    assert captured.out == ""


def test_a_photo_turned_by_its_exif_orientation_is_named_not_resized(tmp_path, capsys):
    """A phone's JPEG, stored sideways with EXIF orientation 6, against a copy
    saved as shown (turned): the sizes are each other's transposed, and the
    error says why instead of suggesting --scale."""
    ref, _ = _pair(np.uint8, 3)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(ref).save(tmp_path / "phone.jpg", exif=exif, quality=90)
    _save_pillow(tmp_path / "shown.jpg", np.rot90(ref, -1).copy(), quality=50)
    _save_pillow(tmp_path / "turned.png", np.rot90(ref).copy())
    _save_pillow(tmp_path / "ref.png", ref)
    assert main([str(tmp_path / "phone.jpg"), str(tmp_path / "shown.jpg")]) == 3
    err = capsys.readouterr().err
    assert f"reference is {W}x{H}, distorted is {H}x{W}: one is turned a quarter" in err
    assert "the reference's EXIF orientation is 6" in err and "--scale" not in err
    assert main([str(tmp_path / "ref.png"), str(tmp_path / "turned.png")]) == 3
    err = capsys.readouterr().err
    assert "one is turned a quarter; save both as stored or both as shown" in err and "EXIF" not in err
    # --exif-orientation compares them as shown: the phone's photo against its copy
    code, document, _ = _json_run(capsys, tmp_path / "phone.jpg", tmp_path / "shown.jpg", "--exif-orientation")
    want = oracle.ssim_multiscale(
        np.rot90(msssim.read_image(tmp_path / "phone.jpg"), -1), msssim.read_image(tmp_path / "shown.jpg"), 255.0
    )
    assert code == 0 and document["results"][0]["ms_ssim"] == pytest.approx(want, abs=1e-6)
    assert document["parameters"]["exif_orientation"] is True


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp", ".tif", ".float.tif"])
def test_exif_orientation_turns_images_as_shown_only_when_asked(tmp_path, capsys, suffix):
    """Upside down (3) and mirrored (2) against as stored: scored as stored by
    default (a copy saved without its tag pairs so), as shown with
    --exif-orientation (float TIFF too, whose tag Pillow cannot read)."""
    import tifffile

    ref, dist = _pair(np.uint8, 3)
    if suffix == ".float.tif":
        ref, dist = ref.astype(np.float32) / 255, dist.astype(np.float32) / 255
    for tag, pixels in ((1, ref), (3, dist[::-1, ::-1]), (2, dist[:, ::-1]), (7, ref)):
        path, pixels = tmp_path / f"{tag}{suffix}", np.ascontiguousarray(pixels)
        if suffix == ".float.tif":
            tifffile.imwrite(path, pixels, photometric="rgb", extratags=[(0x0112, "H", 1, tag, True)])
            continue
        exif = Image.Exif()
        exif[0x0112] = tag
        Image.fromarray(pixels).save(path, exif=exif)
    saved = {tag: msssim.read_image(tmp_path / f"{tag}{suffix}") for tag in (1, 2, 3)}
    top = 1.0 if suffix == ".float.tif" else 255.0
    for tag in (3, 2):
        code, document, err = _json_run(capsys, tmp_path / f"1{suffix}", tmp_path / f"{tag}{suffix}")
        want = oracle.ssim_multiscale(saved[1], saved[tag], top)
        assert code == 0 and document["results"][0]["ms_ssim"] == pytest.approx(want, abs=1e-6)
        assert want < 0.5 and err == ""
        code, document, err = _json_run(
            capsys, tmp_path / f"1{suffix}", tmp_path / f"{tag}{suffix}", "--exif-orientation"
        )
        shown = saved[tag][::-1, ::-1] if tag == 3 else saved[tag][:, ::-1]
        want = oracle.ssim_multiscale(saved[1], np.ascontiguousarray(shown), top)
        assert code == 0 and document["results"][0]["ms_ssim"] == pytest.approx(want, abs=1e-6) and want > 0.5
    # 7 (transverse) against 1, stored alike: shown, one is turned a quarter, which is an error
    assert main([str(tmp_path / f"1{suffix}"), str(tmp_path / f"7{suffix}")]) == 0
    assert main([str(tmp_path / f"1{suffix}"), str(tmp_path / f"7{suffix}"), "--exif-orientation"]) == 3
    err = capsys.readouterr().err
    assert "one is turned a quarter (as shown: the distorted's EXIF orientation is 7); save both as shown" in err


def test_8_and_16_bit_images_are_compared_in_the_16_bit_range(tmp_path, capsys):
    """As FFmpeg converts 8 to 16 bits (x257), and as msssim compares videos
    of two depths; an 8-bit source against a 16-bit export was refused."""
    ref8, dist8 = _pair(np.uint8, 3)
    _save_pillow(tmp_path / "a.png", ref8)
    _save_png16(tmp_path / "b.png", dist8.astype(np.uint16) * 257 + (RNG.random(dist8.shape) < 0.5))
    code, document, _ = _json_run(capsys, tmp_path / "a.png", tmp_path / "b.png")
    dist16 = msssim.read_image(tmp_path / "b.png")
    want = oracle.ssim_multiscale(ref8.astype(np.uint16) * 257, dist16, 65535.0)
    assert code == 0 and document["results"][0]["ms_ssim"] == pytest.approx(want, abs=1e-6)
    # float16 and float32 hold the same [0, 1]: compared as they are
    np.save(tmp_path / "a.npy", ref8.astype(np.float32) / 255)
    np.save(tmp_path / "b.npy", (dist8 / 255).astype(np.float16))
    code, document, _ = _json_run(capsys, tmp_path / "a.npy", tmp_path / "b.npy")
    want = oracle.ssim_multiscale(ref8 / np.float32(255), (dist8 / 255).astype(np.float16), 1.0)
    assert code == 0 and document["results"][0]["ms_ssim"] == pytest.approx(want, abs=1e-6)
    # one --max-val cannot fit both; integers against floats, or signed, are not guessed
    assert main([str(tmp_path / "a.png"), str(tmp_path / "b.png"), "--max-val", "255"]) == 3
    assert "so one --max-val does not fit both; leave it out" in capsys.readouterr().err
    np.save(tmp_path / "c.npy", ref8.astype(np.int16))
    for other in ("a.npy", "c.npy"):
        assert main([str(tmp_path / "a.png"), str(tmp_path / other)]) == 3
        assert "bit depths differ" in capsys.readouterr().err


def test_too_small_images_exit_3(tmp_path, capsys):
    small = RNG.integers(0, 255, (100, 100, 3), dtype=np.uint8)
    _save_pillow(tmp_path / "a.png", small)
    _save_pillow(tmp_path / "b.png", small)
    assert main([str(tmp_path / "a.png"), str(tmp_path / "b.png")]) == 3
    assert "at least 161x161" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["one.png"],
        ["a", "b", "--format", "xml"],
        ["a", "b", "--max-val", "0"],
        ["a", "b", "--max-val", "nan"],
        ["a", "b", "--bogus"],
    ],
)
def test_usage_errors_exit_2(args, capsys):
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == 2
    assert "usage: msssim" in capsys.readouterr().err


def test_installed_command_prints_no_traceback(tmp_path):
    bin_dir = Path(sys.executable).parent
    command = bin_dir / "msssim"
    assert command.exists(), "the console script is installed with the package"
    done = subprocess.run(
        [str(command), str(tmp_path / "x.png"), str(tmp_path / "y.png")], capture_output=True, text=True
    )
    assert done.returncode == 3
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1


# TIFF as scanners, Macs and print shops write it ------------------------------


def _grey(bits: int) -> np.ndarray:
    """The same smooth grey picture with noise at each depth."""
    y, x = np.mgrid[0:H, 0:W]
    level = 0.5 + 0.3 * np.sin(x / 9) * np.cos(y / 13) + 0.1 * np.random.default_rng(3).standard_normal((H, W))
    deep = np.round(np.clip(level, 0, 1) * 65535).astype(np.uint16)[..., None]
    return (deep >> (16 - bits)).astype(np.uint8 if bits <= 8 else np.uint16)


def _pillow_rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def _tiff_case(path: Path, name: str) -> np.ndarray:
    """Write the TIFF ``name`` to ``path``; return the pixels it shows."""
    rgb, _ = _pair(np.uint8, 3)
    if name == "white-is-zero":
        tifffile.imwrite(path, 255 - _grey(8), photometric="miniswhite")
        return _grey(8)
    if name == "white-is-zero-16":
        tifffile.imwrite(path, 65535 - _grey(16), photometric="miniswhite")
        return _grey(16)
    if name in ("12-bit", "10-bit"):
        bits = int(name[:2])
        tifffile.imwrite(path, _grey(bits), bitspersample=bits)  # (packed: tifffile decodes it)
        return np.round(_grey(bits) * (65535 / (2**bits - 1))).astype(np.uint16)
    if name == "big-endian-16":
        tifffile.imwrite(path, _grey(16), byteorder=">")
        return _grey(16)
    if name == "16-bit-named-png":
        deep, _ = _pair(np.uint16, 3)
        tifffile.imwrite(path.with_suffix(".png"), deep)
        return deep
    image = {
        "palette": lambda: Image.fromarray(rgb).quantize(64),
        "cmyk": lambda: Image.fromarray(rgb).convert("CMYK"),
        "ycbcr": lambda: Image.fromarray(rgb).convert("YCbCr"),
        "1-bit": lambda: Image.fromarray(rgb[..., 0] > 128),
    }[name]()
    image.save(path, compression="tiff_lzw" if name == "ycbcr" else None)
    return _pillow_rgb(path) if name != "1-bit" else (rgb[..., :1] > 128).astype(np.uint8) * 255


TIFF_CASES = ["white-is-zero", "white-is-zero-16", "12-bit", "10-bit", "big-endian-16", "16-bit-named-png",
              "palette", "cmyk", "ycbcr", "1-bit"]  # fmt: skip


@pytest.mark.parametrize("name", TIFF_CASES)
def test_tiff_colour_types_depths_and_byte_orders_read_as_shown(tmp_path, capsys, name):
    """Each was scored with exit 0 as raw samples (white-is-zero against its
    PNG: 0.0; CMYK's K dropped; palette indices as grey; 12-bit against
    65535: inflated), refused (big-endian, 1-bit), or cut to 8 bits by Pillow
    (a TIFF named .png). Read as shown, each scores as its pixels do."""
    path = tmp_path / "ref.tif"
    shown = _tiff_case(path, name)
    path = path if path.exists() else path.with_suffix(".png")
    np.testing.assert_array_equal(msssim.read_image(path), shown.reshape(shown.shape[0], shown.shape[1], -1))
    dist = np.clip(shown.astype(np.int64) + RNG.integers(-9, 10, shown.shape) * (shown.max() // 255), 0, None)
    dist = dist.astype(shown.dtype)
    np.save(tmp_path / "dist.npy", dist)
    code, document, err = _json_run(capsys, path, tmp_path / "dist.npy")
    assert code == 0, err
    want = oracle.ssim_multiscale(shown, dist, float(np.iinfo(shown.dtype).max))
    assert document["results"][0]["ms_ssim"] == pytest.approx(want, abs=1e-6)


@pytest.mark.parametrize(
    ("bits", "channels", "form"), [(12, 3, "jp2"), (16, 3, "j2k"), (10, 1, "jp2"), (10, 3, "avif"), (12, 3, "avif")]
)
def test_deep_jpeg2000_and_avif_are_read_at_their_precision(tmp_path, capsys, bits, channels, form):
    """Pillow cut 10- to 16-bit colour JPEG 2000 (a digital cinema frame is
    12-bit) and 10/12-bit AVIF (an HDR photo) to 8 bits, and shifted grey
    JPEG 2000 up by bits, not to the full range. A photo at ``bits`` against
    its lossy copy scores as their samples, scaled to 16 bits as PGM's are, do."""
    import imagecodecs

    top = 2**bits - 1
    image = photo("coffee")[:176, :200, :channels]
    ref = np.round(image.astype(np.float64) * top / 255).astype(np.uint16)
    if form == "avif":
        encode, decode = (
            (lambda a, level: imagecodecs.avif_encode(a, level, bitspersample=bits)),
            imagecodecs.avif_decode,
        )
    else:
        encode = lambda a, level: imagecodecs.jpeg2k_encode(a, level, bitspersample=bits, codecformat=form)  # noqa: E731
        decode = imagecodecs.jpeg2k_decode
    coded = {"ref": encode(ref, 100 if form == "avif" else 0), "dist": encode(ref, 45)}
    shown = {}
    for name, data in coded.items():
        (tmp_path / f"{name}.{form}").write_bytes(data)
        samples = decode(data).reshape(176, 200, channels).astype(np.int64)
        shown[name] = (samples * 65535 + top // 2) // top  # (to the 16-bit range, rounded)
    np.testing.assert_array_equal(msssim.read_image(tmp_path / f"ref.{form}"), shown["ref"])
    assert not np.array_equal(shown["ref"], shown["dist"])
    code, document, err = _json_run(capsys, tmp_path / f"ref.{form}", tmp_path / f"dist.{form}")
    assert code == 0, err
    want = oracle.ssim_multiscale(shown["ref"], shown["dist"], 65535.0)
    assert document["results"][0]["ms_ssim"] == pytest.approx(want, abs=1e-6)


def _heic(image: np.ndarray, bits: int, quality: int) -> bytes:
    """``image`` (samples of ``bits``) as HEIC, through pillow-heif (which takes 10/12 bits shifted to 16)."""
    import io

    import pillow_heif

    channels = image.shape[-1]
    mode = ("L" if channels == 1 else "RGB") + (";16" if bits > 8 else "")
    shifted = image << (16 - bits) if bits > 8 else image
    heif = pillow_heif.from_bytes(mode=mode, size=image.shape[1::-1], data=np.ascontiguousarray(shifted).tobytes())
    out = io.BytesIO()
    twelve, pillow_heif.options.SAVE_HDR_TO_12_BIT = pillow_heif.options.SAVE_HDR_TO_12_BIT, bits == 12
    try:
        heif.save(out, quality=quality)
    finally:
        pillow_heif.options.SAVE_HDR_TO_12_BIT = twelve
    return out.getvalue()


@pytest.mark.parametrize(
    ("bits", "channels", "form"),
    [(8, 3, "jxl"), (10, 3, "jxl"), (12, 1, "jxl"), (16, 3, "jxl"), (8, 3, "heic"), (10, 3, "heic"), (12, 3, "heic")],
)
def test_jpeg_xl_and_heic_are_read_at_their_precision(tmp_path, capsys, bits, channels, form):
    """A .jxl or .heic file was taken for a video ("cannot decode the video"):
    Pillow reads neither. A photo at ``bits`` against its lossy copy scores as
    the decoders' samples, scaled to 16 bits as PGM's are, do; the 8-bit as they are."""
    import imagecodecs
    import pillow_heif

    top = 2**bits - 1
    image = photo("coffee")[:176, :200, :channels]
    ref = np.round(image.astype(np.float64) * top / 255).astype(np.uint8 if bits == 8 else np.uint16)
    if form == "jxl":
        depth = {} if bits in (8, 16) else {"bitspersample": bits}
        coded = {name: imagecodecs.jpegxl_encode(ref, level, **depth) for name, level in (("ref", 95), ("dist", 40))}
        decode = imagecodecs.jpegxl_decode
    else:
        coded = {name: _heic(ref, bits, level) for name, level in (("ref", 95), ("dist", 30))}

        def decode(data):
            samples = np.asarray(pillow_heif.open_heif(data, convert_hdr_to_8bit=False))
            return samples >> (16 - bits) if bits > 8 else samples

    shown = {}
    for name, data in coded.items():
        (tmp_path / f"{name}.{form}").write_bytes(data)
        samples = decode(data).reshape(176, 200, channels).astype(np.int64)
        shown[name] = (samples * 65535 + top // 2) // top if bits > 8 else samples  # (to the 16-bit range, rounded)
    read = msssim.read_image(tmp_path / f"ref.{form}")
    assert read.dtype == (np.uint8 if bits == 8 else np.uint16)
    np.testing.assert_array_equal(read, shown["ref"])
    assert not np.array_equal(shown["ref"], shown["dist"])
    code, document, err = _json_run(capsys, tmp_path / f"ref.{form}", tmp_path / f"dist.{form}")
    assert code == 0, err
    want = oracle.ssim_multiscale(shown["ref"], shown["dist"], 255.0 if bits == 8 else 65535.0)
    assert document["results"][0]["ms_ssim"] == pytest.approx(want, abs=1e-6)


def _jpegxl_codestream(*fields: tuple[int, int]) -> bytes:
    """A JPEG XL codestream's signature and header, from ``(value, bits)`` fields, least significant bit first."""
    value, at = 0, 0
    for field, bits in fields:
        value, at = value | field << at, at + bits
    return b"\xff\x0a" + value.to_bytes((at + 7) // 8 + 8, "little")


def test_jpeg_xl_headers_are_read_for_size_depth_and_animation(tmp_path, capsys):
    """The bits, size and animation of a JPEG XL come from its header's bit
    fields (imagecodecs does not say them): sizes given and as ratios, in
    the ISO BMFF container (whole and in parts) too; a header claiming
    40000x40000 pixels is refused before decoding, as is an animation."""
    import imagecodecs

    from msssim import _io

    sizes = [((160, 90), 10), ((90, 160), 12), ((8, 8), 16), ((37, 301), 8), ((128, 96), 10), ((40, 48), 4)]
    for (height, width), bits in sizes:
        image = (RNG.random((height, width, 3)) * (2**bits - 1)).astype(np.uint8 if bits <= 8 else np.uint16)
        stream = imagecodecs.jpegxl_encode(image, 90, **({"bitspersample": bits} if bits in (4, 10, 12) else {}))
        container = b"\x00\x00\x00\x0cJXL \r\n\x87\n" + struct.pack(">I4s4s", 20, b"ftyp", b"jxl ") + bytes(8)
        whole = container + struct.pack(">I4s", 8 + len(stream), b"jxlc") + stream
        parts = container + struct.pack(">I4sI", 12 + 40, b"jxlp", 0) + stream[:40]
        parts += struct.pack(">I4sI", 12 + len(stream) - 40, b"jxlp", 0x80000001) + stream[40:]
        for data in (stream, whole, parts):
            assert _io._jpegxl_header(tmp_path, data) == (height, width, bits, False)
        (tmp_path / "in.jxl").write_bytes(parts)
        decoded = imagecodecs.jpegxl_decode(stream).astype(np.int64)
        top = 255 if bits <= 8 else 65535  # (4 bits, 0..15, shown 0..255 as Pillow shows a 4-bit PNG)
        want = (decoded * top + (2**bits - 1) // 2) // (2**bits - 1)
        np.testing.assert_array_equal(msssim.read_image(tmp_path / "in.jxl"), want)
    # not small (0), height 40000 in 30 bits (selector 3), square (ratio 1), all defaults (1)
    (tmp_path / "bomb.jxl").write_bytes(_jpegxl_codestream((0, 1), (3, 2), (39999, 30), (1, 3), (1, 1)))
    animation = (RNG.random((3, 64, 80, 3)) * 255).astype(np.uint8)
    (tmp_path / "animated.jxl").write_bytes(imagecodecs.jpegxl_encode(animation, 90))
    for name, why in (("bomb", "40000x40000 is more than the"), ("animated", "an animated JPEG XL")):
        assert main([str(tmp_path / f"{name}.jxl"), str(tmp_path / f"{name}.jxl")]) == 3
        assert why in capsys.readouterr().err


def test_heif_files_of_several_images_are_refused_and_avif_is_not_taken_for_heic(tmp_path, capsys):
    """A HEIF of two images is neither scored by its first nor a traceback; an
    AVIF whose major brand is HEIF's ``mif1`` (older encoders) is still AVIF,
    also once pillow-heif's plugin is in Pillow (imageio puts it there when
    imported), which claimed it and could not decode it."""
    import imagecodecs
    import pillow_heif

    pillow_heif.register_heif_opener()

    frames = (RNG.random((2, 64, 80, 3)) * 255).astype(np.uint8)
    heif = pillow_heif.from_bytes(mode="RGB", size=(80, 64), data=frames[0].tobytes())
    heif.add_frombytes(mode="RGB", size=(80, 64), data=frames[1].tobytes())
    heif.save(tmp_path / "two.heic")
    assert main([str(tmp_path / "two.heic"), str(tmp_path / "two.heic")]) == 3
    assert "a HEIF file of 2 images, not one" in capsys.readouterr().err
    Image.fromarray(frames[0]).save(tmp_path / "avif.avif")
    data = bytearray((tmp_path / "avif.avif").read_bytes())
    assert data[4:12] == b"ftypavif"
    data[8:12] = b"mif1"
    (tmp_path / "mif1.avif").write_bytes(data)
    np.testing.assert_array_equal(
        msssim.read_image(tmp_path / "mif1.avif"), np.asarray(Image.open(tmp_path / "avif.avif"))
    )
    deep = bytearray(imagecodecs.avif_encode((frames[0].astype(np.uint16) * 4), 90, bitspersample=10))
    deep[8:12] = b"mif1"  # (10 bits: was read at 8 by Pillow)
    (tmp_path / "deep.avif").write_bytes(deep)
    want = imagecodecs.avif_decode(bytes(deep)).astype(np.int64)
    np.testing.assert_array_equal(msssim.read_image(tmp_path / "deep.avif"), (want * 65535 + 511) // 1023)


def test_avif_sequences_are_scored_frame_by_frame_and_deep_ones_refused(tmp_path, capsys):
    """An AVIF sequence was scored by its first frame alone, silently."""
    import imagecodecs
    from PIL import ImageSequence

    frames = {"ref": _animation(1, 3)}
    frames["dist"] = [np.where(RNG.random((H, W, 1)) < 0.1, 255 - f, f) for f in frames["ref"]]
    shown = {}
    for name, arrays in frames.items():
        first, *rest = (Image.fromarray(f) for f in arrays)
        first.save(tmp_path / f"{name}.avif", save_all=True, append_images=rest, quality=90)
        shown[name] = [
            np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(Image.open(tmp_path / f"{name}.avif"))
        ]
    code, document, err = _json_run(capsys, tmp_path / "ref.avif", tmp_path / "dist.avif")
    assert code == 0, err
    want = [oracle.ssim_multiscale(r, d, 255.0) for r, d in zip(shown["ref"], shown["dist"])]
    assert len(want) == 3
    np.testing.assert_allclose([f["ms_ssim"] for f in document["results"][0]["frames"]], want, rtol=0, atol=1e-6)
    deep = (RNG.random((3, H, W, 3)) * 1023).astype(np.uint16)
    (tmp_path / "deep.avif").write_bytes(imagecodecs.avif_encode(deep, 90, bitspersample=10))
    assert main([str(tmp_path / "deep.avif"), str(tmp_path / "deep.avif")]) == 3
    assert "a 10-bit AVIF sequence, whose frames msssim cannot read at 10 bits" in capsys.readouterr().err


def test_jpeg2000_headers_past_the_pixel_limit_or_signed_are_refused(tmp_path, capsys):
    """A codestream claiming 40000x40000 16-bit pixels is refused from its
    SIZ marker, before decoding; signed samples are refused by name."""
    for name, (size, precision) in {"bomb": (40000, 0x0F), "signed": (64, 0x8F)}.items():
        siz = struct.pack(">HH8IH", 41, 0, size, size, 0, 0, size, size, 0, 0, 1) + bytes([precision, 1, 1])
        (tmp_path / f"{name}.j2k").write_bytes(b"\xff\x4f\xff\x51" + siz + b"\0" * 64)
    assert main([str(tmp_path / "bomb.j2k"), str(tmp_path / "bomb.j2k")]) == 3
    assert "40000x40000 is more than the 1073741824 pixels msssim decodes" in capsys.readouterr().err
    assert main([str(tmp_path / "signed.j2k"), str(tmp_path / "signed.j2k")]) == 3
    assert "signed JPEG 2000 samples are not supported" in capsys.readouterr().err


def test_wide_integers_need_their_range_and_deep_animations_and_bombs_are_refused(tmp_path, capsys):
    """int32 arrays of 0-255 data scored 1.0 against 2**31 - 1; a 16-bit
    animated PNG's frames were clipped at 255; a 16-bit PNG claiming 33000
    pixels a side was decoded until memory ran out."""
    ref, dist = _pair(np.uint8, 3)
    np.save(tmp_path / "ref.npy", ref.astype(np.int32))
    np.save(tmp_path / "dist.npy", dist.astype(np.int32))
    assert main([str(tmp_path / "ref.npy"), str(tmp_path / "dist.npy")]) == 3
    assert "int32 pixels have no usual range" in capsys.readouterr().err
    code, document, _ = _json_run(capsys, tmp_path / "ref.npy", tmp_path / "dist.npy", "--max-val", "255")
    assert code == 0 and document["results"][0]["ms_ssim"] == pytest.approx(oracle.ssim_multiscale(ref, dist, 255.0))
    frames = [Image.fromarray(_grey(16)[..., 0] - 300 * i) for i in range(3)]
    frames[0].save(tmp_path / "deep.png", save_all=True, append_images=frames[1:])
    assert main([str(tmp_path / "deep.png"), str(tmp_path / "deep.png")]) == 3
    assert "a 16-bit animated PNG, whose frames msssim cannot read at 16 bits" in capsys.readouterr().err
    header = struct.pack(">II5B", 33000, 33000, 16, 0, 0, 0, 0)
    chunk = struct.pack(">I", 13) + b"IHDR" + header + struct.pack(">I", zlib.crc32(b"IHDR" + header))
    (tmp_path / "bomb.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk + b"\0" * 64)
    assert main([str(tmp_path / "bomb.png"), str(tmp_path / "bomb.png")]) == 3
    assert "33000x33000 is more than the 1073741824 pixels msssim decodes" in capsys.readouterr().err


def test_python_dash_m_runs_the_command_line(tmp_path):
    """``python -m msssim`` was "No module named msssim.__main__"."""
    ref, dist = _pair(np.uint8, 3)
    _save_pillow(tmp_path / "ref.png", ref)
    _save_pillow(tmp_path / "dist.png", dist)
    run = subprocess.run(
        [sys.executable, "-m", "msssim", str(tmp_path / "ref.png"), str(tmp_path / "dist.png"), "--format", "json"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout)["results"][0]["ms_ssim"]
    assert got == pytest.approx(oracle.ssim_multiscale(ref, dist, 255.0), abs=1e-6)

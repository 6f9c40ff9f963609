"""Volumes (``spatial_dims=3``, ``[..., D, H, W, C]``): TF's formula with a
third spatial axis, against the float64 oracle (tests/oracle.py), on every
array library, differentiable, streamed from memory maps; and the 3-D values
of pytorch-msssim, torchmetrics and scikit-image, live."""

from __future__ import annotations

import json
import tracemalloc

import jax
import jax.numpy as jnp
import numpy as np
import oracle
import pytest
import pytorch_msssim
import torch
from photos import jpeg, photo
from scipy import ndimage
from skimage.metrics import structural_similarity
from torchmetrics.functional.image import multiscale_structural_similarity_index_measure as tm_ms_ssim
from torchmetrics.functional.image import structural_similarity_index_measure as tm_ssim

import msssim
from msssim.cli import main

EXACT = 1e-6  # against the float64 oracle
TOLERANCE = 1e-5  # against another library


def volume(shape, seed=0):
    """A grey volume [D, H, W, 1] uint8 of real content: D crops of a photo,
    each one pixel further down and right (a pan, smooth along D as a scan is)."""
    depth, height, width = shape
    image = photo("camera" if seed % 2 == 0 else "moon")[..., 0]
    return np.stack([image[d : d + height, 2 * d : 2 * d + width] for d in range(depth)])[..., None]


def distorted(vol, kind):
    if kind == "jpeg q5":  # each slice compressed, as a slice-wise codec does
        return np.stack([jpeg(s, 5) for s in vol])
    if kind == "blur":
        blurred = ndimage.gaussian_filter(vol.astype(np.float64), (1.5, 1.5, 1.5, 0))
        return np.clip(np.round(blurred), 0, 255).astype(np.uint8)
    noise = np.random.default_rng(1).normal(0, 12, vol.shape)
    return np.clip(np.round(vol + noise), 0, 255).astype(np.uint8)


KINDS = ["jpeg q5", "blur", "noise"]
WEIGHTS3 = (0.3, 0.3, 0.4)


def _both(function, *args, **kwargs):
    """``function`` on the Numba engine and on the float64 reference engine."""
    return [np.asarray(function(*args, engine=e, spatial_dims=3, **kwargs), np.float64) for e in (None, "reference")]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape", [(41, 50, 45), (44, 48, 52), (45, 63, 41)], ids=str)
def test_volumes_match_the_float64_oracle(shape, kind):
    a = volume(shape)
    b = distorted(a, kind)
    want_ms = oracle.ssim_multiscale(a, b, 255, WEIGHTS3, spatial_dims=3)
    want = oracle.ssim(a, b, 255, spatial_dims=3)
    want_map = oracle.ssim(a, b, 255, return_index_map=True, spatial_dims=3)
    for got in _both(msssim.ssim_multiscale, a, b, 255, WEIGHTS3):
        assert abs(got - want_ms) <= EXACT, (got, want_ms)
    for got in _both(msssim.ssim, a, b, 255):
        assert abs(got - want) <= EXACT
    for got in _both(msssim.ssim, a, b, 255, return_index_map=True):
        assert got.shape == want_map.shape == (shape[0] - 10, shape[1] - 10, shape[2] - 10)
        assert np.abs(got - want_map).max() <= EXACT


def test_five_scales_at_the_minimum_size_colour_and_16_bit():
    rng = np.random.default_rng(3)
    a = rng.integers(0, 65536, (161, 161, 162, 2), dtype=np.uint16)
    smooth = ndimage.uniform_filter(a.astype(np.float64), (3, 3, 3, 1))
    b = np.clip(smooth + rng.normal(0, 900, a.shape), 0, 65535).astype(np.uint16)
    want = oracle.ssim_multiscale(a, b, 65535, spatial_dims=3)
    got = float(msssim.ssim_multiscale(a, b, 65535, spatial_dims=3))
    assert abs(got - want) <= EXACT, (got, want)
    assert 0.05 < want < 0.99  # a score that tests something


def test_flat_constant_and_identical_volumes():
    flat = np.full((30, 31, 32, 1), 0.25, np.float32)
    other = np.full_like(flat, 0.75)
    a = volume((30, 31, 32)).astype(np.float32) / 255
    for x, y in ((flat, flat), (flat, other), (a, a), (a, flat)):
        want = oracle.ssim(x, y, 1.0, spatial_dims=3)
        for got in _both(msssim.ssim, x, y, 1.0):
            assert abs(got - want) <= EXACT, (got, want)
    assert float(msssim.ssim(a, a, 1.0, spatial_dims=3)) == pytest.approx(1.0, abs=1e-7)


def test_batches_broadcast_and_channel_axis():
    a = np.stack([volume((26, 30, 28), seed) for seed in (0, 1)])  # [2, D, H, W, 1]
    b = distorted(a[1], "noise")  # one volume against the batch
    got = msssim.ssim_multiscale(a, b, 255, (0.5, 0.5), spatial_dims=3)
    assert got.shape == (2,)
    for i in range(2):
        want = oracle.ssim_multiscale(a[i], b, 255, (0.5, 0.5), spatial_dims=3)
        assert abs(float(got[i]) - want) <= EXACT
    # Channels first: [N, C, D, H, W].
    first = msssim.ssim_multiscale(
        np.moveaxis(a, -1, 1), np.moveaxis(b, -1, 0), 255, (0.5, 0.5), channel_axis=-4, spatial_dims=3
    )
    np.testing.assert_array_equal(first, got)


def test_torch_and_jax_values_and_gradients_against_the_oracle():
    a = volume((26, 27, 29)).astype(np.float64) / 255
    b = distorted(volume((26, 27, 29)), "blur").astype(np.float64) / 255
    ours = {}
    x = torch.tensor(np.moveaxis(a, -1, 0)[None], dtype=torch.float32, requires_grad=True)  # [1, 1, D, H, W]
    y = torch.tensor(np.moveaxis(b, -1, 0)[None], dtype=torch.float32)
    score = msssim.ssim_multiscale(x, y, 1.0, (0.5, 0.5), channel_axis=1, spatial_dims=3)
    score.sum().backward()
    ours["torch"] = (float(score.detach()), np.moveaxis(x.grad[0].numpy(), 0, -1))

    def jax_score(p):
        return msssim.ssim_multiscale(p, jnp.asarray(b, jnp.float32), 1.0, (0.5, 0.5), spatial_dims=3)

    value, grad = jax.value_and_grad(jax_score)(jnp.asarray(a, jnp.float32))
    ours["jax"] = (float(value), np.asarray(grad))
    reference = torch.tensor(np.float32(a).astype(np.float64), requires_grad=True)
    target = torch.tensor(np.float32(b).astype(np.float64))
    want = oracle.ssim_multiscale(reference, target, 1.0, (0.5, 0.5), spatial_dims=3)
    want.backward()
    want_grad = reference.grad.numpy()
    for name, (value, grad) in ours.items():
        assert abs(value - float(want.detach())) <= EXACT, name
        scale = np.abs(want_grad).max()
        assert np.abs(grad - want_grad).max() <= 1e-4 * scale, name


def test_gradients_are_finite_where_the_terms_clamp():
    a = np.random.default_rng(2).random((24, 25, 26, 1), dtype=np.float32)
    x = torch.tensor(a, requires_grad=True)
    y = torch.tensor(1 - a)  # anti-correlated noise: cs < 0 at every scale
    score = msssim.ssim_multiscale(x, y, 1.0, (0.5, 0.5), spatial_dims=3)
    score.backward()
    assert float(score.detach()) == 0.0
    assert torch.isfinite(x.grad).all()


def test_torch_loss_module_takes_volumes_channels_first():
    from msssim.torch import MSSSIMLoss

    a = torch.tensor(volume((26, 26, 26)), dtype=torch.float32).permute(3, 0, 1, 2)[None] / 255
    b = (a + 0.05 * torch.randn_like(a)).clamp(0, 1).requires_grad_()
    loss = MSSSIMLoss(power_factors=(0.5, 0.5), spatial_dims=3)(b, a)
    loss.backward()
    want = 1 - oracle.ssim_multiscale(
        np.moveaxis(b.detach().numpy()[0], 0, -1), np.moveaxis(a.numpy()[0], 0, -1), 1.0, (0.5, 0.5), spatial_dims=3
    )
    assert abs(float(loss.detach()) - want) <= EXACT
    assert torch.isfinite(b.grad).all()
    with pytest.raises(ValueError, match="spatial_dims must be 2"):
        MSSSIMLoss(spatial_dims=4)


def test_dask_volumes_chunked_along_the_batch():
    import dask.array as da

    a = np.stack([volume((26, 28, 27), seed) for seed in (0, 1, 0)])
    b = np.stack([distorted(v, "noise") for v in a])
    lazy = msssim.ssim_multiscale(da.from_array(a, chunks=(1, -1, -1, -1, -1)), b, 255, (0.5, 0.5), spatial_dims=3)
    np.testing.assert_array_equal(lazy.compute(), msssim.ssim_multiscale(a, b, 255, (0.5, 0.5), spatial_dims=3))
    maps = msssim.ssim(da.from_array(a, chunks=(2, -1, -1, -1, -1)), b, 255, spatial_dims=3, return_index_map=True)
    np.testing.assert_array_equal(maps.compute(), msssim.ssim(a, b, 255, spatial_dims=3, return_index_map=True))


def test_memory_mapped_volumes_are_streamed(tmp_path):
    shape = (96, 160, 170, 1)
    a = np.lib.format.open_memmap(tmp_path / "a.npy", "w+", np.float32, shape)
    b = np.lib.format.open_memmap(tmp_path / "b.npy", "w+", np.float32, shape)
    rng = np.random.default_rng(5)
    for d in range(shape[0]):  # written slice by slice, as a scanner would
        a[d] = volume((1, 160, 170), d % 2)[0] / 255
        b[d] = np.clip(a[d] + rng.normal(0, 0.05, a[d].shape), 0, 1)
    a.flush()
    b.flush()
    a = np.load(tmp_path / "a.npy", mmap_mode="r")
    b = np.load(tmp_path / "b.npy", mmap_mode="r")
    weights = (0.5, 0.5, 0.5)
    msssim.ssim_multiscale(a[:48, :48, :48], b[:48, :48, :48], 1.0, weights, spatial_dims=3)  # compiled
    peaks = {}
    for depth in (48, 96):  # tracemalloc sees NumPy's allocations and Numba's (the tasks' rings)
        tracemalloc.start()
        got = float(msssim.ssim_multiscale(a[:depth], b[:depth], 1.0, weights, spatial_dims=3))
        peaks[depth] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    # Twice the slices: the peak grows by the next scale (an eighth of the
    # added voxels, float32), not by a copy of them.
    assert peaks[96] - peaks[48] < 0.2 * a[48:].nbytes, peaks
    assert peaks[96] < a.nbytes, peaks
    assert got == float(msssim.ssim_multiscale(np.array(a), np.array(b), 1.0, weights, spatial_dims=3))


def test_integer_volumes_are_halved_as_they_are_read(tmp_path):
    # An integer volume's first halving is never stored (as float32 it would
    # be half a uint8 volume's bytes): the kernels read its 2x2x2 means.
    shape = (96, 160, 170, 1)
    a = np.lib.format.open_memmap(tmp_path / "a.npy", "w+", np.uint8, shape)
    b = np.lib.format.open_memmap(tmp_path / "b.npy", "w+", np.uint8, shape)
    for d in range(shape[0]):
        a[d] = volume((1, 160, 170), d % 2)[0]
        b[d] = distorted(a[d : d + 1], "noise")[0]
    a.flush()
    b.flush()
    a, b = (np.load(tmp_path / f"{name}.npy", mmap_mode="r") for name in "ab")
    weights = (0.4, 0.3, 0.3)
    msssim.ssim_multiscale(a[:48, :48, :48], b[:48, :48, :48], 255, weights, spatial_dims=3)  # compiled
    peaks = {}
    for depth in (48, 96):
        tracemalloc.start()
        msssim.ssim_multiscale(a[:depth], b[:depth], 255, weights, spatial_dims=3)
        peaks[depth] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peaks[96] - peaks[48] < 0.2 * a[48:].nbytes, peaks
    got = float(msssim.ssim_multiscale(a[:48], b[:48], 255, weights, spatial_dims=3))
    assert abs(got - oracle.ssim_multiscale(a[:48], b[:48], 255, weights, spatial_dims=3)) <= EXACT


# -- Other libraries' 3-D values, live ------------------------------------------------------------


def _ncdhw(*volumes):
    return [torch.from_numpy(v.astype(np.float64) / 255).permute(3, 0, 1, 2)[None].contiguous() for v in volumes]


@pytest.mark.parametrize("kind", KINDS)
def test_pytorch_msssim_3d(kind):
    a = volume((41, 99, 101))
    b = distorted(a, kind)
    x, y = _ncdhw(a, b)
    weights = [0.3, 0.3, 0.4]
    want_ms = pytorch_msssim.ms_ssim(x, y, data_range=1.0, win_size=7, win_sigma=1.0, weights=weights).item()
    want = pytorch_msssim.ssim(x, y, data_range=1.0).item()
    for got in _both(msssim.ssim_multiscale, a, b, 255, weights, 7, 1.0, convention="pytorch-msssim"):
        assert abs(got - want_ms) <= TOLERANCE, (got, want_ms)
    for got in _both(msssim.ssim, a, b, 255, convention="pytorch-msssim"):
        assert abs(got - want) <= TOLERANCE, (got, want)


@pytest.mark.parametrize("kind", KINDS)
def test_torchmetrics_3d(kind):
    # torchmetrics' own 3-D SSIM holds ~56 KB a voxel: 19 GB at 37x99x101, which
    # with the rest of the test run outgrew a 24 GiB machine; 4.4 GB here
    a = volume((37, 45, 47), seed=1)
    b = distorted(a, kind)
    x, y = _ncdhw(a, b)
    betas = (0.3, 0.3, 0.4)
    want_ms = tm_ms_ssim(x, y, data_range=1.0, kernel_size=9, sigma=1.0, betas=betas).item()
    want = tm_ssim(x, y, data_range=1.0).item()
    for got in _both(msssim.ssim_multiscale, a, b, 255, betas, 9, 1.0, convention="torchmetrics"):
        assert abs(got - want_ms) <= TOLERANCE, (got, want_ms)
    for got in _both(msssim.ssim, a, b, 255, convention="torchmetrics"):
        assert abs(got - want) <= TOLERANCE, (got, want)
    # data_range=None: the volumes' own range at each scale.
    want_ms = tm_ms_ssim(x, y, kernel_size=9, sigma=1.0, betas=betas).item()
    for got in _both(msssim.ssim_multiscale, a / 255, b / 255, None, betas, 9, 1.0, convention="torchmetrics"):
        assert abs(got - want_ms) <= TOLERANCE, (got, want_ms)


@pytest.mark.parametrize("kind", KINDS)
def test_scikit_image_3d(kind):
    a = volume((23, 40, 37))
    b = distorted(a, kind)
    want = structural_similarity(a, b, data_range=255, channel_axis=-1)
    for got in _both(msssim.ssim, a, b, 255, convention="scikit-image"):
        assert abs(got - want) <= TOLERANCE, (got, want)
    gaussian = structural_similarity(
        a, b, data_range=255, channel_axis=-1, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
    )
    for got in _both(msssim.ssim, a, b, 255):
        assert abs(got - gaussian) <= TOLERANCE, (got, gaussian)


# -- Errors ---------------------------------------------------------------------------------------


def test_volume_errors_say_what_to_do():
    a = np.zeros((30, 30, 30, 1), np.float32)
    with pytest.raises(
        ValueError,
        match=r"volumes of 30x30x30 \(depth x height x width\) are too small: 5 scale\(s\).*161x161x161 voxels",
    ):
        msssim.ssim_multiscale(a, a, 1.0, spatial_dims=3)
    with pytest.raises(ValueError, match=r"expected rank >= 4, \[\.\.\., D, H, W, C\]"):
        msssim.ssim(a[..., 0], a[..., 0], 1.0, spatial_dims=3)
    with pytest.raises(ValueError, match="spatial_dims must be 2"):
        msssim.ssim(a, a, 1.0, spatial_dims=1)
    with pytest.raises(ValueError, match="numerics='exact' only"):
        msssim.ssim(a, a, 1.0, spatial_dims=3, numerics="tensorflow-cpu")
    with pytest.raises(ValueError, match="piq scores 2-D images only"):
        msssim.ssim(a, a, 1.0, spatial_dims=3, convention="piq")
    with pytest.raises(ValueError, match="same depth, height, width and channels"):
        msssim.ssim(a, a[1:], 1.0, spatial_dims=3)
    import tensorflow as tf

    with pytest.raises(TypeError, match="convert the tensorflow tensors first"):
        msssim.ssim(tf.constant(a), tf.constant(a), 1.0, spatial_dims=3)


# -- The command line -----------------------------------------------------------------------------


def _cli(capsys, *args):
    code = main([str(a) for a in args])
    return code, capsys.readouterr()


def test_cli_scores_npy_volumes_and_tiff_stacks(tmp_path, capsys):
    import tifffile

    a = volume((41, 45, 47))
    b = distorted(a, "jpeg q5")
    rgb_a = np.concatenate([a, a[:, :, ::-1], 255 - a], axis=-1)
    rgb_b = np.concatenate([b, b[:, :, ::-1], 255 - b], axis=-1)
    np.save(tmp_path / "a.npy", a[..., 0])  # [D, H, W]: grey
    np.save(tmp_path / "b.npy", b)  # [D, H, W, 1]
    tifffile.imwrite(tmp_path / "a.tif", a[..., 0])  # one page per slice
    tifffile.imwrite(tmp_path / "b.tif", b[..., 0], compression="zlib")  # compressed: decoded, not mapped
    tifffile.imwrite(tmp_path / "rgb_a.tif", np.moveaxis(rgb_a, -1, 1), imagej=True, metadata={"axes": "ZCYX"})
    tifffile.imwrite(tmp_path / "rgb_b.tif", rgb_b, photometric="rgb")  # channels last: axes ZYXS
    weights = "0.3,0.3,0.4"
    want = oracle.ssim_multiscale(a, b, 255, (0.3, 0.3, 0.4), spatial_dims=3)
    want_rgb = oracle.ssim_multiscale(rgb_a, rgb_b, 255, (0.3, 0.3, 0.4), spatial_dims=3)
    for ref, dist, expected in (
        ("a.npy", "b.npy", want),
        ("a.tif", "b.tif", want),
        ("a.npy", "b.tif", want),
        ("rgb_a.tif", "rgb_b.tif", want_rgb),
    ):
        code, out = _cli(
            capsys, tmp_path / ref, tmp_path / dist, "--volume", "--power-factors", weights, "--format", "json"
        )
        assert code == 0, out.err
        document = json.loads(out.out)
        assert document["parameters"]["volume"] is True
        assert abs(document["results"][0]["ms_ssim"] - expected) <= EXACT, (ref, dist)
    # --ssim and a folder of volumes
    (tmp_path / "ref").mkdir()
    (tmp_path / "dist").mkdir()
    np.save(tmp_path / "ref" / "v.npy", a)
    np.save(tmp_path / "dist" / "v.npy", b)
    code, out = _cli(capsys, tmp_path / "ref", tmp_path / "dist", "--volume", "--ssim", "--format", "json")
    assert code == 0
    assert abs(json.loads(out.out)["results"][0]["ssim"] - oracle.ssim(a, b, 255, spatial_dims=3)) <= EXACT


def test_cli_volume_errors(tmp_path, capsys):
    a = volume((40, 45, 47))
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "small.npy", a[:, :40])
    np.save(tmp_path / "flat.npy", a[0, ..., 0])  # [H, W]: an image, not a volume
    code, out = _cli(capsys, tmp_path / "a.npy", tmp_path / "small.npy", "--volume", "--power-factors", "0.5,0.5")
    assert code == 3
    assert "sizes differ: reference is 40x45x47, distorted is 40x40x47 (D x H x W)" in out.err + out.out
    code, out = _cli(capsys, tmp_path / "flat.npy", tmp_path / "flat.npy", "--volume", "--ssim")
    assert code == 3
    assert "expected a volume [D, H, W] or [D, H, W, C]" in out.err + out.out
    # Without --volume a .npy file holds an image.
    code, out = _cli(capsys, tmp_path / "flat.npy", tmp_path / "flat.npy", "--ssim", "--format", "json")
    assert code == 0 and json.loads(out.out)["results"][0]["ssim"] == 1.0
    with pytest.raises(SystemExit) as info:
        main([str(tmp_path / "a.npy"), str(tmp_path / "a.npy"), "--volume", "--scale", "bicubic"])
    assert info.value.code == 2
    assert "--scale takes 2-D images" in capsys.readouterr().err

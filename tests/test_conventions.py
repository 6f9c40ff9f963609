"""``convention=``: other libraries' MS-SSIM and SSIM, checked live against the
installed libraries (pytorch-msssim 1.0.0, piq 0.8.0, torchmetrics 1.9.0) on
real photos with JPEG, blur and noise, odd and even sizes, batches, and their
own data ranges; and scikit-image's structural_similarity (0.26)."""

from __future__ import annotations

import backends
import numpy as np
import pytest
import pytorch_msssim
import torch
from photos import DISTORTIONS, photo
from skimage.metrics import structural_similarity
from torchmetrics.functional.image import multiscale_structural_similarity_index_measure as tm_ms_ssim
from torchmetrics.functional.image import structural_similarity_index_measure as tm_ssim

import msssim
from msssim.cli import main

TOLERANCE = 1e-5  # the target against each library
SIZES = [(161, 161), (161, 176), (176, 161), (200, 301), (256, 256), (331, 407)]


def _pair(size, distortion, seed=0):
    """A crop of a photo and its distortion, [H, W, 3] uint8, odd or even."""
    image = photo("astronaut" if seed % 2 == 0 else "coffee")
    top, left = 30 * seed, 40 * seed
    crop = np.ascontiguousarray(image[top : top + size[0], left : left + size[1]])
    return crop, DISTORTIONS[distortion](crop)


def _nchw(*images, scale=255.0):
    """[N, C, H, W] float64 tensors of [H, W, C] or [N, H, W, C] uint8 images, divided by ``scale``."""
    out = []
    for img in images:
        arr = img[None] if img.ndim == 3 else img
        out.append(torch.from_numpy(arr.astype(np.float64) / scale).permute(0, 3, 1, 2).contiguous())
    return out


def _ours(function, img1, img2, max_val, convention, **kwargs):
    return np.asarray(getattr(msssim, function)(img1, img2, max_val, convention=convention, **kwargs), np.float64)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("distortion", list(DISTORTIONS))
def test_pytorch_msssim_on_photos(size, distortion):
    img1, img2 = _pair(size, distortion)
    x, y = _nchw(img1, img2)
    want_ms = pytorch_msssim.ms_ssim(x, y, data_range=1.0).item()
    want_ssim = pytorch_msssim.ssim(x, y, data_range=1.0).item()
    for engine in (None, "reference"):
        got_ms = _ours("ssim_multiscale", img1, img2, 255, "pytorch-msssim", engine=engine)
        got_ssim = _ours("ssim", img1, img2, 255, "pytorch-msssim", engine=engine)
        assert abs(got_ms - want_ms) <= TOLERANCE, (engine, got_ms, want_ms)
        assert abs(got_ssim - want_ssim) <= TOLERANCE, (engine, got_ssim, want_ssim)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("distortion", list(DISTORTIONS))
def test_piq_on_photos(piq, size, distortion):
    piq_ssim, piq_ms_ssim = piq
    img1, img2 = _pair(size, distortion, seed=1)
    x, y = _nchw(img1, img2)
    want_ms = piq_ms_ssim.multi_scale_ssim(x, y, data_range=1.0).item()
    want_ssim = piq_ssim.ssim(x, y, data_range=1.0).item()
    assert abs(_ours("ssim_multiscale", img1, img2, 255, "piq") - want_ms) <= TOLERANCE
    assert abs(_ours("ssim", img1, img2, 255, "piq") - want_ssim) <= TOLERANCE


@pytest.mark.parametrize("size", [s for s in SIZES if min(s) >= 176], ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("distortion", list(DISTORTIONS))
def test_torchmetrics_on_photos(size, distortion):
    img1, img2 = _pair(size, distortion, seed=2)
    x, y = _nchw(img1, img2)
    want_ms = tm_ms_ssim(x, y, data_range=1.0).item()
    want_ssim = tm_ssim(x, y, data_range=1.0).item()
    for engine in (None, "reference"):
        got_ms = _ours("ssim_multiscale", img1, img2, 255, "torchmetrics", engine=engine)
        got_ssim = _ours("ssim", img1, img2, 255, "torchmetrics", engine=engine)
        assert abs(got_ms - want_ms) <= TOLERANCE, (engine, got_ms, want_ms)
        assert abs(got_ssim - want_ssim) <= TOLERANCE, (engine, got_ssim, want_ssim)


def test_torchmetrics_batches_sizes_and_windows():
    img1 = np.stack([_pair((183, 197), d, seed=s)[0] for s, d in ((0, "jpeg q5"), (1, "blur"))])
    img2 = np.stack([_pair((183, 197), d, seed=s)[1] for s, d in ((0, "jpeg q5"), (1, "blur"))])
    x, y = _nchw(img1, img2)
    np.testing.assert_allclose(
        _ours("ssim_multiscale", img1, img2, 255, "torchmetrics"),
        tm_ms_ssim(x, y, data_range=1.0, reduction="none").numpy(),
        atol=TOLERANCE,
    )
    weights = (0.3, 0.3, 0.4)
    np.testing.assert_allclose(
        float(msssim.ssim_multiscale(img1[0], img2[0], 255, weights, convention="torchmetrics")),
        tm_ms_ssim(x[:1], y[:1], data_range=1.0, betas=weights).item(),
        atol=TOLERANCE,
    )
    # torchmetrics sizes its gaussian from sigma alone, and halves sizes rounding down.
    with pytest.raises(ValueError, match="pass filter_size=11"):
        msssim.ssim(img1, img2, 255, filter_size=7, convention="torchmetrics")
    small = img1[:, :170]
    with pytest.raises(ValueError, match="torchmetrics needs at least 176 pixels a side"):
        msssim.ssim_multiscale(small, small, 255, convention="torchmetrics")
    assert float(msssim.ssim_multiscale(small[0], small[0], 255)) == 1.0  # TF's pyramid fits


@pytest.mark.parametrize("size", [(7, 9), (64, 80), *SIZES], ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("distortion", list(DISTORTIONS))
def test_scikit_image_on_photos(size, distortion):
    img1, img2 = _pair(size, distortion, seed=3)
    # Its defaults: a 7x7 uniform window, sample covariance; integers at their dtype's range.
    want = structural_similarity(img1, img2, channel_axis=-1)
    for engine in (None, "reference"):
        got = _ours("ssim", img1, img2, 255, "scikit-image", engine=engine)
        assert abs(got - want) <= TOLERANCE, (engine, got, want)
    grey1, grey2 = img1[..., :1].astype(np.float64) / 255, img2[..., :1].astype(np.float64) / 255
    want = structural_similarity(grey1[..., 0], grey2[..., 0], data_range=1.0)
    assert abs(_ours("ssim", grey1, grey2, 1.0, "scikit-image") - want) <= TOLERANCE
    # Its gaussian form is TF's formula, the default convention.
    if min(size) >= 11:
        x, y = img1.astype(np.float64), img2.astype(np.float64)
        wang = structural_similarity(
            x, y, data_range=255, channel_axis=-1, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
        )
        assert abs(_ours("ssim", img1, img2, 255, "tensorflow") - wang) <= TOLERANCE


def test_scikit_image_has_no_ms_ssim_and_one_window():
    img1, img2 = _pair((176, 176), "blur")
    with pytest.raises(ValueError, match="scikit-image has no MS-SSIM"):
        msssim.ssim_multiscale(img1, img2, 255, convention="scikit-image")
    with pytest.raises(ValueError, match="leave filter_size and filter_sigma out"):
        msssim.ssim(img1, img2, 255, filter_size=9, convention="scikit-image")
    deep1, deep2 = (a.astype(np.uint16) * 257 for a in (img1, img2))
    want = structural_similarity(deep1, deep2, channel_axis=-1)
    assert abs(_ours("ssim", deep1, deep2, 65535, "scikit-image") - want) <= TOLERANCE


def test_the_conventions_differ_from_tensorflow_only_where_they_should():
    # Every scale even: pytorch-msssim and piq pool as TF does (pytorch-msssim's
    # float32 taps aside); odd sizes: they do not.
    even1, even2 = _pair((256, 256), "jpeg q5")
    odd1, odd2 = _pair((161, 175), "jpeg q5")
    tf_even, tf_odd = (_ours("ssim_multiscale", a, b, 255, "tensorflow") for a, b in ((even1, even2), (odd1, odd2)))
    assert abs(_ours("ssim_multiscale", even1, even2, 255, "piq") - tf_even) <= 1e-7
    assert abs(_ours("ssim_multiscale", even1, even2, 255, "pytorch-msssim") - tf_even) <= 2e-6
    for convention in ("piq", "pytorch-msssim"):
        assert abs(_ours("ssim_multiscale", odd1, odd2, 255, convention) - tf_odd) > 1e-4


def test_batches_data_ranges_and_flat_images():
    img1 = np.stack([_pair((177, 203), d, seed=s)[0] for s, d in ((0, "blur"), (2, "noise"))])
    img2 = np.stack([_pair((177, 203), d, seed=s)[1] for s, d in ((0, "blur"), (2, "noise"))])
    x, y = _nchw(img1, img2, scale=1.0)  # pytorch-msssim's default data_range: 255, on 0..255 floats
    want = pytorch_msssim.ms_ssim(x, y, size_average=False).numpy()
    got = _ours("ssim_multiscale", img1.astype(np.float64), img2.astype(np.float64), 255.0, "pytorch-msssim")
    np.testing.assert_allclose(got, want, atol=TOLERANCE)
    # Flat areas far apart: where the taps' float32 sum (1 - 3e-8) shows.
    flat1, flat2 = np.full((1, 176, 181, 1), 0.9), np.full((1, 176, 181, 1), 0.1)
    x, y = _nchw(flat1, flat2, scale=1.0)
    for function, theirs in (("ssim_multiscale", pytorch_msssim.ms_ssim), ("ssim", pytorch_msssim.ssim)):
        for engine in (None, "reference"):
            got = _ours(function, flat1, flat2, 1.0, "pytorch-msssim", engine=engine)
            assert abs(got - theirs(x, y, data_range=1.0).item()) <= TOLERANCE, (function, engine)


def test_piq_weights_and_ssim_downsampling(piq):
    piq_ssim, piq_ms_ssim = piq
    img1 = photo("astronaut")  # 512 x 512: piq's ssim averages 2x2 blocks first
    img2 = DISTORTIONS["jpeg q30"](img1)
    x, y = _nchw(img1, img2)
    assert abs(_ours("ssim", img1, img2, 255, "piq") - piq_ssim.ssim(x, y, data_range=1.0).item()) <= TOLERANCE
    weights = (0.2, 0.3, 0.6)  # piq divides them by their sum
    want = piq_ms_ssim.multi_scale_ssim(x, y, data_range=1.0, scale_weights=torch.tensor(weights)).item()
    got = float(msssim.ssim_multiscale(img1, img2, 255, weights, convention="piq"))
    assert abs(got - want) <= TOLERANCE
    crop1, crop2 = img1[:401, :463], img2[:401, :463]  # round(401 / 256) = 2, with a partial block dropped
    x, y = _nchw(crop1, crop2)
    assert abs(_ours("ssim", crop1, crop2, 255, "piq") - piq_ssim.ssim(x, y, data_range=1.0).item()) <= TOLERANCE


@pytest.mark.parametrize("name", list(backends.CPU_BACKENDS))
@pytest.mark.parametrize("convention", ["pytorch-msssim", "piq", "torchmetrics", "scikit-image"])
def test_every_array_library_takes_a_convention(tf, name, convention):
    wrap, kind, unwrap = backends.CPU_BACKENDS[name]
    if name == "tensorflow":
        wrap, kind = tf.constant, tf.Tensor
    img1, img2 = _pair((179, 193), "jpeg q30")  # odd, and large enough for torchmetrics
    img1 = (img1.astype(np.float32) / 255)[None].repeat(2, axis=0)
    img2 = (img2.astype(np.float32) / 255)[None].repeat(2, axis=0)
    for function in ("ssim",) if convention == "scikit-image" else ("ssim_multiscale", "ssim"):
        want = _ours(function, img1, img2, 1.0, convention)
        got = getattr(msssim, function)(wrap(img1), wrap(img2), 1.0, convention=convention)
        assert isinstance(got, kind)
        np.testing.assert_allclose(np.asarray(unwrap(got), np.float64), want, atol=1e-6, err_msg=function)


def _library_ms_ssim(piq, convention, x, y):
    if convention == "pytorch-msssim":
        return pytorch_msssim.ms_ssim(x, y, data_range=1.0)
    if convention == "piq":
        return piq[1].multi_scale_ssim(x, y, data_range=1.0)
    return tm_ms_ssim(x, y, data_range=1.0)


@pytest.mark.parametrize("convention", ["pytorch-msssim", "piq", "torchmetrics"])
def test_gradients_are_the_librarys(piq, convention):
    import jax
    import jax.numpy as jnp

    img1, img2 = _pair((177, 181), "jpeg q5")
    x, y = _nchw(img1, img2)
    x.requires_grad_(True)
    _library_ms_ssim(piq, convention, x, y).backward()
    want = x.grad.clone()
    scale = want.abs().max().item()
    ours = x.detach().clone().requires_grad_(True)
    msssim.ssim_multiscale(ours, y, 1.0, channel_axis=-3, convention=convention).sum().backward()
    assert torch.isfinite(ours.grad).all()
    assert (ours.grad - want).abs().max().item() <= 1e-3 * scale
    # JAX, channels last: the same gradient.
    jx, jy = (jnp.asarray(t.detach().permute(0, 2, 3, 1).numpy(), dtype=jnp.float32) for t in (x, y))
    grad = jax.grad(lambda a: msssim.ssim_multiscale(a, jy, 1.0, convention=convention).sum())(jx)
    np.testing.assert_allclose(np.asarray(grad), want.permute(0, 2, 3, 1).numpy(), atol=1e-3 * scale)


@pytest.mark.parametrize(("convention", "max_val"), [("pytorch-msssim", 1.0), ("piq", 1.0), ("torchmetrics", None)])
def test_gradients_of_nearly_equal_images_are_the_librarys_on_every_framework(tf, piq, convention, max_val):
    """Images 1e-4 apart (a loss near its minimum): JAX rounded the float64
    scales of these conventions' padding, clamp and range to float32, with a
    warning each (1.6e-3 off), and TF's estimated range had no gradient (2e-3)."""
    import warnings

    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(0)
    a = (0.7 + 0.2 * rng.random((177, 183, 3))).astype(np.float32)  # (piq refuses values past 1)
    b = (a + 1e-4 * rng.standard_normal(a.shape)).astype(np.float32)
    x, y = _nchw(a, b, scale=1.0)
    x.requires_grad_(True)
    peer = {
        "pytorch-msssim": lambda: pytorch_msssim.ms_ssim(x, y, data_range=1.0),
        "piq": lambda: piq[1].multi_scale_ssim(x, y, data_range=1.0),
    }
    peer.get(convention, lambda: tm_ms_ssim(x, y, data_range=None))().backward()
    want = x.grad[0].permute(1, 2, 0).numpy()
    ours = torch.tensor(a, requires_grad=True)
    msssim.ssim_multiscale(ours, torch.tensor(b), max_val, convention=convention).backward()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # (JAX's "explicitly requested dtype float64 ... truncated")
        jax_grad = jax.grad(lambda v: msssim.ssim_multiscale(v, jnp.asarray(b), max_val, convention=convention))(
            jnp.asarray(a)
        )
    variable = tf.Variable(a)
    with tf.GradientTape() as tape:
        score = msssim.ssim_multiscale(variable, tf.constant(b), max_val, convention=convention)
    for name, got in (("torch", ours.grad.numpy()), ("jax", jax_grad), ("tf", tape.gradient(score, variable))):
        assert np.abs(np.asarray(got) - want).max() <= 1e-4 * np.abs(want).max(), name
    # inside tf.function too (the estimated range, a float64 tensor, met float32 constants: a TypeError)
    traced = tf.function(lambda v, w: msssim.ssim_multiscale(v, w, max_val, convention=convention))
    assert abs(float(traced(tf.constant(a), tf.constant(b))) - float(score)) <= 1e-6


def test_loss_modules_take_a_convention():
    img1, img2 = _pair((161, 161), "blur")
    x, y = _nchw(img1, img2)
    from msssim.torch import MSSSIMLoss

    loss = MSSSIMLoss(1.0, convention="pytorch-msssim")(x, y)
    assert abs(loss.item() - (1 - pytorch_msssim.ms_ssim(x, y, data_range=1.0).item())) <= TOLERANCE


def test_bad_conventions_are_refused():
    img = np.zeros((176, 176, 1), np.uint8)
    with pytest.raises(ValueError, match="convention must be one of 'tensorflow', 'pytorch-msssim', 'piq', 'torchm"):
        msssim.ssim_multiscale(img, img, 255, convention="torchvision")
    with pytest.raises(ValueError, match="exact numerics only"):
        msssim.ssim(img, img, 255, convention="piq", numerics="tensorflow-cpu")


def test_command_line_convention_is_recorded(capsys):
    import json

    code = main(
        ["examples/reference.png", "examples/distorted.png", "--convention", "pytorch-msssim", "--format", "json"]
    )
    assert code == 0
    document = json.loads(capsys.readouterr().out)
    assert document["parameters"]["convention"] == "pytorch-msssim"
    assert isinstance(document["results"][0]["ms_ssim"], float)
    with pytest.raises(SystemExit) as info:
        main(
            ["examples/reference.png", "examples/distorted.png", "--convention", "piq", "--numerics", "tensorflow-cpu"]
        )
    assert info.value.code == 2


# -- The libraries' own arguments -----------------------------------------------------------------


@pytest.mark.parametrize("distortion", ["jpeg q5", "noise"])
def test_torchmetrics_data_range_none_and_tuple(distortion):
    # A batch of two photos of different ranges: data_range=None is the larger
    # range of the whole batch, re-estimated at every scale.
    img1 = np.stack([_pair((181, 190), distortion, seed=s)[0] for s in (0, 2)]).astype(np.float64) / 255
    img2 = np.stack([_pair((181, 190), distortion, seed=s)[1] for s in (0, 2)]).astype(np.float64) / 255
    img1[1] = 0.25 + 0.5 * img1[1]  # a narrower range for the second image
    x, y = _nchw(img1, img2, scale=1.0)
    for max_val, data_range in ((None, None), ((0.2, 0.8), (0.2, 0.8)), ((0.0, 2.0), (0.0, 2.0))):
        want_ms = tm_ms_ssim(x, y, data_range=data_range, reduction="none").numpy()
        want = tm_ssim(x, y, data_range=data_range, reduction="none").numpy()
        for engine in (None, "reference"):
            got_ms = _ours("ssim_multiscale", img1, img2, max_val, "torchmetrics", engine=engine)
            got = _ours("ssim", img1, img2, max_val, "torchmetrics", engine=engine)
            np.testing.assert_allclose(got_ms, want_ms, atol=TOLERANCE, err_msg=f"{max_val} {engine}")
            np.testing.assert_allclose(got, want, atol=TOLERANCE, err_msg=f"{max_val} {engine}")
    assert abs(_ours("ssim_multiscale", img1, img2, None, "torchmetrics")[1] - want_ms[1]) > 1e-4  # it matters
    # Differentiable as torchmetrics is: through the range too.
    x.requires_grad_(True)
    tm_ms_ssim(x, y, reduction="sum").backward()
    ours = x.detach().clone().requires_grad_(True)
    msssim.ssim_multiscale(ours, y, None, channel_axis=-3, convention="torchmetrics").sum().backward()
    scale = x.grad.abs().max().item()
    assert (ours.grad - x.grad).abs().max().item() <= 1e-3 * scale


def test_torchmetrics_normalize_and_uniform_kernel():
    img1, img2 = _pair((203, 190), "jpeg q5", seed=2)
    x, y = _nchw(img1, img2)
    want = tm_ms_ssim(x, y, data_range=1.0, normalize="simple").item()
    assert abs(_ours("ssim_multiscale", img1, img2, 255, "torchmetrics:normalize=simple") - want) <= TOLERANCE
    for size in (3, 7, 11):
        want = tm_ssim(x, y, data_range=1.0, gaussian_kernel=False, kernel_size=size).item()
        for engine in (None, "reference"):
            got = _ours("ssim", img1, img2, 255, "torchmetrics:gaussian_kernel=false", filter_size=size, engine=engine)
            assert abs(got - want) <= TOLERANCE, (size, engine)
    want = tm_ms_ssim(x, y, data_range=1.0, gaussian_kernel=False, kernel_size=7, betas=(0.5, 0.5)).item()
    got = _ours(
        "ssim_multiscale",
        img1,
        img2,
        255,
        "torchmetrics:gaussian_kernel=false:normalize=relu",
        power_factors=(0.5, 0.5),
        filter_size=7,
    )
    assert abs(got - want) <= TOLERANCE


def test_pytorch_msssim_nonnegative_ssim():
    img1, img2 = _pair((176, 181), "noise")
    inverted = 255 - img2  # anti-correlated: negative SSIM per channel
    x, y = _nchw(img1, inverted)
    for option, nonnegative in (("", False), (":nonnegative_ssim=true", True), (":nonnegative_ssim=false", False)):
        want = pytorch_msssim.ssim(x, y, data_range=1.0, nonnegative_ssim=nonnegative).item()
        got = _ours("ssim", img1, inverted, 255, "pytorch-msssim" + option)
        assert abs(got - want) <= TOLERANCE, option
    plain, clamped = (_ours("ssim", img1, inverted, 255, "pytorch-msssim" + o) for o in ("", ":nonnegative_ssim=1"))
    assert plain < 0 < clamped  # the option matters here


@pytest.mark.parametrize("distortion", ["jpeg q5", "blur"])
def test_scikit_image_arguments(distortion):
    img1, img2 = _pair((161, 175), distortion, seed=3)
    for option, theirs in (
        ("win_size=3", {"win_size": 3}),
        ("win_size=9", {"win_size": 9}),
        ("use_sample_covariance=false", {"use_sample_covariance": False}),
        ("win_size=5:use_sample_covariance=false", {"win_size": 5, "use_sample_covariance": False}),
        ("gaussian_weights=true", {"gaussian_weights": True, "sigma": 1.5}),
    ):
        want = structural_similarity(img1, img2, channel_axis=-1, **theirs)
        for engine in (None, "reference"):
            got = _ours("ssim", img1, img2, 255, "scikit-image:" + option, engine=engine)
            assert abs(got - want) <= TOLERANCE, (option, engine, got, want)
    want = structural_similarity(img1, img2, channel_axis=-1, gaussian_weights=True, sigma=2.0)
    got = _ours("ssim", img1, img2, 255, "scikit-image:gaussian_weights=true", filter_size=15, filter_sigma=2.0)
    assert abs(got - want) <= TOLERANCE


def test_library_arguments_are_checked():
    img = np.zeros((176, 176, 1), np.uint8)
    for spec, message in (
        ("torchmetrics:normalize=none", "expected relu or simple"),
        ("torchmetrics:win_size=3", "'torchmetrics' takes normalize, gaussian_kernel"),
        ("piq:downsample=false", "'piq' takes no arguments"),
        ("scikit-image:win_size=4", "expected an odd whole number >= 3"),
        ("pytorch-msssim:nonnegative_ssim=maybe", "expected true or false"),
    ):
        with pytest.raises(ValueError, match=message):
            msssim.ssim(img, img, 255, convention=spec)
    with pytest.raises(ValueError, match="pass filter_size=15"):
        msssim.ssim(img, img, 255, filter_sigma=2.0, convention="scikit-image:gaussian_weights=true")
    with pytest.raises(TypeError, match="None and \\(min, max\\) are torchmetrics' data_range"):
        msssim.ssim(img, img, None)
    with pytest.raises(ValueError, match="needs min < max"):
        msssim.ssim(img, img, (1.0, 0.0), convention="torchmetrics")
    import dask.array as da

    with pytest.raises(ValueError, match="Dask scores block by block"):
        msssim.ssim(da.from_array(img[None]), img, None, convention="torchmetrics")
    code = main(["examples/reference.png", "examples/distorted.png", "--convention", "torchmetrics:normalize=simple"])
    assert code == 0
    with pytest.raises(SystemExit):
        main(["examples/reference.png", "examples/distorted.png", "--convention", "torchmetrics:normalize=none"])

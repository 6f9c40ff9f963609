"""PyTorch tensors in, PyTorch tensors out: TF's values and TF's gradients,
finite where TF's are NaN."""

from __future__ import annotations

import cases
import numpy as np
import pytest
import torch

import msssim


def _tensor(arr: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(arr))


@pytest.mark.parametrize("seed", range(0, 210, 3))
def test_tensorflow_cpu_values_match_tensorflow(tf, seed):
    recipe = cases.draw(seed)
    img1, img2 = cases.build(recipe)
    want = cases.run_tensorflow(tf, recipe, img1, img2)
    got = cases.run_msssim(recipe, img1, img2, wrap=_tensor, numerics="tensorflow-cpu")
    assert isinstance(got, torch.Tensor) and got.dtype == torch.float32 and got.device.type == "cpu"
    assert tuple(got.shape) == want.shape
    cases.assert_close(recipe, got.numpy(), want)


@pytest.mark.parametrize("seed", range(1, 210, 23))
@pytest.mark.parametrize("requires_grad", [False, True])
def test_cpu_values_are_the_numpy_engines_bit_for_bit(seed, requires_grad):
    """On the CPU the values come from the NumPy engine (TF's arithmetic) and only
    the gradients from torch's convolutions."""
    recipe = cases.draw(seed)
    img1, img2 = cases.build(recipe)
    want = cases.run_msssim(recipe, img1, img2)

    def wrap(arr):
        tensor = _tensor(arr)
        return tensor.float().requires_grad_(True) if requires_grad and tensor.is_floating_point() else tensor

    got = cases.run_msssim(recipe, img1, img2, wrap=wrap)
    assert got.requires_grad == (requires_grad and img1.dtype.kind == "f")
    np.testing.assert_array_equal(got.detach().numpy(), want)


def _tf_gradient(tf, img1, img2, **kwargs):
    x = tf.Variable(img1)
    with tf.GradientTape() as tape:
        value = tf.reduce_sum(tf.image.ssim_multiscale(x, tf.constant(img2), 1.0, **kwargs))
    return float(value), tape.gradient(value, x).numpy()


def _torch_gradient(img1, img2, channel_axis=-1, **kwargs):
    x = _tensor(img1).requires_grad_(True)
    value = msssim.ssim_multiscale(x, _tensor(img2), 1.0, channel_axis=channel_axis, **kwargs).sum()
    value.backward()
    return float(value.detach()), x.grad.numpy()


@pytest.mark.parametrize("seed", range(5))
def test_gradients_match_tensorflow(tf, seed):
    rng = np.random.default_rng(seed)
    shape = (2, int(rng.integers(176, 200)), int(rng.integers(176, 200)), int(rng.choice([1, 3])))
    img1 = rng.random(shape, dtype=np.float32)
    img2 = np.clip(img1 + rng.uniform(0.05, 0.3) * rng.standard_normal(shape, dtype=np.float32), 0, 1)
    tf_value, tf_grad = _tf_gradient(tf, img1, img2)
    value, grad = _torch_gradient(img1, img2)
    assert np.isfinite(tf_grad).all()
    assert abs(value - tf_value) <= 2 * cases.TOLERANCE  # a sum of two scores
    scale = np.abs(tf_grad).max()
    assert np.abs(grad - tf_grad).max() <= 1e-4 * scale


def test_anticorrelated_gradient_is_finite_where_tensorflow_is_nan(tf):
    img1 = np.random.default_rng(0).random((176, 176, 1), dtype=np.float32)
    img2 = 1.0 - img1
    _, tf_grad = _tf_gradient(tf, img1, img2)
    assert np.isnan(tf_grad).all()  # TF: 0 · ∞ through the clamp
    value, grad = _torch_gradient(img1, img2)
    assert value == 0.0
    assert np.isfinite(grad).all() and (grad == 0).all()


def test_step_6_product_of_powers_and_its_written_out_gradient():
    """torch's fused step 6 (``torch_engine.weighted_product``): the value and
    gradient of ``prod(x ** w)`` where the terms are positive, as autograd of
    the plain formula in float64; 0 (not inf or NaN) for a zero term; under
    ``torch.func.grad`` too; and a NaN term kept unless its exponent is 0."""
    from msssim._engines import torch_engine

    rng = np.random.default_rng(4)
    x = torch.tensor(rng.uniform(0.05, 1.0, (2, 5, 3)))
    x[1, 2, 0] = 0.0  # a relu'd cs: one channel's product is 0
    weights = [[w] for w in msssim.MSSSIM_WEIGHTS]
    ours = x.clone().requires_grad_(True)
    torch_engine.weighted_product(ours, weights, -2).sum().backward()
    plain = x.clone().requires_grad_(True)
    torch.prod(plain ** torch.tensor(weights, dtype=torch.float64), dim=-2).sum().backward()
    positive = x > 0
    np.testing.assert_allclose(ours.grad[positive].numpy(), plain.grad[positive].numpy(), rtol=1e-6)
    assert ours.grad[1, 2, 0] == 0 and not torch.isfinite(plain.grad[1, 2, 0])  # (w·0^(w-1): inf)
    assert ours.grad[1, :, 0].abs().sum() == 0  # (the rest of that product: 0 too, as autograd's)
    func = torch.func.grad(lambda v: torch_engine.weighted_product(v, weights, -2).sum())(x)
    torch.testing.assert_close(func, ours.grad)
    # a second derivative too: finite at the zero term, as the plain formula's where no term is 0
    twice, plain = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    (first,) = torch.autograd.grad(torch_engine.weighted_product(twice, weights, -2).sum(), twice, create_graph=True)
    first.pow(2).sum().backward()
    (theirs,) = torch.autograd.grad(torch.prod(plain ** torch.tensor(weights, dtype=torch.float64), dim=-2).sum(),
                                    plain, create_graph=True)  # fmt: skip
    theirs.pow(2).sum().backward()
    assert torch.isfinite(twice.grad).all() and not torch.isfinite(plain.grad).all()
    np.testing.assert_allclose(twice.grad[0].numpy(), plain.grad[0].numpy(), rtol=1e-6)
    nan = torch.tensor([[0.5, float("nan")], [0.5, float("nan")]])
    assert torch_engine.weighted_product(nan, [0.5, 0.5], -1)[0].isnan()
    assert torch_engine.weighted_product(nan, [0.5, 0.0], -1)[0] == 0.5**0.5


def test_identical_images_give_one_and_finite_gradients():
    img = np.random.default_rng(1).random((180, 181, 3), dtype=np.float32)
    value, grad = _torch_gradient(img, img)
    assert value == 1.0
    assert np.isfinite(grad).all() and np.abs(grad).max() < 1e-6


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_identical_images_score_exactly_one(dtype):
    img = torch.rand(2, 3, 176, 176).to(dtype)
    assert msssim.ssim_multiscale(img, img, 1.0, channel_axis=-3).tolist() == [1.0, 1.0]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert msssim.ssim_multiscale(img, img, 1.0, channel_axis=-3).tolist() == [1.0, 1.0]


@pytest.mark.parametrize("numerics", ["exact", "tensorflow-cpu"])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_autocast_changes_neither_scores_nor_gradients(dtype, numerics):
    rng = np.random.default_rng(5)
    a, b = (torch.from_numpy(rng.random((2, 3, 48, 50), dtype=np.float32)) for _ in range(2))

    def scored():
        x = a.clone().requires_grad_(True)
        scores = msssim.ssim_multiscale(x, b, 1.0, power_factors=(0.4, 0.6), channel_axis=-3, numerics=numerics)
        scores.sum().backward()
        return scores.detach(), x.grad

    plain = scored()
    with torch.autocast("cpu", dtype=dtype):
        cast = scored()
    for p, c in zip(plain, cast):
        assert c.dtype == torch.float32
        torch.testing.assert_close(c, p, rtol=0, atol=0)


def test_nchw_equals_nhwc_and_integer_and_mixed_inputs():
    rng = np.random.default_rng(2)
    a = rng.integers(0, 256, (2, 170, 171, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-20, 21, a.shape), 0, 255).astype(np.uint8)
    nhwc = msssim.ssim_multiscale(_tensor(a), _tensor(b), 255)
    nchw = msssim.ssim_multiscale(_tensor(a).permute(0, 3, 1, 2), _tensor(b).permute(0, 3, 1, 2), 255, channel_axis=-3)
    torch.testing.assert_close(nhwc, nchw, rtol=0, atol=0)
    mixed = msssim.ssim_multiscale(_tensor(a), b, 255)  # a NumPy input follows the tensor
    assert isinstance(mixed, torch.Tensor)
    torch.testing.assert_close(mixed, nhwc, rtol=0, atol=0)
    np.testing.assert_array_equal(nhwc.numpy(), msssim.ssim_multiscale(a, b, 255))


def test_errors_name_the_argument_for_tensors():
    img = torch.rand(176, 176, 3)
    with pytest.raises(ValueError, match="img2 has 1 NaN or infinite pixel value"):
        bad = img.clone()
        bad[5, 6, 1] = float("nan")
        msssim.ssim_multiscale(img, bad, 1.0)
    with pytest.raises(TypeError, match="img1 has dtype complex64"):
        msssim.ssim_multiscale(torch.zeros(176, 176, 3, dtype=torch.complex64), img, 1.0)
    with pytest.raises(ValueError, match="too small"):
        msssim.ssim_multiscale(img[:100], img[:100], 1.0)
    with pytest.raises(ValueError, match="engine='numba' applies to NumPy inputs"):
        msssim.ssim_multiscale(img, img, 1.0, engine="numba")


def test_loss_module_and_training_example():
    from msssim.torch import MSSSIMLoss

    rng = torch.Generator().manual_seed(0)
    target = torch.rand(4, 3, 176, 176, generator=rng)
    noisy = (target + 0.2 * torch.randn(target.shape, generator=rng)).clamp(0, 1)
    per_image = MSSSIMLoss(reduction="none")(noisy, target)
    assert per_image.shape == (4,)
    torch.testing.assert_close(per_image, 1 - msssim.ssim_multiscale(noisy, target, 1.0, channel_axis=-3))
    torch.testing.assert_close(MSSSIMLoss()(noisy, target), per_image.mean())
    torch.testing.assert_close(MSSSIMLoss(reduction="sum")(noisy, target), per_image.sum())
    with pytest.raises(ValueError, match="reduction must be"):
        MSSSIMLoss(reduction="max")
    for bad, error in (  # (refused when made, not at the first call; None was a bare "not iterable")
        ({"max_val": -1}, ValueError),
        ({"numerics": "foo"}, ValueError),
        ({"filter_size": 11.0}, TypeError),
        ({"power_factors": None}, TypeError),
    ):
        with pytest.raises(error, match=f"{next(iter(bad))} must be"):
            MSSSIMLoss(**bad)

    # As the README's training example: a learned residual denoiser improves its MS-SSIM.
    torch.manual_seed(0)
    model = torch.nn.Conv2d(3, 3, 3, padding=1)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    loss_fn = MSSSIMLoss(max_val=1.0)
    first = None
    for _ in range(10):
        optimizer.zero_grad()
        loss = loss_fn((noisy + model(noisy)).clamp(0, 1), target)
        loss.backward()
        optimizer.step()
        first = first if first is not None else loss.item()
    assert loss.item() < first


def test_a_compiled_training_step_gives_eager_values_and_gradients():
    """``torch.compile`` of a model and its MS-SSIM loss (what training code
    does): the loss is eager torch's bit for bit, and the model's gradients
    are within float32 rounding of eager's (msssim's part runs eagerly
    between the compiled graphs)."""
    from msssim.torch import MSSSIMLoss

    rng = torch.Generator().manual_seed(4)
    target = torch.rand(2, 3, 64, 72, generator=rng)
    noisy = (target + 0.2 * torch.randn(target.shape, generator=rng)).clamp(0, 1)
    torch.manual_seed(0)
    model = torch.nn.Conv2d(3, 3, 3, padding=1)
    loss_fn = MSSSIMLoss(max_val=1.0, power_factors=(0.5, 0.5))

    def step(images):
        model.zero_grad()
        loss = loss_fn((images + model(images)).clamp(0, 1), target)
        loss.backward()
        return loss.detach(), [p.grad.clone() for p in model.parameters()]

    eager = step(noisy)
    torch._dynamo.reset()
    compiled = torch.compile(step)(noisy)
    assert torch.equal(compiled[0], eager[0])
    for ours, want in zip(compiled[1], eager[1]):  # (inductor adds the convolution's terms in its own order)
        assert (ours - want).abs().max() <= 1e-5 * want.abs().max()


def test_tensor_subclasses_of_other_packages_are_torchs():
    """A ``torch.Tensor`` subclass defined in another package (MONAI's
    ``MetaTensor``, torchvision's ``tv_tensors.Image``) is scored by torch,
    with gradients (it was taken for a NumPy array: a NumPy result, or
    "Can't call numpy() on Tensor that requires grad")."""

    class MetaTensor(torch.Tensor):
        pass

    MetaTensor.__module__ = "monai.data.meta_tensor"
    rng = torch.Generator().manual_seed(1)
    a = torch.rand(2, 3, 64, 72, generator=rng)
    b = (a + 0.1 * torch.randn(a.shape, generator=rng)).clamp(0, 1)
    x = a.clone().as_subclass(MetaTensor).requires_grad_()
    score = msssim.ssim_multiscale(x, b.as_subclass(MetaTensor), 1.0, (0.5, 0.5), channel_axis=-3)
    assert isinstance(score, torch.Tensor) and score.shape == (2,)
    score.sum().backward()
    plain = a.clone().requires_grad_()
    want = msssim.ssim_multiscale(plain, b, 1.0, (0.5, 0.5), channel_axis=-3)
    want.sum().backward()
    assert torch.equal(score.detach().as_subclass(torch.Tensor), want.detach())
    assert torch.equal(x.grad.as_subclass(torch.Tensor), plain.grad)


def test_torch_func_vmap_and_per_sample_gradients():
    """``torch.func.vmap``, and ``vmap(grad(...))`` (per-sample gradients): the
    scores and gradients of the batch as a whole (they raised, calling
    ``.item()`` under vmap for the finite check, which cannot read there)."""
    rng = torch.Generator().manual_seed(3)
    target = torch.rand(2, 3, 176, 176, generator=rng)
    noisy = (target + 0.1 * torch.randn(target.shape, generator=rng)).clamp(0, 1)

    def score(a, b):
        return msssim.ssim_multiscale(a, b, 1.0, channel_axis=-3)

    x = noisy.clone().requires_grad_()
    want = score(x, target)
    want.sum().backward()
    assert (torch.func.vmap(score)(noisy, target) - want.detach()).abs().max() <= 1e-6
    per_sample = torch.func.vmap(torch.func.grad(score))(noisy, target)
    assert (per_sample - x.grad).abs().max() <= 1e-5 * x.grad.abs().max()


def test_torch_func_transforms_work_on_the_cpu(tf):
    """Inside ``torch.func`` tensors have no storage to hand to the NumPy engine:
    torch's own float64 ops give the value there (the exact value, as NumPy
    input gives it) and the gradient."""
    rng = np.random.default_rng(8)
    img1 = rng.random((176, 179, 3), dtype=np.float32)
    img2 = np.clip(img1 + 0.1 * rng.standard_normal(img1.shape, dtype=np.float32), 0, 1)
    tf_value, tf_grad = _tf_gradient(tf, img1, img2)
    grad, value = torch.func.grad_and_value(lambda x: msssim.ssim_multiscale(x, _tensor(img2), 1.0))(_tensor(img1))
    assert abs(float(value) - float(msssim.ssim_multiscale(img1, img2, 1.0))) <= 1e-6
    assert abs(float(value) - tf_value) <= 2e-5
    assert np.abs(grad.numpy() - tf_grad).max() <= 1e-4 * np.abs(tf_grad).max()


@pytest.mark.parametrize("function", [msssim.ssim_multiscale, msssim.ssim])
def test_forward_mode_derivatives_equal_the_reverse_modes(function):
    """A dual tensor (torch.autograd.forward_ad) got no tangent back, silently,
    and torch.func.jvp raised "You must implement the jvp function"."""
    import torch.autograd.forward_ad as fwAD

    rng = torch.Generator().manual_seed(4)
    x = torch.rand(2, 3, 170, 165, generator=rng)
    y = (x + 0.1 * torch.randn(x.shape, generator=rng)).clamp(0, 1)
    direction = torch.randn(x.shape, generator=rng)
    for target in (y, x.clone()):  # (identical images too: 0, not NaN)
        leaf = x.clone().requires_grad_()
        function(leaf, target, 1.0, channel_axis=-3).backward(torch.ones(2))
        want = (leaf.grad * direction).flatten(1).sum(1)
        with fwAD.dual_level():
            tangent = fwAD.unpack_dual(function(fwAD.make_dual(x, direction), target, 1.0, channel_axis=-3)).tangent
        assert tangent is not None
        _, jvp = torch.func.jvp(lambda p, t=target: function(p, t, 1.0, channel_axis=-3), (x,), (direction,))
        for got in (tangent, jvp):
            torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-7)

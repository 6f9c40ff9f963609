"""One fixture over the array libraries: each input type gives its own type
back, on its device, with TF's values (``numerics="tensorflow-cpu"``) and the
exact values (the default) alike; TF tensors also give TF's gradients.

GPU backends (CUDA torch, CuPy) join the fixture on a machine with a GPU; CI
has none, so there the fixture is the six CPU backends."""

from __future__ import annotations

import backends
import cases
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import msssim


def _gpu_backends() -> dict:
    found = {}
    if torch.cuda.is_available():
        found["torch cuda"] = (
            lambda a: torch.from_numpy(np.ascontiguousarray(a)).cuda(),
            torch.Tensor,
            lambda t: t.detach().cpu().numpy(),
        )
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() > 0:
            found["cupy"] = (cupy.asarray, cupy.ndarray, cupy.asnumpy)
    except Exception:  # no CuPy, or no CUDA driver: no CuPy backend
        pass
    return found


BACKENDS = {**backends.CPU_BACKENDS, **_gpu_backends()}
DTYPES = ["uint8", "uint16", "float16", "float32", "float64"]


def _device(arr) -> str:
    """Where an array lives, as text (NumPy and Dask: the host)."""
    device = getattr(arr, "device", "cpu")
    return str(device() if callable(device) else device)


@pytest.fixture(params=list(BACKENDS))
def backend(request, tf):
    wrap, kind, unwrap = BACKENDS[request.param]
    if request.param == "tensorflow":
        wrap, kind = tf.constant, tf.Tensor
    return request.param, wrap, kind, unwrap


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("function", ["ssim_multiscale", "ssim", "ssim_map"])
def test_each_backend_returns_its_type_and_tensorflows_values(tf, backend, dtype, function):
    """TF's digits: every backend within 1e-5 of TF (GPU arrays are scored on the host)."""
    name, wrap, kind, unwrap = backend
    recipe = {
        **cases.draw(7),
        "dtype": dtype,
        "function": function,
        "kind": "correlated",
        "channels_first": False,
        "shape1": [2, 170, 183, 3],
        "shape2": [2, 170, 183, 3],
        "filter_size": 11,
        "filter_sigma": 1.5,
    }
    recipe["max_val"] = float(np.iinfo(dtype).max) if dtype.startswith("uint") else 1.0
    if function == "ssim_multiscale":
        recipe["power_factors"] = list(msssim.MSSSIM_WEIGHTS)
    else:
        recipe.pop("power_factors", None)
    img1, img2 = cases.build(recipe)
    got = cases.run_msssim(recipe, img1, img2, wrap=wrap, numerics="tensorflow-cpu")
    assert isinstance(got, kind), (name, type(got))
    assert _device(got) == _device(wrap(img1)), name
    want = cases.run_tensorflow(tf, recipe, img1, img2)
    values = np.asarray(unwrap(got))
    assert values.shape == want.shape and values.dtype == np.float32
    np.testing.assert_allclose(values, want, rtol=0, atol=cases.TOLERANCE)
    # The default, exact numerics: the same number on every backend and device
    # (each within 1e-6 of float64, so within 2e-6 of each other).
    exact = np.asarray(unwrap(cases.run_msssim(recipe, img1, img2, wrap=wrap)))
    np.testing.assert_allclose(exact, cases.run_msssim(recipe, img1, img2), rtol=0, atol=2e-6)


def test_a_big_endian_numpy_array_beside_each_backends_tensor(backend):
    """JAX refused a big-endian NumPy operand beside a JAX array (TypeError:
    "Error interpreting argument"); the others convert it."""
    name, wrap, kind, unwrap = backend
    rng = np.random.default_rng(3)
    img1 = rng.random((2, 170, 171, 3), dtype=np.float32)
    img2 = np.clip(img1 + 0.1 * rng.standard_normal(img1.shape, dtype=np.float32), 0, 1)
    got = msssim.ssim_multiscale(wrap(img1), img2.astype(">f4"), 1.0)
    assert isinstance(got, kind), name
    np.testing.assert_array_equal(
        np.asarray(unwrap(got)), np.asarray(unwrap(msssim.ssim_multiscale(wrap(img1), img2, 1.0)))
    )


@pytest.mark.parametrize("seed", range(0, 210, 5))
def test_tensorflow_tensors_match_tensorflow_on_the_sweep(tf, seed):
    recipe = cases.draw(seed)
    img1, img2 = cases.build(recipe)
    got = cases.run_msssim(recipe, img1, img2, wrap=tf.constant, numerics="tensorflow-cpu")
    assert isinstance(got, tf.Tensor)
    cases.assert_close(recipe, got.numpy(), cases.run_tensorflow(tf, recipe, img1, img2))


@pytest.mark.parametrize("seed", range(3))
def test_tensorflow_gradients_match_tensorflow_and_are_finite_through_the_clamp(tf, seed):
    rng = np.random.default_rng(seed)
    img1 = rng.random((2, 180, 177, 3), dtype=np.float32)
    img2 = np.clip(img1 + 0.2 * rng.standard_normal(img1.shape, dtype=np.float32), 0, 1)
    for other, finite_in_tf in ((img2, True), (1.0 - img1, False)):
        grads = []
        for function in (tf.image.ssim_multiscale, msssim.ssim_multiscale):
            x = tf.Variable(img1)
            with tf.GradientTape() as tape:
                value = tf.reduce_sum(function(x, tf.constant(other), 1.0))
            grads.append(tape.gradient(value, x).numpy())
        tf_grad, grad = grads
        assert np.isfinite(grad).all()
        if finite_in_tf:
            assert np.abs(grad - tf_grad).max() <= 1e-4 * np.abs(tf_grad).max()
        else:
            assert np.isnan(tf_grad).all() and (grad == 0).all()


def test_tensorflow_function_and_variables(tf):
    a = tf.Variable(np.random.default_rng(4).random((176, 176, 3), dtype=np.float32))
    b = tf.constant(np.random.default_rng(5).random((176, 176, 3), dtype=np.float32))
    traced = tf.function(lambda x, y: msssim.ssim_multiscale(x, y, 1.0))
    np.testing.assert_allclose(traced(a, b).numpy(), tf.image.ssim_multiscale(a, b, 1.0).numpy(), rtol=0, atol=1e-5)
    half = tf.cast(a, tf.float16)
    assert float(msssim.ssim_multiscale(half, half, 1.0)) == 1.0


def test_tensorflow_function_with_an_unknown_batch_and_nan_pixels(tf):
    """A ``tf.function`` whose batch dim is None (Keras' and ``tf.data``'s last
    batch): eager's values and gradients (they were refused: "a fully known
    shape"); a NaN pixel, unchecked there, scores NaN as in TF (it scored 0, a
    clamped term); an unknown image size is refused, naming what to give."""
    rng = np.random.default_rng(6)
    a = tf.constant(rng.random((3, 176, 179, 3), dtype=np.float32))
    b = tf.clip_by_value(a + tf.constant(0.1 * rng.standard_normal(a.shape, dtype=np.float32)), 0, 1)
    spec = [tf.TensorSpec([None, 176, 179, 3], tf.float32)] * 2
    for numerics in ("exact", "tensorflow-cpu"):

        def step(x, y, numerics=numerics):
            with tf.GradientTape() as tape:
                tape.watch(x)
                scores = msssim.ssim_multiscale(x, y, 1.0, numerics=numerics)
                total = tf.reduce_sum(scores)
            return scores, tape.gradient(total, x)

        traced, eager = tf.function(step, input_signature=spec)(a, b), step(a, b)
        np.testing.assert_allclose(traced[0].numpy(), eager[0].numpy(), rtol=0, atol=1e-6)
        assert np.abs(traced[1] - eager[1]).max() <= 1e-4 * np.abs(eager[1]).max()  # (graph-mode float32 rewrites)
    bad = tf.tensor_scatter_nd_update(a, [[0, 100, 100, 1]], [float("nan")])
    scores = tf.function(lambda x, y: msssim.ssim_multiscale(x, y, 1.0), input_signature=spec)(bad, b).numpy()
    assert np.isnan(scores[0]) and np.isfinite(scores[1:]).all()
    unknown = [tf.TensorSpec([None, None, None, 3], tf.float32)] * 2
    with pytest.raises(ValueError, match="need a known height, width and channels inside tf.function"):
        tf.function(lambda x, y: msssim.ssim_multiscale(x, y, 1.0), input_signature=unknown)(a, b)


def test_jax_grad_jit_and_vmap(tf):
    rng = np.random.default_rng(6)
    img1 = rng.random((176, 181, 3), dtype=np.float32)
    img2 = np.clip(img1 + 0.2 * rng.standard_normal(img1.shape, dtype=np.float32), 0, 1)

    def score(x, y):
        return msssim.ssim_multiscale(x, y, 1.0)

    x = tf.Variable(img1)
    with tf.GradientTape() as tape:
        tf_value = tf.image.ssim_multiscale(x, tf.constant(img2), 1.0)
    tf_grad = tape.gradient(tf_value, x).numpy()
    value, grad = jax.value_and_grad(score)(jnp.asarray(img1), jnp.asarray(img2))
    assert abs(float(value) - float(tf_value)) <= 1e-5
    assert np.abs(np.asarray(grad) - tf_grad).max() <= 1e-4 * np.abs(tf_grad).max()
    anti = jax.grad(score)(jnp.asarray(img1), jnp.asarray(1.0 - img1))
    assert (np.asarray(anti) == 0).all()  # TF's is NaN here
    batch1, batch2 = jnp.stack([img1, img2]), jnp.stack([img2, img1])
    eager = score(batch1, batch2)
    # On the CPU the values are the NumPy engine's, eager, traced or mapped.
    on_numpy = msssim.ssim_multiscale(np.asarray(batch1), np.asarray(batch2), 1.0)
    np.testing.assert_array_equal(np.asarray(eager), on_numpy)
    np.testing.assert_array_equal(np.asarray(jax.jit(score)(batch1, batch2)), np.asarray(eager))
    np.testing.assert_array_equal(np.asarray(jax.vmap(score)(batch1, batch2)), np.asarray(eager))
    broadcast = msssim.ssim_multiscale(np.asarray(batch1), img2, 1.0)
    np.testing.assert_array_equal(np.asarray(jax.vmap(score, in_axes=(0, None))(batch1, img2)), broadcast)


def test_jax_gpu_path_against_float64(monkeypatch):
    """JAX's GPU path (float32 moments about local values, a written-out
    derivative), run here by telling the engine the backend is a GPU: values
    within 1e-6 of the float64 oracle, gradients within 1e-4 of float64
    autograd, on a photo and its JPEG, flat and inverted; under jit, vmap and
    forward-mode differentiation too."""
    import oracle
    from photos import jpeg, photo

    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    image = photo("astronaut")[60:236, 90:271]  # 176x181: five scales
    weights = msssim.MSSSIM_WEIGHTS
    for name, other in (("jpeg q5", jpeg(image, 5)), ("flat", np.full_like(image, 128)), ("inverted", 255 - image)):
        a, b = (v.astype(np.float32) / 255 for v in (image, other))

        def score(x, y):
            return msssim.ssim_multiscale(x, y, 1.0, weights)

        value, (gx, gy) = jax.jit(jax.value_and_grad(score, argnums=(0, 1)))(jnp.asarray(a), jnp.asarray(b))
        xd, yd = (torch.tensor(v.astype(np.float64), requires_grad=True) for v in (a, b))
        want = oracle.ssim_multiscale(xd, yd, 1.0, weights)
        assert abs(float(value) - float(want.detach())) <= 1e-6, name
        if float(want.detach()) == 0:  # inverted: cs < 0 at a scale, relu'd: TF's gradient is NaN, ours 0
            assert not np.asarray(gx).any() and not np.asarray(gy).any(), name
            continue
        want.backward()
        for ours, theirs in ((gx, xd.grad.numpy()), (gy, yd.grad.numpy())):
            assert np.abs(np.asarray(ours) - theirs).max() <= 1e-4 * np.abs(theirs).max(), name
    # nearly identical images (1e-4 apart): x's and y's terms cancelled to 3e-3 of the gradient before
    bright = (0.8 + 0.2 * np.random.default_rng(1).random((176, 181, 3))).astype(np.float32)
    nearly = bright + (1e-4 * np.random.default_rng(2).standard_normal(bright.shape)).astype(np.float32)
    gx = jax.grad(lambda x: msssim.ssim_multiscale(x, jnp.asarray(nearly), 1.0))(jnp.asarray(bright))
    xd = torch.tensor(bright.astype(np.float64), requires_grad=True)
    oracle.ssim_multiscale(xd, torch.tensor(nearly.astype(np.float64)), 1.0).backward()
    assert np.abs(np.asarray(gx) - xd.grad.numpy()).max() <= 1e-4 * np.abs(xd.grad.numpy()).max()
    # a batch: jit and vmap agree with the eager call; forward mode agrees with reverse
    batch = jnp.stack([jnp.asarray(a), jnp.asarray(jpeg(image, 30).astype(np.float32) / 255)])
    eager = score(batch, jnp.asarray(b))
    np.testing.assert_allclose(np.asarray(jax.vmap(score, in_axes=(0, None))(batch, jnp.asarray(b))), eager, atol=1e-7)
    direction = jnp.asarray(np.random.default_rng(0).standard_normal(a.shape, dtype=np.float32))
    forward = jax.jvp(lambda x: score(x, jnp.asarray(b)), (jnp.asarray(a),), (direction,))[1]
    reverse = jnp.vdot(jax.grad(lambda x: score(x, jnp.asarray(b)))(jnp.asarray(a)), direction)
    assert abs(float(forward) - float(reverse)) <= 1e-4 * abs(float(reverse))


def test_jax_gpu_kernels_stay_off_host_arrays_and_say_why_they_cannot_run(monkeypatch):
    """On a GPU machine, JAX arrays on its host keep XLA's operations (the
    kernels are for the GPU): concrete arrays say where they are, and
    ``jax.default_device`` where traced ones go; and the kernels' hand-over
    turns what it cannot do (host buffers inside a caller's ``jit``, Triton
    not compiling for the GPU) into errors that say what to do."""
    from triton.runtime.errors import OutOfResources

    from msssim._engines import jax_engine, triton_kernels

    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    host = jnp.ones((8, 8, 1))
    assert jax_engine._on_host([host]) and jax_engine._kernels(host, host) is None
    assert not jax_engine._on_host([])  # (nothing says: the default backend, a GPU)
    with jax.default_device(jax.devices("cpu")[0]):
        assert jax.jit(lambda t: jnp.asarray(jax_engine._on_host([t])))(host)  # (traced: the default device)

    class Buffer:  # (an XLA buffer on the host, as a caller's jit would hand it over)
        def __dlpack_device__(self):
            return (1, 0)

    with pytest.raises(RuntimeError, match=r"arrays on the CPU .* jax.default_device"):
        with jax_engine._torch(None, Buffer()):
            pass
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    monkeypatch.setattr(triton_kernels, "_NOT_COMPILED", [])
    with pytest.raises(RuntimeError, match="did not compile for this GPU .* XLA's own operations"):
        with jax_engine._torch(None, Buffer()):
            raise OutOfResources(300000, 232448, "shared memory")
    assert not triton_kernels.compiled()  # (the next trace leaves the kernels out)


def test_large_colour_images_keep_tensorflows_cpu_mean_on_request(tf):
    """On a 1080p RGB pair TF's CPU mean (a sequential float32 sum) is ~1e-3 from
    the exact one: with ``numerics="tensorflow-cpu"`` every CPU backend follows
    it; by default every backend gives the exact value (the float64 engine's)."""
    rng = np.random.default_rng(9)
    a = rng.random((1080, 1920, 3), dtype=np.float32)
    b = np.clip(a + 0.05 * rng.standard_normal(a.shape, dtype=np.float32), 0, 1)
    want = tf.image.ssim_multiscale(a, b, 1.0).numpy()
    exact = msssim.ssim_multiscale(a, b, 1.0, engine="reference")
    assert abs(exact - want) > 1e-4  # TF-CPU's own rounding, measured
    for name in ("numpy", "torch", "jax", "tensorflow"):
        wrap, _, unwrap = BACKENDS[name]
        wrap = tf.constant if name == "tensorflow" else wrap
        got = np.asarray(unwrap(msssim.ssim_multiscale(wrap(a), wrap(b), 1.0, numerics="tensorflow-cpu")))
        np.testing.assert_allclose(got, want, rtol=0, atol=cases.TOLERANCE, err_msg=name)
        got = np.asarray(unwrap(msssim.ssim_multiscale(wrap(a), wrap(b), 1.0)))
        np.testing.assert_allclose(got, exact, rtol=0, atol=1e-6, err_msg=name)

"""msssim on a GPU against pytorch-msssim, in one run: times, memory, values.

    python benchmarks/bench_gpu.py            # on a CUDA machine, under 4 minutes
    TRITON_INTERPRET=1 python benchmarks/bench_gpu.py --smoke   # CPU: tiny shapes, checks the script

NCHW float32 pairs (the second the first plus noise), medians of ``--repeat``
calls after warm-up: msssim (fused Triton kernels, ``numerics="exact"``) and
pytorch-msssim 1.0.0's ``ms_ssim(x, y, data_range=1.0)``, forward + backward of
the summed scores and forward under ``no_grad``; single-scale ``ssim``; CuPy
and JAX (``jit(value_and_grad)``) when installed; the extra GPU memory of one
forward + backward (peak allocated above what was allocated before); the
largest difference of msssim's GPU values from the float64 engine on the host;
and, under torch's profiler, the kernels, host waits and host time of one call.
First, the kernels' checks: a photo and its JPEG at odd sizes, value and
gradient against float64 autograd of the oracle (``tests/oracle.py``); on a
GPU, a batch of two equal planes too large for 32-bit offsets into their
moments, whose scores and gradients must be equal.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

import msssim

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
# JAX would take 75% of the GPU's memory when it starts, leaving torch (the
# kernels' scratch in JAX's calls, and the torch table) the rest
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

WORKLOADS = {
    "16x3x512x512": (16, 3, 512, 512),
    "1x3x1080x1920": (1, 3, 1080, 1920),
    "1x1x2160x3840": (1, 1, 2160, 3840),
    "64x3x256x256": (64, 3, 256, 256),
}
SMOKE = {"2x3x48x52": (2, 3, 48, 52)}


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def median_ms(function, device, repeat: int) -> float:
    for _ in range(2):
        function()
    _sync(device)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        _sync(device)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def pair(shape, device, rng=None) -> tuple[torch.Tensor, torch.Tensor]:
    """A float32 NCHW image in [0, 1] and it plus noise, clipped, on ``device``."""
    rng = np.random.default_rng(0) if rng is None else rng
    a = rng.random(shape, dtype=np.float32)
    b = np.clip(a + 0.1 * rng.standard_normal(shape, dtype=np.float32), 0, 1)
    return torch.from_numpy(a).to(device), torch.from_numpy(b).to(device)


def score(x, y, weights, function=msssim.ssim_multiscale, grad=True) -> torch.Tensor:
    """msssim's scores of ``x`` (a fresh leaf) against ``y``, and with ``grad``
    the backward of their sum."""
    p = x.clone().requires_grad_(grad)
    extra = (weights,) if function is msssim.ssim_multiscale else ()
    scores = function(p, y, 1.0, *extra, channel_axis=-3)
    if grad:
        scores.sum().backward()
    return scores


def extra_mib(function, device) -> float:
    if device.type != "cuda":
        return float("nan")
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    function()
    torch.cuda.synchronize()
    return (torch.cuda.max_memory_allocated() - before) / 2**20


def check(device) -> None:
    """The GPU path against float64: values within 1e-6, gradients within 1e-4
    of the largest (raises AssertionError otherwise)."""
    import oracle
    from photos import jpeg, photo

    image = photo("astronaut")[:177, :183]
    a, b = (v.astype(np.float32) / 255 for v in (image, jpeg(image, 5)))
    for weights in ((0.5, 0.5), msssim.MSSSIM_WEIGHTS[:3]):
        x = torch.tensor(np.moveaxis(a, -1, 0)[None], device=device, requires_grad=True)
        y = torch.tensor(np.moveaxis(b, -1, 0)[None], device=device)
        score = msssim.ssim_multiscale(x, y, 1.0, weights, channel_axis=-3)
        score.sum().backward()
        reference = torch.tensor(a.astype(np.float64), requires_grad=True)
        want = oracle.ssim_multiscale(reference, torch.tensor(b.astype(np.float64)), 1.0, weights)
        want.backward()
        value = abs(float(score.detach().cpu()[0]) - float(want.detach()))
        grad = np.moveaxis(x.grad[0].cpu().numpy(), 0, -1) - reference.grad.numpy()
        relative = np.abs(grad).max() / np.abs(reference.grad.numpy()).max()
        print(f"# check, {len(weights)} scales: value {value:.1e} from float64, gradient {relative:.1e} (relative)")
        assert value <= 1e-6 and relative <= 1e-4
    if device.type == "cuda":
        _large_planes(device, msssim.MSSSIM_WEIGHTS)
    bad = b.copy()
    bad[30, 4, 1] = np.nan
    y_bad = torch.tensor(np.moveaxis(bad, -1, 0)[None], device=device)
    _named(lambda: msssim.ssim_multiscale(x.detach(), y_bad, 1.0, weights, channel_axis=-3))
    _reported("JAX", _check_jax, a, b, weights, reference, want)
    try:
        import cupy

        from msssim._engines import cupy_engine
    except ImportError:
        return

    def check_cupy():
        ours = msssim.ssim_multiscale(cupy.asarray(a), cupy.asarray(b), 1.0, weights)
        value = abs(float(ours.get()) - float(want.detach()))
        path = "the kernels" if cupy_engine._kernels() is not None else "float64"
        print(f"# check, CuPy on {path}, {len(weights)} scales: value {value:.1e} from float64")
        assert value <= 1e-6
        _named(lambda: msssim.ssim_multiscale(cupy.asarray(a), cupy.asarray(bad), 1.0, weights))

    _reported("CuPy", check_cupy)


def _large_planes(device, weights, side: int = 20100) -> None:
    """Two equal ``side``-square planes (their moments, 4 an output pixel of
    every scale, pass 2**31 elements from the second plane on, where 32-bit
    offsets wrapped before ddbcc7f): the second's score and gradient are
    the first's, bit for bit. About 30 GB of GPU memory, a second."""
    plane = torch.rand((1, 1, side, side), device=device)
    x = plane.repeat(2, 1, 1, 1).requires_grad_()
    y = (x.detach() + 0.1 * torch.randn_like(plane)).clamp(0, 1)
    scores = msssim.ssim_multiscale(x, y, 1.0, weights, channel_axis=-3)
    scores.sum().backward()
    same = bool(scores[0] == scores[1]) and torch.equal(x.grad[0], x.grad[1])
    print(f"# check, 2 planes of {side}x{side}: the second's score and gradient the first's: {same}")
    del plane, x, y, scores
    torch.cuda.empty_cache()
    assert same


def _reported(label: str, call, *args, **kwargs):
    """``call(*args, **kwargs)``; an error is printed and the run goes on (the JAX and CuPy
    paths must not cost the torch table of a GPU session): its result, or the
    error's name."""
    try:
        return call(*args, **kwargs)
    except Exception as error:  # noqa: BLE001
        print(f"# {label} FAILED: {type(error).__name__}: {str(error)[-1500:]}")
        return type(error).__name__


def _named(call) -> None:
    """``call`` scores a pair whose second image has a NaN pixel: it must be named, not scored."""
    try:
        call()
    except ValueError as error:
        assert "img2 has 1 NaN or infinite pixel value(s)" in str(error), error
    else:
        raise AssertionError("a NaN pixel was scored")


def _check_jax(a, b, weights, reference, want) -> None:
    """JAX on the GPU (the torch engine's kernels, XLA's buffers handed to
    them; else XLA's own operations), or on the CPU under Triton's
    interpreter (the kernels), against the same float64 value and gradient."""
    try:
        import jax
        import jax.numpy as jnp

        from msssim._engines import jax_engine
    except ImportError:
        return
    kernels = jax_engine._kernels()
    if jax.default_backend() == "cpu" and kernels is None:
        return  # (the NumPy engine's values: tests/test_backends.py checks them)
    path = "the kernels" if kernels is not None else "XLA's operations"
    step = jax.jit(jax.value_and_grad(lambda p: msssim.ssim_multiscale(p, jnp.asarray(b), 1.0, weights)))
    value, grad = step(jnp.asarray(a))
    error = abs(float(value) - float(want.detach()))
    relative = np.abs(np.asarray(grad) - reference.grad.numpy()).max() / np.abs(reference.grad.numpy()).max()
    print(f"# check, JAX on {jax.default_backend()}, {path}: value {error:.1e} from float64, gradient {relative:.1e}")
    assert error <= 1e-6 and relative <= 1e-4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--smoke", action="store_true", help="tiny shapes on the CPU (with TRITON_INTERPRET=1)")
    args = parser.parse_args()
    device = torch.device("cpu" if args.smoke else "cuda")
    workloads, repeat = (SMOKE, 1) if args.smoke else (WORKLOADS, args.repeat)
    weights = (0.5, 0.5) if args.smoke else msssim.MSSSIM_WEIGHTS
    try:
        import pytorch_msssim
    except ImportError:
        pytorch_msssim = None
        print("# pytorch-msssim is not installed: pip install pytorch-msssim==1.0.0 (its wheel is ~8 KB)")
    name = torch.cuda.get_device_name() if device.type == "cuda" else "CPU (Triton's interpreter)"
    print(f"# {name}, torch {torch.__version__}, medians of {repeat}")
    check(device)
    print(
        "| NCHW | msssim fwd+bwd | pytorch-msssim fwd+bwd | ratio | msssim no-grad | pytorch-msssim fwd | ratio "
        "| msssim ssim fwd+bwd | pytorch-msssim ssim fwd+bwd | ratio | extra MiB msssim / pytorch-msssim "
        "| CuPy fwd | JAX value_and_grad | GPU vs float64 |"
    )
    print("|" + "---|" * 14)
    rng = np.random.default_rng(0)
    launches = []
    for label, shape in workloads.items():
        x, y = pair(shape, device, rng)
        a, b = (v.cpu().numpy() for v in (x, y))
        row = [label]

        def ours(function=msssim.ssim_multiscale, grad=True, x=x, y=y):
            return score(x, y, weights, function, grad)

        def theirs(function_name="ms_ssim", grad=True, x=x, y=y):
            p = x.clone().requires_grad_(grad)
            function = getattr(pytorch_msssim, function_name)
            extra = {"weights": list(weights)} if function_name == "ms_ssim" and args.smoke else {}
            kwargs = {"win_size": 7} if args.smoke else {}
            score = function(p, y, data_range=1.0, size_average=False, **kwargs, **extra)
            if grad:
                score.sum().backward()
            return score

        timed = {
            "ours": median_ms(ours, device, repeat),
            "ours no-grad": median_ms(lambda: torch.no_grad()(ours)(grad=False), device, repeat),
            "ours ssim": median_ms(lambda: ours(msssim.ssim), device, repeat),
        }
        if pytorch_msssim is not None and not args.smoke:
            timed["theirs"] = median_ms(theirs, device, repeat)
            timed["theirs fwd"] = median_ms(lambda: torch.no_grad()(theirs)(grad=False), device, repeat)
            timed["theirs ssim"] = median_ms(lambda: theirs("ssim"), device, repeat)
        for mine, other in (("ours", "theirs"), ("ours no-grad", "theirs fwd"), ("ours ssim", "theirs ssim")):
            there = timed.get(other, float("nan"))
            row += [f"{timed[mine]:.2f}", f"{there:.2f}", f"{there / timed[mine]:.1f}x"]
        memory = extra_mib(ours, device), extra_mib(theirs, device) if pytorch_msssim else float("nan")
        row.append(f"{memory[0]:.0f} / {memory[1]:.0f}")
        row.append(_reported(f"CuPy, {label}", _cupy, a, b, weights, repeat))
        row.append(_reported(f"JAX, {label}", _jax, a, b, weights, repeat, device))
        gpu = ours(grad=False).detach().cpu().numpy()
        host = msssim.ssim_multiscale(np.moveaxis(a, 1, -1), np.moveaxis(b, 1, -1), 1.0, weights, engine="reference")
        row.append(f"{np.abs(gpu - host).max():.1e}")
        print("| " + " | ".join(row) + " |")
        launches.append((label, _launches(ours)))
    if device.type == "cuda":
        label, shape = next(iter(workloads.items()))
        a, b = (v.cpu().numpy() for v in pair(shape, device, np.random.default_rng(0)))
        xla = _reported("JAX on XLA's operations", _jax, a, b, weights, repeat, device, kernels=False)
        print(f"# {label}, JAX value_and_grad on XLA's own operations (the kernels left out): {xla}")
    for label, (kernels, syncs, host_ms) in launches:
        print(f"# {label}, one fwd+bwd: {kernels} GPU kernels, {syncs} host waits, {host_ms:.2f} ms of host time")


def _launches(call) -> tuple[int, int, float]:
    """One call under torch's profiler: the kernels it ran, the times the host
    waited for the GPU (synchronizations and copies to the host), and the host
    time of the call."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if torch.cuda.is_available() else [])
    with profile(activities=activities) as prof:
        start = time.perf_counter()
        call()
        host_ms = 1000 * (time.perf_counter() - start)
    events = prof.events()
    kernels = sum(1 for e in events if e.device_type.name == "CUDA")
    waits = sum(
        1 for e in events if e.name in ("cudaStreamSynchronize", "cudaDeviceSynchronize", "aten::_local_scalar_dense")
    )
    return kernels, waits, host_ms


def _cupy(a, b, weights, repeat) -> str:
    try:
        import cupy
    except ImportError:
        return "no CuPy"
    x, y = (cupy.asarray(np.moveaxis(v, 1, -1)) for v in (a, b))

    def call():
        msssim.ssim_multiscale(x, y, 1.0, weights)
        cupy.cuda.Device().synchronize()

    for _ in range(2):
        call()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return f"{1000 * statistics.median(times):.2f} ms"


def _jax(a, b, weights, repeat, device, kernels=True) -> str:
    """JAX's ``jit(value_and_grad)``, on the kernels where they are here (with
    ``kernels=False``, XLA's own operations)."""
    if device.type != "cuda":
        return "GPU only"
    try:
        import jax
        import jax.numpy as jnp

        from msssim._engines import jax_engine
    except ImportError:
        return "no JAX"
    if not kernels:
        found, jax_engine._kernels = jax_engine._kernels, lambda *arrays: None
        try:
            return _jax(a, b, weights, repeat, device)
        finally:
            jax_engine._kernels = found
    x, y = (jnp.asarray(np.moveaxis(v, 1, -1)) for v in (a, b))
    step = jax.jit(jax.value_and_grad(lambda p: msssim.ssim_multiscale(p, y, 1.0, weights).sum()))
    for _ in range(2):
        jax.block_until_ready(step(x))
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        jax.block_until_ready(step(x))
        times.append(time.perf_counter() - start)
    return f"{1000 * statistics.median(times):.2f} ms"


if __name__ == "__main__":
    main()

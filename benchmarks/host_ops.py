"""What a torch GPU call asks of the host, counted on the CPU: the torch
operations that launch a kernel, and the Triton launches, per forward and per
forward + backward of MS-SSIM.

    python benchmarks/host_ops.py

On a GPU the host, not the GPU, bounds msssim's speed (``tune_gpu.py``): each
launch costs tens of microseconds of Python and dispatch, so these counts are
what a session without a GPU can measure and cut. The GPU path runs here on
CPU tensors (Triton's interpreter switched on), with the Triton kernels
replaced by stand-ins (the means placeholders), so only the host's work is
left; torch's profiler lists the operations (views, which launch nothing, are
not counted), and the same calls, timed, give the host's time a call (this
CPU's, without a GPU's launch costs). Last, the extra memory of a forward +
backward of ``bench_gpu.py``'s workloads, counted from the allocations the
GPU path makes (the kernels allocate nothing of their own).
"""

from __future__ import annotations

import os

os.environ["TRITON_INTERPRET"] = "1"  # (before Triton is imported: CPU tensors take the GPU path)

import statistics  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402

import torch  # noqa: E402
from bench_gpu import WORKLOADS  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402

import msssim  # noqa: E402
from msssim._engines import triton_kernels  # noqa: E402

VIEWS = {
    "aten::alias", "aten::as_strided", "aten::broadcast_tensors", "aten::detach", "aten::empty",
    "aten::empty_like", "aten::empty_strided", "aten::expand", "aten::is_nonzero", "aten::item", "aten::lift_fresh",
    "aten::movedim", "aten::narrow", "aten::permute", "aten::reshape", "aten::_reshape_alias", "aten::resolve_conj",
    "aten::resolve_neg", "aten::result_type", "aten::scalar_tensor", "aten::select", "aten::slice", "aten::squeeze",
    "aten::t", "aten::transpose", "aten::unbind", "aten::unsqueeze", "aten::view", "aten::_local_scalar_dense",
    "aten::_unsafe_view", "aten::to",  # (a conversion that copies is counted as its aten::_to_copy)
}  # fmt: skip
LAUNCHES = Counter()
MEANS_GRAD = triton_kernels._means_grad


def _launch(kernel, scratch, tiles, *args, **constants):
    LAUNCHES[kernel.__name__] += 1


def _means(sums, height, width, k, weights, out):
    LAUNCHES["_means_kernel"] += 1
    for tensor in out:
        if tensor is not None:
            tensor.numpy()[...] = 0.5  # (any finite values; no torch op)


def _means_grad(means, weights, grad, grad_products):
    if grad_products is None:  # (no kernel: the means' own gradient, as the GPU path takes it)
        return MEANS_GRAD(means, weights, grad, grad_products)
    LAUNCHES["_product_grad_kernel"] += 1
    return torch.empty_like(means)


def _pyramid(x, y, levels, out=None):
    LAUNCHES["_pyramid_kernel"] += 1
    return out


def _call(grad: bool, shape):
    """One MS-SSIM call on random ``shape`` images, and its backward if ``grad``."""
    x, y = torch.rand(shape), torch.rand(shape)

    def call():
        scores = msssim.ssim_multiscale(x.clone().requires_grad_(grad), y, 1.0, channel_axis=-3)
        if grad:
            scores.sum().backward()

    call()  # (constants made, caches warm)
    return call


def count(grad: bool, shape=(2, 3, 176, 176)) -> tuple[Counter, Counter]:
    """The kernel-launching torch operations and the Triton launches of one call."""
    call = _call(grad, shape)
    LAUNCHES.clear()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        call()
    ops = [e for e in prof.events() if e.name.startswith("aten::") and e.name not in VIEWS]
    leaves = [e for e in ops if not any(c.name.startswith("aten::") and c.name not in VIEWS for c in e.cpu_children)]
    return Counter(e.name for e in leaves), Counter(LAUNCHES)


def host_time(grad: bool, shape=(1, 1, 176, 176), calls=200, repeats=5) -> float:
    """Microseconds of the host's work a call, the median of ``repeats``
    runs of ``calls`` (one thread; a single small plane, so that torch's
    arithmetic on the CPU is a few microseconds of it): Python, dispatch and
    autograd, what a GPU's host pays before the kernels' own launch costs."""
    call = _call(grad, shape)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            call()
        times.append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(times)


def extra_mib(shape) -> float:
    """The peak memory a forward + backward allocates above what was
    allocated before (as ``bench_gpu.py`` measures it on a GPU), counted from
    torch's profiler on the CPU: each operation's own allocations at its
    start, its own frees at its end. The kernels' own scratch is a few
    programs' here, not a GPU's (about 10 MiB there), and the GPU
    allocator's rounding is left out."""
    call = _call(True, shape)
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        call()
    changes = sorted(
        (e.time_range.start if e.self_cpu_memory_usage > 0 else e.time_range.end, e.self_cpu_memory_usage)
        for e in prof.events()
        if e.self_cpu_memory_usage
    )
    held = peak = 0
    for _, change in changes:
        held += change
        peak = max(peak, held)
    return peak / 2**20


def main() -> None:
    triton_kernels._launch, triton_kernels._means, triton_kernels._pyramid = _launch, _means, _pyramid
    triton_kernels._means_grad = _means_grad
    torch.set_num_threads(1)
    for grad, label in ((False, "forward (no_grad)"), (True, "forward + backward")):
        with torch.set_grad_enabled(grad):
            ops, launches = count(grad)
            spent = host_time(grad)
        print(
            f"# {label}: {sum(ops.values())} torch operations, {sum(launches.values())} Triton launches, "
            f"{spent:.0f} us of host time"
        )
        print("#   " + ", ".join(f"{name.removeprefix('aten::')} {n}" for name, n in ops.most_common()))
        print("#   " + ", ".join(f"{name} {n}" for name, n in launches.most_common()))
    with torch.set_grad_enabled(True):
        sizes = [f"{name} {extra_mib(shape):.0f} MiB" for name, shape in WORKLOADS.items()]
    print("# extra memory of a forward + backward (allocations counted): " + ", ".join(sizes))


if __name__ == "__main__":
    main()

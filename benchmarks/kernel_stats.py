"""The GPU kernels as a GPU would run them, measured without one: each Triton
launch of the GPU path compiled for an NVIDIA architecture with Triton's
bundled ``ptxas``, its registers, spills and machine instructions per pixel
of a tile.

    python benchmarks/kernel_stats.py              # Hopper (H100/H200), 11 taps
    python benchmarks/kernel_stats.py --arch 80 --taps 7

The launches are not written out here: the host code of a forward and
backward (``triton_kernels.pyramid_means`` on CPU tensors) runs with Triton's
launcher replaced by a recorder, and each launch it asks for is compiled as
Triton's JIT would compile it, with the same constants, compiler options and
specialization of its arguments (the pointers' 16-byte alignment among them,
which lets the compiler load four floats at a time; compiled without it, as
this script did until 2026-12-03, the forward kernel had 7-9% more
instructions, and its spills went unseen).

Instructions are counted in the SASS of one iteration of the loop over
tiles (one tile), an inner loop's as many times as it runs (the gradient
kernel's column pass, once a tap), and divided by the tile's pixels over the
program's threads: what each pixel costs, not an estimate of time. The last
column is how many times Triton would compile the launch for
``bench_gpu.py``'s workloads (each compile takes seconds on a first call).
``tests/test_triton.py`` compiles every launch of :data:`CALLS` with this
script's ``compile_launch`` and requires few spill instructions (at most 5%
of a tile's) and one compile.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import tempfile
from collections import Counter
from unittest import mock

import torch
import triton
from bench_gpu import WORKLOADS
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
from triton.compiler.compiler import make_backend
from triton.runtime.jit import JITFunction, compute_cache_key, create_function_from_signature

from msssim import MSSSIM_WEIGHTS
from msssim._engines import triton_kernels
from msssim._window import exact_window

CALLS = {  # what the GPU path is asked: each call's launches (``launches``' arguments)
    "MS-SSIM, x's gradient": {"levels": 5},
    "MS-SSIM, both gradients": {"levels": 5, "y_grad": True},
    "MS-SSIM, no gradient": {"levels": 5, "grad": False},
    "SSIM, x's gradient": {"levels": 1},
    "MS-SSIM, x's gradient, an even window (its taps not symmetric)": {"levels": 5, "even": True},
}
SHAPE = (1, 2, 192, 192)  # (images big enough for 5 scales of a 12-tap window, a few tiles each)
_INNER = {  # the kernels' inner loops (runtime loops: unrolled, they spilled), and how many times each runs
    "_gradient_kernel": lambda c: c["K"],  # (the column pass, a tap at a time)
}
SMALL = ("_means_kernel", "_product_grad_kernel")  # (a few instructions a plane: compiled by the tests only)
_TOOLS = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin")


def launches(taps: int, levels: int, grad: bool = True, y_grad: bool = False, even: bool = False, shape=SHAPE):
    """The Triton launches ``(kernel, args, kwargs)`` of one call of the GPU
    path on ``shape`` images (NCHW) with a ``taps``-tap gaussian window
    (``taps + 1`` with ``even``), over ``levels`` scales with MS-SSIM's power
    factors, and of its backward with ``grad`` (x's gradient, and y's with
    ``y_grad``): recorded, not run, on CPU tensors (their allocations are
    aligned as a GPU's, which the compiler is told)."""
    recorded = []

    def record(kernel, *args, grid, warmup, **kwargs):
        recorded.append((kernel, args, kwargs))

    x = torch.rand(shape, requires_grad=grad)
    y = torch.rand(shape, requires_grad=grad and y_grad)
    weights = MSSSIM_WEIGHTS[:levels] if levels > 1 else None
    with mock.patch.object(JITFunction, "run", record), torch.set_grad_enabled(grad):
        out = triton_kernels.pyramid_means(x, y, exact_window(taps + even, 1.5), 1e-4, 9e-4, levels, weights)
        if grad:
            (out[0].sum() + out[1].sum() if weights else out.sum()).backward()
    return recorded


def _specialized(kernel, args, kwargs, backend):
    """``kernel``'s launch with ``args`` as Triton's JIT binds it for
    ``backend``: the bound arguments, their specialization and the options."""
    bind = create_function_from_signature(kernel.signature, kernel.params, backend)
    return bind(*args, **kwargs)


def constants(kernel, args, kwargs) -> dict:
    """The launch's constexpr arguments, by name."""
    bound = dict(zip(kernel.arg_names, args)) | kwargs
    return {p.name: bound[p.name] for p in kernel.params if p.is_constexpr}


def variant(kernel, args, kwargs) -> tuple:
    """What tells a launch's compiled variants apart: the kernel and its constants."""
    return kernel.__name__, tuple(sorted(constants(kernel, args, kwargs).items()))


def distinct(calls) -> list:
    """The launches of ``calls`` (``launches``' keyword arguments each), one per kernel and constants."""
    seen = {}
    for call in calls:
        for kernel, args, kwargs in launches(**call):
            seen.setdefault(variant(kernel, args, kwargs), (kernel, args, kwargs))
    return list(seen.values())


def compile_launch(kernel, args, kwargs, arch: int) -> dict:
    """A recorded launch compiled for ``sm_{arch}`` as Triton's JIT would:
    its registers, spilled bytes, SASS instructions by opcode and threads."""
    target = GPUTarget("cuda", arch, 32)
    backend = make_backend(target)
    bound, specialization, options = _specialized(kernel, args, kwargs, backend)
    options, signature, constexprs, attrs = kernel._pack_args(backend, kwargs, bound, specialization, options)
    source = ASTSource(fn=kernel, signature=signature, constexprs=constexprs, attrs=attrs)
    compiled = triton.compile(source, target, options.__dict__)
    with tempfile.TemporaryDirectory() as folder:
        ptx, cubin = os.path.join(folder, "kernel.ptx"), os.path.join(folder, "kernel.cubin")
        with open(ptx, "w") as f:
            f.write(compiled.asm["ptx"])
        name = "sm_90a" if arch == 90 else f"sm_{arch}"
        command = [os.path.join(_TOOLS, "ptxas"), "-v", "--gpu-name", name, ptx, "-o", cubin]
        report = subprocess.run(command, capture_output=True, text=True, check=True).stderr
        sass = subprocess.run(
            [os.path.join(_TOOLS, "cuobjdump"), "-sass", cubin], capture_output=True, text=True, check=True
        ).stdout
    code = []  # (address, opcode, a branch's target)
    instruction = r"^\s+/\*([0-9a-f]+)\*/\s+(?:@!?U?P\w+\s+)?([A-Z][A-Z0-9_]*)\S*\s*([^;]*);"
    for at, opcode, operands in re.findall(instruction, sass, re.M):
        target = re.search(r"0x([0-9a-f]+)\s*$", operands) if opcode == "BRA" else None
        code.append((int(at, 16), opcode, target and int(target.group(1), 16)))
    loops = sorted((target, at) for at, opcode, target in code if target is not None and target < at)  # (backwards)
    times = _INNER.get(kernel.__name__, lambda _: 1)(constants(kernel, args, kwargs))
    opcodes = Counter()
    for at, opcode, _ in code:  # (the first loop is over the tiles: one tile's instructions, inner loops ``times``)
        opcodes[opcode] += times if any(start <= at <= end for start, end in loops[1:]) else 1
    if len(loops) > 1 + (kernel.__name__ in _INNER):
        raise RuntimeError(f"{kernel.__name__}: loops {loops} where {1 + (kernel.__name__ in _INNER)} were expected")
    return {
        "registers": int(re.search(r"Used (\d+) registers", report).group(1)),
        "spills": sum(int(n) for n in re.findall(r"(\d+) bytes spill", report)),
        "opcodes": opcodes,
        "threads": 32 * compiled.metadata.num_warps,
    }


def compiles(taps: int, workloads=WORKLOADS) -> Counter:
    """How many times Triton would compile each launch (kernel and
    constants) of an MS-SSIM forward + backward for ``workloads``: the
    distinct keys of its arguments (their types, and the integers'
    divisibility unless left out)."""
    backend = make_backend(GPUTarget("cuda", 90, 32))
    keys: dict[tuple, set] = {}
    for shape in workloads.values():
        for kernel, args, kwargs in launches(taps, 5, shape=shape):
            _, specialization, options = _specialized(kernel, args, kwargs, backend)
            keys.setdefault(variant(kernel, args, kwargs), set()).add(compute_cache_key({}, specialization, options))
    return Counter({what: len(found) for what, found in keys.items()})


def label(kernel, values: dict) -> str:
    """The kernel's name and what its constants say of the launch."""
    parts = [f"{values['K']} taps"] if "K" in values else []
    parts += [f"{values['LEVELS']} scale{'s' if values['LEVELS'] > 1 else ''}"] if "LEVELS" in values else []
    if "MOMENTS" in values:
        parts.append("moments kept" if values["MOMENTS"] else "no gradient")
        parts += [] if values.get("SYMMETRIC", True) else ["taps not symmetric"]
    if "FIRST" in values:
        first, count = values["FIRST"], values["COUNT"]
        parts.append(f"scale{'s' if count > 1 else ''} {first}{f'-{first + count - 1}' if count > 1 else ''}")
    if "Y_GRAD" in values:
        parts.append("both gradients" if values["Y_GRAD"] else "x only")
    return f"{kernel.__name__} ({', '.join(parts)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", type=int, default=90, help="compute capability x10: 80 A100, 89 RTX 4090, 90 H100")
    parser.add_argument("--taps", type=int, default=11)
    args = parser.parse_args()
    bh, bw = triton_kernels.TILE
    print(f"# sm_{args.arch}, {args.taps} taps, tiles of {bh}x{bw} pixels")
    print(
        "| kernel | registers | spilled bytes | SASS per pixel | float | loads | stores "
        "| compiles for bench_gpu's 4 workloads |"
    )
    print("|---|---|---|---|---|---|---|---|")
    counts = compiles(args.taps)
    for kernel, call_args, kwargs in distinct({"taps": args.taps} | call for call in CALLS.values()):
        if kernel.__name__ in SMALL:
            continue
        stats = compile_launch(kernel, call_args, kwargs, args.arch)
        # (step 5's program takes a square of the first scale: per pixel of that scale)
        square = triton_kernels._SQUARE**2 if kernel is triton_kernels._pyramid_kernel else bh * bw
        per_pixel = stats["threads"] / square
        ops = stats["opcodes"]
        fp = sum(n for op, n in ops.items() if op in ("FFMA", "FADD", "FMUL", "MUFU", "FSEL", "FSETP"))
        values = constants(kernel, call_args, kwargs)
        count = counts.get(variant(kernel, call_args, kwargs), "-")
        print(
            f"| {label(kernel, values)} | {stats['registers']} | {stats['spills']} "
            f"| {sum(ops.values()) * per_pixel:.0f} "
            f"| {fp * per_pixel:.0f} | {ops['LDG'] * per_pixel:.0f} | {ops['STG'] * per_pixel:.1f} | {count} |"
        )


if __name__ == "__main__":
    main()

"""The GPU kernels as a GPU would run them, measured without one: each Triton
kernel compiled for an NVIDIA architecture with Triton's bundled ``ptxas``, its
registers, spills and machine instructions per pixel of a tile.

    python benchmarks/kernel_stats.py              # Hopper (H100/H200), 11 taps
    python benchmarks/kernel_stats.py --arch 80 --taps 7

Instructions are counted in the SASS of one loop iteration (one tile) and
divided by the tile's pixels over the program's threads; the kernels are
unrolled, so the count is what each pixel costs, not an estimate of time,
except the gradient kernel's column pass, a loop (counted once; it runs
once a tap: 4 loads and 4 multiply-adds a pixel each time). The
last column is how many times Triton would compile the launch for
``bench_gpu.py``'s workloads (each compile takes seconds on a first call). The
forward kernel is measured without and with the moments kept for a
backward, and the gradient kernel as launched for the first scale (most of
the pixels; it adds the coarser scales' there) and for the four coarser
scales of MS-SSIM together.
``tests/test_triton.py`` compiles every kernel with this script's
``compile_kernel`` and requires no spills and one compile.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import tempfile
from collections import Counter

import torch
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

from msssim._engines import triton_kernels

KERNELS = (  # each kernel with the constants of its launches (after the window's and the tile's)
    (triton_kernels._forward_kernel, {"LEVELS": 5, "MOMENTS": False}),
    (triton_kernels._forward_kernel, {"LEVELS": 5, "MOMENTS": True}),  # (with a gradient to come)
    (triton_kernels._maps_kernel, {"LEVELS": 5, "Y_GRAD": False}),
    (triton_kernels._gradient_kernel, {"LEVELS": 5, "FIRST": 0, "COUNT": 1, "Y_GRAD": False}),
    (triton_kernels._gradient_kernel, {"LEVELS": 5, "FIRST": 1, "COUNT": 4, "Y_GRAD": False}),
    (triton_kernels._gradient_kernel, {"LEVELS": 5, "FIRST": 0, "COUNT": 1, "Y_GRAD": True}),
    (triton_kernels._gradient_kernel, {"LEVELS": 5, "FIRST": 1, "COUNT": 4, "Y_GRAD": True}),
    (triton_kernels._pyramid_kernel, {"LEVELS": 5, "BASE": triton_kernels._SQUARE}),
    # (the last two compiled for the tests: a few instructions a tile, or a plane)
    (triton_kernels._means_kernel, {"LEVELS": 5, "SPAN": 8, "BLOCK": 64, "PRODUCT": True}),
    (triton_kernels._product_grad_kernel, {"LEVELS": 5, "SPAN": 8, "MEANS_GRAD": True}),
)
SMALL = (triton_kernels._means_kernel, triton_kernels._product_grad_kernel)
_FLOATS = ("gain", "total", "c1", "c2", "scale")
_FLOAT64 = ("products_ptr", "g_products_ptr")  # (step 6's products, and their gradient)
_TOOLS = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin")


def _constants(kernel, constants: dict, taps: int) -> dict:
    """The constexpr arguments of ``kernel``: the window's, the tile's, and ``constants``."""
    bh, bw = triton_kernels.TILE
    chunk = triton_kernels._CHUNK
    values = {"K": taps, "BH": bh, "BW": bw, "CH": chunk, "ROWS": triton.cdiv(bh + taps - 1, chunk) * chunk}
    return {name: value for name, value in {**values, **constants}.items() if name in kernel.arg_names}


def compile_kernel(kernel, constants: dict, arch: int, taps: int) -> dict:
    """``kernel`` with ``constants`` compiled for ``sm_{arch}`` with a
    ``taps``-tap window: its registers, spilled bytes, and SASS instructions
    by opcode."""
    values = _constants(kernel, constants, taps)
    signature = {
        name: "constexpr" if name in values else "*fp64" if name in _FLOAT64 else "*fp32" if name.endswith("_ptr") else
        "fp32" if name in _FLOATS else "i32"
        for name in kernel.arg_names
    }  # fmt: skip
    source = ASTSource(fn=kernel, signature=signature, constexprs=values)
    compiled = triton.compile(source, GPUTarget("cuda", arch, 32), triton_kernels._options())
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
    opcodes = re.findall(r"^\s+/\*[0-9a-f]+\*/\s+(?:@!?U?P\w+\s+)?([A-Z][A-Z0-9_]*)", sass, re.M)
    return {
        "registers": int(re.search(r"Used (\d+) registers", report).group(1)),
        "spills": sum(int(n) for n in re.findall(r"(\d+) bytes spill", report)),
        "opcodes": Counter(opcodes),
        "threads": 32 * compiled.metadata.num_warps,
    }


class _Pointer:
    dtype = torch.float32

    def data_ptr(self) -> int:
        return 1024


def variants(kernel, constants: dict, shapes, taps: int) -> int:
    """How many times Triton would compile ``kernel``'s launch with
    ``constants`` for ``[planes, height, width]`` images: the distinct keys
    of its arguments (their types, and the integers' divisibility unless
    left out)."""
    from triton.compiler.compiler import make_backend
    from triton.runtime.jit import compute_cache_key, create_function_from_signature

    bind = create_function_from_signature(kernel.signature, kernel.params, make_backend(GPUTarget("cuda", 90, 32)))
    values = _constants(kernel, constants, taps)
    keys = set()
    for planes, height, width in shapes:
        sizes = triton_kernels._sizes(height, width, 5)
        tiles = triton_kernels._tiles(sizes, taps - 1)
        numbers = {"H": height, "W": width, "planes": planes, "tiles": planes * tiles, "slots": tiles}
        numbers.update({"block": sum(h * w for h, w in sizes[1:]), "tiles_w": 8, "tiles_per_plane": 64})
        args = [
            _Pointer() if name.endswith("_ptr") else numbers[name] if name in numbers else 0.5
            for name in kernel.arg_names
            if name not in values
        ]
        _, specialization, options = bind(*args, **values)
        keys.add(compute_cache_key({}, specialization, options))
    return len(keys)


WORKLOADS = ((48, 512, 512), (3, 1080, 1920), (1, 2160, 3840), (192, 256, 256))  # bench_gpu.py's, as planes


def label(kernel, constants: dict) -> str:
    """The kernel's name, and which scales its launch takes where it takes
    some, or whether it keeps the moments."""
    if "MOMENTS" in constants:
        return f"{kernel.__name__} ({'moments kept' if constants['MOMENTS'] else 'no gradient'})"
    if "FIRST" not in constants:
        return kernel.__name__
    first, count = constants["FIRST"], constants["COUNT"]
    scales = f"scale{'s' if count > 1 else ''} {first}{f'-{first + count - 1}' if count > 1 else ''}"
    return f"{kernel.__name__} ({scales}, {'both gradients' if constants['Y_GRAD'] else 'x only'})"


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
    for kernel, constants in KERNELS:
        if kernel in SMALL:
            continue
        stats = compile_kernel(kernel, constants, args.arch, args.taps)
        # (step 5's program takes a square of the first scale: per pixel of that scale)
        square = triton_kernels._SQUARE**2 if kernel is triton_kernels._pyramid_kernel else bh * bw
        per_pixel = stats["threads"] / square
        ops = stats["opcodes"]
        fp = sum(n for op, n in ops.items() if op in ("FFMA", "FADD", "FMUL", "MUFU", "FSEL", "FSETP"))
        print(
            f"| {label(kernel, constants)} | {stats['registers']} | {stats['spills']} "
            f"| {sum(ops.values()) * per_pixel:.0f} "
            f"| {fp * per_pixel:.0f} | {ops['LDG'] * per_pixel:.0f} | {ops['STG'] * per_pixel:.1f} "
            f"| {variants(kernel, constants, WORKLOADS, args.taps)} |"
        )


if __name__ == "__main__":
    main()

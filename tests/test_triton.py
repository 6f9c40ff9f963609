"""The fused Triton kernels of the GPU path (``msssim._engines.triton_kernels``),
run by Triton's interpreter on CPU tensors: values against the float64 oracle,
gradients against float64 autograd, through the whole pyramid.

Triton reads ``TRITON_INTERPRET`` when it compiles a kernel, so each check runs
in a fresh Python process with it set; under it, CPU tensors take the GPU path
(``torch_engine._fused``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent


def _python(code: str, interpret: bool = True) -> str:
    """Run ``code`` with the interpreter on (or off) and ``tests`` importable; its stdout."""
    env = dict(os.environ, TRITON_INTERPRET="1" if interpret else "0", PYTHONPATH=str(ROOT))
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout


def test_two_scales_values_and_gradients_against_float64():
    out = _python(
        """
        import numpy as np, torch
        import oracle
        from photos import jpeg, photo
        from msssim._engines import triton_kernels
        from msssim._window import exact_window
        from msssim._conventions import float32_taps

        image = photo("astronaut")[100:133, 200:245]  # odd sizes, a real photo
        large = photo("coffee")[150:247, 200:331]  # 97x131: 3x4 tiles of output, 4x5 of pixels
        bright = 204 + 51 * np.random.default_rng(3).random((45, 52, 3))  # (a bright, low-contrast picture
        nearly = bright + 0.0255 * np.random.default_rng(4).standard_normal(bright.shape)  # and it 1e-4 off)
        cases = {
            "jpeg q5": (image, jpeg(image, 5)),
            "flat": (image, np.full_like(image, 128)),
            "large jpeg q5": (large, jpeg(large, 5)),
            "nearly identical": (bright, nearly),  # (the gradients were 1e-3 off: terms of a pixel's size cancelled)
        }
        windows = (exact_window(11, 1.5), np.outer(float32_taps(7, 1.0), float32_taps(7, 1.0)))
        for name, (image, other) in cases.items():
            # (an even size's taps are not symmetric: the forward kernel's other variant, for one pair)
            for window in windows + ((exact_window(8, 1.2),) if name == "jpeg q5" else ()):
                a = np.stack([image, image[::-1]]).astype(np.float32) / 255  # a batch of 2
                b = np.stack([other, other]).astype(np.float32) / 255
                y_grad = len(window) == 11  # (y's gradient for one window, x's alone for the other)
                x = torch.tensor(np.moveaxis(a, -1, -3), requires_grad=True)
                y = torch.tensor(np.moveaxis(b, -1, -3), requires_grad=y_grad)
                means = triton_kernels.pyramid_means(x, y, window, 1e-4, 9e-4, 2)  # [2, 3, 2 scales, 3]
                weights = torch.tensor([[1.0, 0.3, 0.2], [0.5, -0.7, 0.4]])  # (the second scale's reach both)
                (means * weights).sum().backward()
                # float64, the window as it is (taps that do not sum to 1 included)
                xd, yd = (torch.tensor(v.astype(np.float64), requires_grad=True) for v in (a, b))
                taps = np.sqrt(np.diag(window))
                want, xs, ys = [], xd, yd
                for level in range(2):
                    if level:
                        xs, ys = oracle._downsample(xs), oracle._downsample(ys)
                    luminance, cs = oracle._scale(xs, ys, list(taps), 1e-4, 9e-4)
                    terms = (luminance * cs).mean((-3, -2)), cs.mean((-3, -2)), luminance.mean((-3, -2))
                    want.append(torch.stack(terms, -1))
                want = torch.stack(want, -2)
                (want * weights.double()).sum().backward()
                value = np.abs(means.detach().numpy() - want.detach().numpy()).max()
                grads = []
                for ours, theirs in ((x.grad, xd.grad), (y.grad, yd.grad))[: 1 + y_grad]:
                    ours = np.moveaxis(ours.numpy(), -3, -1)
                    grads.append(np.abs(ours - theirs.numpy()).max() / max(np.abs(theirs.numpy()).max(), 1e-30))
                print(name, len(window), y.grad is None, value, max(grads))
        """
    )
    lines = out.splitlines()
    assert len(lines) == 9, out  # four pairs, two windows, and the even window: none left out
    for line in lines:
        taps, no_y_grad, value, grad = line.split()[-4:]
        assert no_y_grad == str(taps != "11"), line  # (x's gradient alone: the kernels' other variant)
        assert float(value) <= 1e-6, line
        assert float(grad) <= 1e-4, line


def test_step_6_in_the_kernels_against_float64():
    """Each plane's product of its terms to their powers, made by the means
    kernel, and its gradient (``_product_grad_kernel``) together with the
    means' own: against float64 autograd over three scales, with a zero power
    factor (a factor of 1) and inverted images (negative cs, clamped to 0 by
    the relu: a product of 0 and a gradient of 0, finite, where TF's is NaN)."""
    out = _python(
        """
        import numpy as np, torch
        import oracle
        from photos import jpeg, photo
        from msssim._engines import triton_kernels
        from msssim._window import exact_window

        image = photo("coffee")[150:247, 200:331]  # 97x131, three scales of 11 taps
        cases = {"jpeg q5": jpeg(image, 5), "inverted": 255 - image}
        window = exact_window(11, 1.5)
        for name, other in cases.items():
            for power in ((0.3, 0.3, 0.4), (0.5, 0.0, 0.5)):
                a = np.stack([image, image[::-1]]).astype(np.float32) / 255  # a batch of 2
                b = np.stack([other, other]).astype(np.float32) / 255
                x, y = (torch.tensor(np.moveaxis(v, -1, -3), requires_grad=True) for v in (a, b))
                means, products = triton_kernels.pyramid_means(x, y, window, 1e-4, 9e-4, 3, power)
                weights = torch.linspace(-1, 1, 27).reshape(3, 3, 3) * 1e-2  # the means' own gradient too
                (products * torch.tensor([1.0, 2.0, 3.0])).sum().add((means * weights).sum()).backward()
                xd, yd = (torch.tensor(v.astype(np.float64), requires_grad=True) for v in (a, b))
                want, xs, ys = [], xd, yd
                for level in range(3):
                    if level:
                        xs, ys = oracle._downsample(xs), oracle._downsample(ys)
                    luminance, cs = oracle._scale(xs, ys, list(np.sqrt(np.diag(window))), 1e-4, 9e-4)
                    terms = (luminance * cs).mean((-3, -2)), cs.mean((-3, -2)), luminance.mean((-3, -2))
                    want.append(torch.stack(terms, -1))
                want = torch.stack(want, -2)  # [2, C, 3 scales, 3]
                terms = torch.cat([want[..., :2, 1], want[..., 2:, 0]], -1)
                factors = [oracle._relu_power(terms[..., i], w) if w else 1.0 for i, w in enumerate(power)]
                product = factors[0] * factors[1] * factors[2]
                (product * torch.tensor([1.0, 2.0, 3.0])).sum().add((want * weights.double()).sum()).backward()
                value = np.abs(products.detach().numpy() - product.detach().numpy()).max()
                grads = []
                for ours, theirs in ((x.grad, xd.grad), (y.grad, yd.grad)):
                    ours = np.moveaxis(ours.numpy(), -3, -1)
                    assert np.isfinite(ours).all()
                    grads.append(np.abs(ours - theirs.numpy()).max() / max(np.abs(theirs.numpy()).max(), 1e-30))
                print(name, power[1], float(products.min()), value, max(grads))
        """
    )
    lines = out.splitlines()
    assert len(lines) == 4, out
    for line in lines:
        name, lowest, value, grad = line.rsplit(" ", 3)
        assert float(value) <= 1e-6, line
        assert float(grad) <= 1e-4, line
        if name.startswith("inverted"):
            assert float(lowest) == 0.0, line  # (a clamped term: the case is what it says)


def test_the_moments_kept_for_the_backward_serve_a_second_one_and_only_a_graph():
    """The forward keeps each output pixel's moments only when a graph is
    made (not under ``no_grad``, nor for inputs that need no gradient), and
    the backward turns them into its maps in place: a second backward
    (``retain_graph``) makes them again and gives the same gradients, and a
    graph of the gradient (for a second derivative) is refused with an
    error rather than left without the kernels' part."""
    out = _python(
        """
        import numpy as np, torch
        from msssim._engines import triton_kernels
        from msssim._window import exact_window

        kept = []
        launch = triton_kernels._moments_launch
        def spy(*args):
            kept.append(args[6].numel())  # (the maps: empty where no moments are kept)
            return launch(*args)
        triton_kernels._moments_launch = spy
        rng = np.random.default_rng(4)
        x = torch.tensor(rng.random((2, 40, 44), dtype=np.float32), requires_grad=True)
        y = torch.tensor(rng.random((2, 40, 44), dtype=np.float32), requires_grad=True)
        window = exact_window(7, 1.0)
        with torch.no_grad():
            triton_kernels.pyramid_means(x, y, window, 1e-4, 9e-4, 2, (0.6, 0.4))
        triton_kernels.pyramid_means(x.detach(), y.detach(), window, 1e-4, 9e-4, 2)
        means, products = triton_kernels.pyramid_means(x, y, window, 1e-4, 9e-4, 2, (0.6, 0.4))
        loss = products.sum() + means.sum()
        first = torch.autograd.grad(loss, (x, y), retain_graph=True)
        second = torch.autograd.grad(loss, (x, y), retain_graph=True)
        print(kept[:3] == [0, 0, 2 * triton_kernels._maps_size(40, 44, 2, 7)], len(kept))
        print(all(torch.equal(a, b) for a, b in zip(first, second)), float(first[0].abs().max()) > 0)
        try:
            gx, = torch.autograd.grad(loss, x, create_graph=True)
            gx.sum().backward()
        except RuntimeError as error:
            print("refused", "first derivatives only" in str(error))
        """
    )
    kept, same, refused = out.splitlines()
    assert kept == "True 4", out  # three forwards, and the second backward's moments again
    assert same == "True True", out
    assert refused == "refused True", out


def test_the_step_5_kernel_makes_every_scale_as_torch_engine_does():
    """One launch makes all coarser scales, of ``u = x + y`` and of ``-v = y -
    x`` (each pixel's sum and difference first: x - y of nearly equal images
    keeps its own precision): odd sizes at several scales (the last row or
    column repeated), several 64-pixel squares per plane, and bit for bit
    what the torch engine's pad-then-average of ``x + y`` and ``y - x`` gives
    (the same four additions in the same order)."""
    out = _python(
        """
        import numpy as np, torch
        from msssim._engines import torch_engine, triton_kernels

        rng = np.random.default_rng(5)
        x, y = (torch.tensor(rng.random((3, 203, 150), dtype=np.float32)) for _ in range(2))
        px, py = triton_kernels._pyramid(x, y, 6)  # [3, block]: each plane's 5 coarser scales in turn
        want_x, want_y, same, start = x + y, y - x, [], 0
        for h, w in triton_kernels._sizes(203, 150, 6)[1:]:
            want_x, want_y = torch_engine.downsample_2x(want_x, 2), torch_engine.downsample_2x(want_y, 2)
            a, b = (p[:, start : start + h * w].reshape(3, h, w) for p in (px, py))
            same.append(tuple(a.shape) == tuple(want_x.shape) and torch.equal(a, want_x) and torch.equal(b, want_y))
            start += h * w
        print(len(same), tuple(want_x.shape), start == px.shape[1], all(same))
        """
    )
    assert out.split() == ["5", "(3,", "7,", "5)", "True", "True"], out


def test_the_maps_of_planes_past_2_31_elements_are_addressed_in_64_bits():
    """The kernels' offsets into the maps (or moments) of large planes: two
    24000x24000 planes' maps take 2 x 3.07e9 elements, past int32, which the
    interpreter's integers wrap as a GPU's do. A probe kernel asks ``_scale``
    and ``_map_size`` where each scale's first tile of the second plane puts
    its maps, as the forward, maps and gradient kernels do, and the answer is
    the host's layout (``_maps_size``). Planes whose pixels, all the scales'
    together, reach 2**31 (the kernels number them in 32 bits) are left to
    torch's operations: checked on a broadcast view, which takes no memory."""
    out = _python(
        """
        import numpy as np, torch, triton
        import triton.language as tl
        from msssim._engines import torch_engine, triton_kernels as tk
        from msssim._window import exact_window

        @triton.jit
        def probe(out_ptr, tile, H, W, planes, K: tl.constexpr, BH: tl.constexpr, BW: tl.constexpr,
                  LEVELS: tl.constexpr):
            level, plane, _, _, _, h, w, _, _, maps_at, maps_block = tk._scale(
                tile, H, W, planes, K, BH, BW, LEVELS, 0, LEVELS, K - 1)
            size = tk._map_size(h, w, K)
            first = plane * maps_block + maps_at
            tl.store(out_ptr, level.to(tl.int64))
            tl.store(out_ptr + 1, first.to(tl.int64))
            tl.store(out_ptr + 2, (first + 3 * size).to(tl.int64))  # (the scale's fourth map)

        H = W = 24000
        k, levels = 11, 5
        sizes = tk._sizes(H, W, levels)
        right, tile, before = [], 0, 0  # (tiles and maps of the scales before)
        for level, (h, w) in enumerate(sizes):
            tiles = tk._tiles([(h, w)], k - 1)
            out = torch.zeros(3, dtype=torch.int64)
            probe[(1,)](out, tile + tiles, H, W, 2, K=k, BH=tk.TILE[0], BW=tk.TILE[1], LEVELS=levels)
            first = tk._maps_size(H, W, levels, k) + before  # (the second plane's)
            size = (h - k + 1) * w + k - 1
            right.append(out.tolist() == [level, first, first + 3 * size])
            tile, before = tile + 2 * tiles, before + 4 * size
        print(tk._maps_size(H, W, levels, k) > 2**31, all(right), len(right))

        window = exact_window(11, 1.5)
        big = torch.zeros(1, 1, 1, 1).expand(1, 1, 40153, 40153)
        print(tk.takes(window, 40152, 40152, 5), tk.takes(window, 40153, 40153, 5), tk.takes(window, 46340, 46340, 1))
        print(torch_engine.pyramid_statistics(big, big, window, 1e-4, 9e-4, 5))
        """
    )
    offsets, takes, big = out.splitlines()
    assert offsets == "True True 5", out
    assert takes == "True False True", out
    assert big == "None", out


def test_ms_ssim_through_the_torch_engine_against_float64():
    out = _python(
        """
        import numpy as np, torch
        import msssim, oracle
        from photos import blur, photo

        image = photo("coffee")[:45, :61]
        a = image.astype(np.float32) / 255
        b = blur(image, 1.0).astype(np.float32) / 255
        weights = (0.5, 0.3, 0.2)
        for convention in ("tensorflow", "pytorch-msssim"):
            x = torch.tensor(np.moveaxis(a, -1, 0)[None], requires_grad=True)  # [1, 3, H, W]
            y = torch.tensor(np.moveaxis(b, -1, 0)[None])
            score = msssim.ssim_multiscale(x, y, 1.0, weights, 7, 1.0, channel_axis=-3, convention=convention)
            score.sum().backward()
            print(convention, float(score.detach()[0]), x.grad.abs().max().item())
        # the oracle, TF's convention, and its float64 gradient
        xd = torch.tensor(a.astype(np.float64), requires_grad=True)
        want = oracle.ssim_multiscale(xd, torch.tensor(b.astype(np.float64)), 1.0, weights, 7, 1.0)
        want.backward()
        ours = torch.tensor(np.moveaxis(a, -1, 0)[None], requires_grad=True)
        msssim.ssim_multiscale(ours, y, 1.0, weights, 7, 1.0, channel_axis=-3).sum().backward()
        grad = np.moveaxis(ours.grad[0].numpy(), 0, -1)
        print("oracle", float(want), np.abs(grad - xd.grad.numpy()).max() / np.abs(xd.grad.numpy()).max())
        print("numpy", float(msssim.ssim_multiscale(a, b, 1.0, weights, 7, 1.0)))
        theirs = msssim.ssim_multiscale(a, b, 1.0, weights, 7, 1.0, convention="pytorch-msssim")
        print("numpy-pytorch-msssim", float(theirs))
        # single-scale SSIM of a batch against one image (broadcast), on the same kernels
        batch = torch.tensor(np.stack([a, b]))  # [2, H, W, 3]
        ssim = msssim.ssim(batch, torch.tensor(b), 1.0)
        print("ssim", *ssim.tolist())
        print("ssim-oracle", oracle.ssim(a, b, 1.0), oracle.ssim(b, b, 1.0))
        """
    )
    values = {line.split()[0]: line.split()[1:] for line in out.splitlines()}
    assert abs(float(values["tensorflow"][0]) - float(values["oracle"][0])) <= 1e-6, out
    assert abs(float(values["tensorflow"][0]) - float(values["numpy"][0])) <= 1e-6, out
    assert abs(float(values["pytorch-msssim"][0]) - float(values["numpy-pytorch-msssim"][0])) <= 1e-6, out
    assert float(values["oracle"][1]) <= 1e-4, out
    for ours, want in zip(values["ssim"], values["ssim-oracle"]):
        assert abs(float(ours) - float(want)) <= 1e-6, out


def test_the_kernels_compile_for_gpus_keeping_their_values_in_registers():
    """The interpreter accepts code the GPU compiler may not: every launch
    that the GPU path makes (``benchmarks/kernel_stats.py`` records them from
    the host code: MS-SSIM with x's gradient, both, none; SSIM; an even
    window) is compiled here for NVIDIA GPUs (Ampere, Ada, Hopper) as
    Triton's JIT compiles it, with Triton's bundled ``ptxas``, no GPU needed.
    Each must keep its values in registers but for a few spill loads and
    stores a tile (at most 5% of its instructions: the gaussian windows'
    forward kernel on Ada and Hopper 7-10 of about 2200, an even window's
    75-91 of 2750; until 2026-12-03 this test compiled the kernels without
    the pointers' alignment that a launch gives them, and the forward's
    spills, 96 bytes stored and loaded then, went unseen; the register
    blow-ups it is for ran to kilobytes), and compile once for images of any
    size."""
    out = _python(
        f"""
        import sys
        sys.path.insert(0, {str(ROOT.parent / "benchmarks")!r})
        from kernel_stats import CALLS, compile_launch, compiles, constants, distinct

        for arch, taps in ((80, 7), (89, 11), (90, 11)):
            for kernel, args, kwargs in distinct({{"taps": taps}} | call for call in CALLS.values()):
                stats = compile_launch(kernel, args, kwargs, arch)
                ops = stats["opcodes"]
                print(arch, kernel.__name__, sum(ops.values()), ops["LDL"] + ops["STL"], stats["spills"])
        for (name, _), count in compiles(11).items():
            print("compiles", name, count)
        """,
        interpret=False,
    )
    lines = out.splitlines()
    launches = [line for line in lines if not line.startswith("compiles")]
    assert len(launches) >= 3 * 16, out  # every launch of the calls, on each GPU (16 on sm_90 with 11 taps)
    for name in ("_pyramid_kernel", "_forward_kernel", "_means_kernel", "_product_grad_kernel", "_maps_kernel",
                 "_gradient_kernel"):  # fmt: skip
        assert sum(line.split()[1] == name for line in launches) >= 3, (name, out)
    for line in launches:
        arch, name, instructions, spill_ops, spilled = line.split()
        assert int(instructions) > 0 and int(spill_ops) <= 0.05 * int(instructions), line
    counts = [line for line in lines if line.startswith("compiles")]
    assert len(counts) == 7, out  # (an MS-SSIM forward + backward's launches)
    for line in counts:  # one compile for every workload (it was 7 for the forward's scales once)
        assert line.split()[-1] == "1", line


def test_cupy_arrays_reach_the_kernels_through_dlpack():
    """The CuPy engine's way onto the kernels (DLPack), with NumPy standing in
    for CuPy (a module named ``cupy`` whose arrays are NumPy's): ``[..., H, W,
    C]`` float64 arrays, broadcast, two scales, against the oracle."""
    out = _python(
        """
        import sys, types
        import numpy as np
        stand_in = types.ModuleType("cupy")
        stand_in.ndarray, stand_in.from_dlpack = np.ndarray, np.from_dlpack
        sys.modules["cupy"] = stand_in
        import oracle
        from photos import jpeg, photo
        from msssim._engines import cupy_engine, triton_kernels
        from msssim._window import exact_window

        cupy_engine._kernels = lambda: triton_kernels  # (its own asks torch for a GPU)
        window = exact_window(11, 1.5)
        image = photo("chelsea")[:41, :37]
        a = np.stack([image, jpeg(image, 5)]).astype(np.float64) / 255  # [2, H, W, 3]
        b = (jpeg(image, 10).astype(np.float64) / 255)  # [H, W, 3], broadcast
        stats = cupy_engine.pyramid_statistics(a, b, window, 1e-4, 9e-4, 2)  # each [2, 2 scales, 3]
        xs, ys, errors = a, b, []
        for level in range(2):
            if level:
                xs, ys = oracle._downsample(xs), oracle._downsample(ys)
            luminance, cs = oracle._scale(xs, ys, list(np.sqrt(np.diag(window))), 1e-4, 9e-4)
            want = (luminance * cs).mean((-3, -2)), cs.mean((-3, -2)), luminance.mean((-3, -2))
            errors += [np.abs(ours[..., level, :] - term).max() for ours, term in zip(stats[:3], want)]
        single = cupy_engine.scale_statistics(a, b, window, 1e-4, 9e-4)  # one scale: [2, 3]
        errors += [np.abs(ours - term[..., 0, :]).max() for ours, term in zip(single[:3], stats[:3])]
        # steps 4-6 at once: each channel's product of its terms to their powers, [2, 3]
        products, fused = cupy_engine.pyramid_statistics(a, b, window, 1e-4, 9e-4, 2, (0.6, 0.4))
        product = np.maximum(stats.cs[..., 0, :], 0) ** 0.6 * np.maximum(stats.ssim[..., 1, :], 0) ** 0.4
        errors += [np.abs(products - product).max()]
        errors += [np.abs(ours - theirs).max() for ours, theirs in zip(fused[:3], stats[:3])]
        print(type(stats.cs).__name__, stats.cs.shape, single.cs.shape, products.shape, max(errors))
        """
    )
    kind, *shape, error = out.replace("(", "").replace(")", "").replace(",", "").split()
    assert kind == "ndarray" and shape == ["2", "2", "3", "2", "3", "2", "3"], out
    assert float(error) <= 1e-6, out


def test_the_cupy_engine_end_to_end_with_numpy_standing_in():
    """``msssim.ssim_multiscale`` of CuPy arrays, with a NumPy subclass that
    says it is CuPy's standing in (the CuPy engine and the float64 engine's
    code run on it as they run on CuPy): on the kernels (the images converted
    to float32 only, and handed over through DLPack) and on the float64 code
    where there are none, float32 and uint8 images, a broadcast batch,
    against the NumPy engine, and TF-CPU's digits (the host's engine) exactly;
    the result is the stand-in's type and the inputs are left as they were."""
    out = _python(
        """
        import sys, types
        import numpy as np

        class Device:
            id = 0
            def __init__(self, *args): pass
            def __enter__(self): return self
            def __exit__(self, *args): return False
            def __eq__(self, other): return isinstance(other, Device)
            def __hash__(self): return 0

        class ndarray(np.ndarray):
            device = property(lambda self: Device())

        ndarray.__module__ = "cupy"
        def shared(name):  # (what CuPy shares with NumPy, its arrays the stand-in's)
            found = getattr(np, name)
            if not callable(found) or isinstance(found, type):
                return found
            return lambda *args, **kwargs: (lambda r: r.view(ndarray) if type(r) is np.ndarray else r)(
                found(*args, **kwargs)
            )

        stand_in = types.ModuleType("cupy")
        stand_in.__getattr__ = shared
        stand_in.ndarray, stand_in.cuda = ndarray, types.SimpleNamespace(Device=Device)
        stand_in.asarray = lambda a, dtype=None: np.asarray(a, dtype).view(ndarray)
        stand_in.from_dlpack = lambda t: np.from_dlpack(t).view(ndarray)
        stand_in.asnumpy = lambda a: np.asarray(a).view(np.ndarray)
        sys.modules["cupy"] = stand_in

        import msssim
        from photos import jpeg, photo
        from msssim._engines import cupy_engine, triton_kernels

        calls, handed = [], triton_kernels.channels_last_means
        triton_kernels.channels_last_means = lambda x, *args: calls.append(x.dtype) or handed(x, *args)
        image = photo("coffee")[100:161, 200:257]
        batch = np.stack([image, jpeg(image, 5)])  # uint8 [2, H, W, 3]
        other = jpeg(image, 20)
        weights = (0.5, 0.3, 0.2)
        pairs = {"uint8": (batch, other), "float32": (batch / np.float32(255), other / np.float32(255))}
        for path, kernels in (("kernels", lambda: triton_kernels), ("float64", lambda: None)):
            cupy_engine._kernels = kernels
            for kind, (a, b) in pairs.items():
                top = 255 if kind == "uint8" else 1.0
                x, y = stand_in.asarray(a), stand_in.asarray(b)
                kept = x.copy(), y.copy()
                ours = msssim.ssim_multiscale(x, y, top, weights, 7, 1.0)
                want = msssim.ssim_multiscale(a, b, top, weights, 7, 1.0)
                untouched = all(np.array_equal(v, w) for v, w in zip((x, y), kept))
                error = np.abs(np.asarray(ours) - want).max()
                print(path, kind, type(ours).__name__, untouched, " ".join(map(str, calls)) or "-", error)
                calls.clear()
        # TF-CPU's digits: the host's Numba engine, given the converted images
        x, y = stand_in.asarray(batch), stand_in.asarray(other)
        ours = msssim.ssim_multiscale(x, y, 255, weights, 7, 1.0, numerics="tensorflow-cpu")
        want = msssim.ssim_multiscale(batch, other, 255, weights, 7, 1.0, numerics="tensorflow-cpu")
        print("tensorflow-cpu", type(ours).__name__, np.abs(np.asarray(ours) - want).max())
        """
    )
    *lines, digits = out.splitlines()
    assert digits == "tensorflow-cpu ndarray 0.0", out
    assert len(lines) == 4, out
    for line in lines:
        path, kind, name, untouched, kernels, error = line.split()
        assert name == "ndarray" and untouched == "True", line
        assert kernels == ("float32" if path == "kernels" else "-"), line  # (TF's float32 images, no float64 copy)
        assert float(error) <= 1e-6, line


def test_jax_reaches_the_kernels_through_xla_buffers():
    """JAX's way onto the kernels (``buffer_callback``: XLA's buffers through
    DLPack), under ``jit``, ``value_and_grad`` and ``vmap``: MS-SSIM of a
    broadcast batch, its gradients with respect to x alone and to both, and
    single-scale SSIM, against the float64 oracle and its autograd; and the
    kernels, not XLA's operations, made them (y's gradient left out where y
    is not differentiated); a second derivative refused, saying why; where
    XLA's buffers cannot reach torch, a warning and XLA's own operations' value."""
    out = _python(
        """
        import numpy as np, jax, jax.numpy as jnp, torch
        import msssim, oracle
        from photos import jpeg, photo
        from msssim._engines import triton_kernels

        calls = []
        for name in ("forward", "backward"):
            def spy(*args, _name=name, _real=getattr(triton_kernels, name)):
                calls.append((_name, args[-1] is None if _name == "backward" else None))
                return _real(*args)
            setattr(triton_kernels, name, spy)

        image = photo("chelsea")[60:105, 100:161]
        a = np.stack([image, image[::-1]]).astype(np.float32) / 255  # [2, H, W, 3]
        b = jpeg(image, 5).astype(np.float32) / 255  # [H, W, 3], broadcast
        weights = (0.5, 0.3, 0.2)
        score = lambda x, y: msssim.ssim_multiscale(x, y, 1.0, weights, 7, 1.0).sum()
        value, gx = jax.jit(jax.value_and_grad(score))(jnp.asarray(a), jnp.asarray(b))
        gx2, gy = jax.jit(jax.grad(score, argnums=(0, 1)))(jnp.asarray(a), jnp.asarray(b))
        each = jax.jit(jax.vmap(lambda x: jax.grad(score)(x, jnp.asarray(b))))(jnp.asarray(a[:, None]))
        ssim = lambda x, y: msssim.ssim(x, y, 1.0, 7, 1.0).sum()
        s_value, s_gx = jax.value_and_grad(ssim)(jnp.asarray(a), jnp.asarray(b))

        xd, yd = (torch.tensor(v.astype(np.float64), requires_grad=True) for v in (a, b))
        want = oracle.ssim_multiscale(xd, yd, 1.0, weights, 7, 1.0).sum()
        want.backward()
        xs, ys = (torch.tensor(v.astype(np.float64), requires_grad=True) for v in (a, b))
        s_want = sum(oracle.ssim(xs[i], ys, 1.0, 7, 1.0) for i in range(2))
        s_want.backward()
        relative = lambda ours, theirs: np.abs(np.asarray(ours) - theirs.numpy()).max() / np.abs(theirs.numpy()).max()
        print("values", abs(float(value) - float(want)), abs(float(s_value) - float(s_want)))
        print("gradients", relative(gx, xd.grad), relative(gx2, xd.grad), relative(gy, yd.grad),
              relative(each[:, 0], xd.grad), relative(s_gx, xs.grad))
        print("calls", " ".join(f"{name}:{no_y}" for name, no_y in calls))
        try:  # a second derivative: the kernels give first derivatives only, and say so
            jax.grad(lambda x: jax.grad(score)(x, jnp.asarray(b)).sum())(jnp.asarray(a))
        except RuntimeError as error:
            print("second", "first derivatives only" in str(error))
        # where XLA's buffers cannot reach torch: a warning, and XLA's own operations' value
        import warnings
        from msssim._engines import jax_engine

        def unreachable(ctx, out, x):
            raise RuntimeError("no DLPack here")

        jax_engine._handed_over.cache_clear()
        jax_engine._add_one = unreachable
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fallback = jax.jit(score)(jnp.asarray(a), jnp.asarray(b))
        warned = [str(w.message) for w in caught if "could not hand JAX's GPU buffers" in str(w.message)]
        print("fallback", len(warned), "no DLPack here" in warned[0], abs(float(fallback) - float(want)), len(calls))
        """
    )
    values = {line.split()[0]: line.split()[1:] for line in out.splitlines()}
    assert all(float(v) <= 1e-6 for v in values["values"]), out
    assert all(float(g) <= 1e-4 for g in values["gradients"]), out
    # one trace each: jit(value_and_grad), jit(grad of both), vmap'd grad, then SSIM's value_and_grad
    no_y_grad = ("True", "False", "True", "True")  # (y's gradient wanted only in the second)
    assert values["calls"] == [call for flag in no_y_grad for call in ("forward:None", f"backward:{flag}")], out
    assert values["second"] == ["True"], out
    warnings, named, error, calls = values["fallback"]
    assert (warnings, named, calls) == ("1", "True", "8") and float(error) <= 1e-6, out  # (no kernel call more)


def test_a_call_under_inference_mode_leaves_nothing_that_breaks_training_later():
    """The taps and exponents the GPU path keeps on the device (copied there
    once) are made outside inference mode even when the first call is inside it."""
    out = _python(
        """
        import numpy as np, torch
        import msssim

        rng = np.random.default_rng(5)
        x = torch.from_numpy(rng.random((1, 2, 45, 47), dtype=np.float32))
        y = (x + 0.2 * torch.from_numpy(rng.random((1, 2, 45, 47), dtype=np.float32))).clamp(0, 1)
        with torch.inference_mode():
            scored = msssim.ssim_multiscale(x, y, 1.0, (0.6, 0.4), 7, channel_axis=-3)
        p = x.clone().requires_grad_(True)
        loss = msssim.ssim_multiscale(p, y, 1.0, (0.6, 0.4), 7, channel_axis=-3)
        loss.sum().backward()
        print(torch.equal(loss.detach(), scored), bool(torch.isfinite(p.grad).all()), float(p.grad.abs().max()))
        """
    )
    same, finite, largest = out.split()
    assert same == "True" and finite == "True" and float(largest) > 0, out


def test_torch_compile_leaves_the_kernels_to_run_eagerly():
    """A compiled loss on the kernels' path: TorchDynamo does not trace into
    the kernels' host code (its syncs, NumPy and launches), which runs as it
    does eagerly, so the value and gradient are eager's bit for bit. (Traced,
    it failed under the interpreter on Triton's own pointer arithmetic.)"""
    out = _python(
        """
        import torch, msssim
        from msssim._engines import triton_kernels

        calls = []
        forward = triton_kernels.forward
        triton_kernels.forward = lambda *args: calls.append(1) or forward(*args)
        gen = torch.Generator().manual_seed(2)
        x = torch.rand(2, 3, 45, 50, generator=gen, requires_grad=True)
        y = torch.rand(2, 3, 45, 50, generator=gen)

        def loss(a, b):
            return 1 - msssim.ssim_multiscale(a, b, 1.0, (0.5, 0.5), 7, channel_axis=-3).mean()

        eager = loss(x, y)
        eager.backward()
        want, x.grad = x.grad, None
        compiled = torch.compile(loss)(x, y)
        compiled.backward()
        print(len(calls), torch.equal(compiled, eager), torch.equal(x.grad, want))
        """
    )
    assert out.split() == ["2", "True", "True"], out


def test_nan_and_inf_pixels_on_the_gpu_path_are_named_not_scored():
    """torch's GPU path looks for bad pixels only once the score is not
    finite: a NaN or Inf must reach the score or a term, through the kernels,
    the clamps and a zero power factor, and be named."""
    out = _python(
        """
        import numpy as np, torch
        import msssim

        rng = np.random.default_rng(2)
        x = torch.from_numpy(rng.random((2, 3, 45, 47), dtype=np.float32))
        for value, weights in ((np.nan, (0.6, 0.4)), (np.inf, (0.0, 0.0)), (-np.inf, (0.5, 0.5))):
            y = x.clone()
            y[1, 2, 30, 4] = value
            try:
                msssim.ssim_multiscale(x.requires_grad_(True), y, 1.0, weights, 7, channel_axis=-3)
            except ValueError as error:
                print(str(error).split(";")[0])
            else:
                print("scored")
        """
    )
    lines = out.splitlines()
    assert len(lines) == 3, out
    for line in lines:
        assert "img2 has 1 NaN or infinite pixel value(s), the first at index (1, 2, 30, 4)" in line, out


def test_a_gpu_the_kernels_do_not_compile_for_falls_back_to_torch_with_a_warning():
    out = _python(
        """
        import warnings
        import numpy as np, torch
        import msssim, oracle
        from triton.runtime.errors import OutOfResources
        from msssim._engines import triton_kernels

        def refuse(*args, **kwargs):
            raise OutOfResources(262144, 232448, "shared memory")

        triton_kernels._launch = refuse
        rng = np.random.default_rng(3)
        a = rng.random((45, 47, 2), dtype=np.float32)
        b = np.clip(a + 0.1 * rng.standard_normal(a.shape, dtype=np.float32), 0, 1)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            first = msssim.ssim_multiscale(torch.tensor(a), torch.tensor(b), 1.0, (0.6, 0.4), 7)
            second = msssim.ssim_multiscale(torch.tensor(a), torch.tensor(b), 1.0, (0.6, 0.4), 7)
        print(len(caught), str(caught[0].message).split(";")[0])
        print(triton_kernels.compiled())  # CuPy's engine asks this too
        want = oracle.ssim_multiscale(a.astype(np.float64), b.astype(np.float64), 1.0, (0.6, 0.4), 7)
        print(abs(float(first) - float(want)), abs(float(second) - float(want)))
        """
    )
    warned, compiled, values = out.splitlines()
    assert warned.startswith("1 msssim's Triton kernels did not compile for this GPU (OutOfResources"), out
    assert compiled == "False", out
    assert all(float(v) <= 1e-6 for v in values.split()), out

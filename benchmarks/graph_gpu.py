"""What a CUDA graph per repeated shape would gain: msssim's torch call captured
whole and replayed, against the same call eager and pytorch-msssim.

    python benchmarks/graph_gpu.py        # on a CUDA machine, about a minute

Issue #13 asks for 7x pytorch-msssim; the GPU's own time is within it, and
the host's Python and launches (about 0.4 ms a forward) are not
(``host_split_gpu.py``). A graph replays every launch of a call at once. This
measures the most it could give before it is built into msssim: for each of
``bench_gpu.py``'s workloads (medians of ``--repeat``, each call waited for),
the forward under ``no_grad`` and the forward + backward, eager and replayed.
A replay here does what msssim would have to: copy the inputs into the
graph's own buffers, replay, and read the score's finiteness (the check that
cannot be captured, as it waits for the GPU; it is answered True while
capturing). The replayed scores and gradients must equal the eager ones (the
same kernels on the same inputs), or the row says by how much they differ.
A measurement, not a mode: msssim does not replay graphs (yet).
"""

from __future__ import annotations

import argparse
import math
from contextlib import contextmanager

import torch
from bench_gpu import WORKLOADS, median_ms, pair

import msssim
from msssim._engines import torch_engine


@contextmanager
def _unchecked():
    """The finite check answers True without reading the GPU (a read cannot be captured)."""
    checked = torch_engine.all_finite
    torch_engine.all_finite = lambda *arrays: True
    try:
        yield
    finally:
        torch_engine.all_finite = checked


def _scores(x, y, weights):
    return msssim.ssim_multiscale(x, y, 1.0, weights, channel_axis=-3)


def _captured(call):
    """``call()`` warmed up on a side stream (compilation, cached constants,
    the allocator), then captured; returns the graph and the captured outputs."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side), _unchecked():
        for _ in range(3):
            call()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph), _unchecked():
        out = call()
    return graph, out


def forward_graph(x, y, weights):
    """A replayable no-grad forward: ``run(a, b)`` copies ``a``, ``b`` in,
    replays, checks the scores are finite, and returns them (the graph's buffer)."""
    sx, sy = x.clone(), y.clone()
    with torch.no_grad():
        graph, out = _captured(lambda: _scores(sx, sy, weights))

    def run(a, b):
        sx.copy_(a)
        sy.copy_(b)
        graph.replay()
        assert math.isfinite(out.sum().item())
        return out

    return run


def backward_graph(x, y, weights):
    """A replayable forward + backward of the summed scores with respect to
    the first image: ``run(a, b)`` returns the scores and the gradient."""
    sx, sy = x.clone().requires_grad_(True), y.clone()

    def step():
        sx.grad = None
        scores = _scores(sx, sy, weights)
        scores.sum().backward()
        return scores, sx.grad

    graph, (out, grad) = _captured(step)

    def run(a, b):
        with torch.no_grad():
            sx.copy_(a)
            sy.copy_(b)
        graph.replay()
        assert math.isfinite(out.sum().item())
        return out, grad

    return run


def eager_backward(x, y, weights):
    p = x.clone().requires_grad_(True)
    scores = _scores(p, y, weights)
    scores.sum().backward()
    return scores, p.grad


def theirs(x, y, grad: bool):
    import pytorch_msssim

    p = x.clone().requires_grad_(grad)
    scores = pytorch_msssim.ms_ssim(p, y, data_range=1.0, size_average=False)
    if grad:
        scores.sum().backward()
    return scores


def _row(label, shape, weights, repeat, device) -> str:
    x, y = pair(shape, device)
    return (
        "| "
        + " | ".join(
            [label, *_cells(x, y, weights, False, repeat, device), *_cells(x, y, weights, True, repeat, device)]
        )
        + " |"
    )


def _cells(x, y, weights, grad: bool, repeat: int, device) -> list[str]:
    """Eager, replayed and pytorch-msssim times, the ratios, and whether the replay gives the eager values."""
    if grad:
        eager = lambda: eager_backward(x, y, weights)  # noqa: E731
        replay = backward_graph(x, y, weights)
    else:
        eager = lambda: torch.no_grad()(_scores)(x, y, weights)  # noqa: E731
        replay = forward_graph(x, y, weights)
    want = [t.detach() for t in eager()] if grad else [eager()]
    got = list(replay(x, y)) if grad else [replay(x, y)]
    differ = max(float((g - w).abs().max()) for g, w in zip(got, want))
    ours, graphed = median_ms(eager, device, repeat), median_ms(lambda: replay(x, y), device, repeat)
    try:
        other = median_ms(lambda: theirs(x, y, grad), device, repeat)
    except ImportError:
        other = float("nan")
    same = "equal" if differ == 0 else f"differ by {differ:.1e}"
    return [f"{ours:.2f}", f"{graphed:.2f}", f"{other:.2f}", f"{other / ours:.1f}x / {other / graphed:.1f}x", same]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("graph_gpu.py needs a CUDA GPU (CUDA graphs have no CPU form)")
    device = torch.device("cuda")
    print(f"# {torch.cuda.get_device_name()}, torch {torch.__version__}, medians of {args.repeat}")
    print(
        "| NCHW | no-grad eager | replayed | pytorch-msssim fwd | ratio eager / replayed | replayed = eager "
        "| fwd+bwd eager | replayed | pytorch-msssim fwd+bwd | ratio eager / replayed | replayed = eager |"
    )
    print("|" + "---|" * 11)
    for label, shape in WORKLOADS.items():
        try:
            print(_row(label, shape, msssim.MSSSIM_WEIGHTS, args.repeat, device), flush=True)
        except Exception as error:  # (one workload's failure, reported; the others still run)
            print(f"| {label} | failed: {type(error).__name__}: {str(error)[:300]} |", flush=True)


if __name__ == "__main__":
    main()

"""How far msssim is from TensorFlow, and why: the parity figures the READMEs quote.

    python benchmarks/parity.py

Prints, against live ``tensorflow-cpu`` on this machine:

1. the 210-case test sweep (``tests/cases.py``): the largest score and index-map
   differences from TF for each engine, and for the default engine with an
   exactly rounded window instead of TF's softmax-made one;
2. the bundled sample pair: each engine, and the exact value (TF's window and
   filter in float64), against TF;
3. noisy photo-like 1080p RGB and 4K grey pairs, per engine;
4. TF against itself: eager against ``tf.function``, every third sweep case;
5. the window's vector width: scores of the golden cases with oneDNN's 8-float
   window against the 16-float one this CPU gets (on an AVX-512 CPU).

Sections 1, 2 and 5 swap a piece of the algorithm (the window, the filter) to
measure its share; the library itself is never changed.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS))

import cases  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import msssim  # noqa: E402
from msssim import _ssim, _window  # noqa: E402
from msssim._engines import reference  # noqa: E402

ENGINES = ("numba", "separable")


def _rounded_window(size: int, sigma: float) -> np.ndarray:
    """The exact normalised gaussian, rounded once to float32."""
    coords = np.arange(size) - (size - 1) / 2
    g = np.exp(-0.5 * coords**2 / sigma**2)
    return (np.outer(g, g) / np.outer(g, g).sum()).astype(np.float32)


def _filter_float64(x, window):
    """TF's window applied in float64, rounded once: the exact value."""
    k = window.shape[0]
    height, width = x.shape[-3] - k + 1, x.shape[-2] - k + 1
    wide, kernel = x.astype(np.float64), window.astype(np.float64)
    total = sum(kernel[i, j] * wide[..., i : i + height, j : j + width, :] for i in range(k) for j in range(k))
    return total.astype(np.float32)


def _differences(recipe, got, want) -> tuple[float, float]:
    """(score difference, largest per-pixel difference of an index map)."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if recipe["function"] == "ssim_map":
        return float(np.abs(got.mean(axis=(-2, -1)) - want.mean(axis=(-2, -1))).max()), float(np.abs(got - want).max())
    return float(np.abs(got - want).max()), 0.0


def sweep() -> None:
    worst = {name: [0.0, 0.0] for name in (*ENGINES, "numba, exactly rounded window")}
    for seed in range(210):
        recipe = cases.draw(seed)
        img1, img2 = cases.build(recipe)
        want = cases.run_tensorflow(tf, recipe, img1, img2)
        results = {engine: cases.run_msssim(recipe, img1, img2, engine=engine) for engine in ENGINES}
        _ssim.gaussian_window = _rounded_window
        try:
            results["numba, exactly rounded window"] = cases.run_msssim(recipe, img1, img2)
        finally:
            _ssim.gaussian_window = _window.gaussian_window
        for name, got in results.items():
            score, pixel = _differences(recipe, got, want)
            worst[name] = [max(worst[name][0], score), max(worst[name][1], pixel)]
    print("## 1. The 210-case sweep: largest difference from TF")
    print("| engine | scores (and map means) | index-map pixels |\n|---|---|---|")
    for name, (score, pixel) in worst.items():
        print(f"| {name} | {score:.2g} | {pixel:.2g} |")


def sample() -> None:
    root = Path(__file__).resolve().parent.parent / "examples"
    ref, dist = msssim.read_image(root / "reference.png"), msssim.read_image(root / "distorted.png")
    print("\n## 2. The bundled sample pair: difference from TF")
    print("| computation | MS-SSIM | SSIM |\n|---|---|---|")
    want = {name: getattr(tf.image, name)(ref, dist, 255).numpy() for name in ("ssim_multiscale", "ssim")}

    def row(label, **options):
        got = {name: getattr(msssim, name)(ref, dist, 255, **options) for name in want}
        print(f"| {label} | " + " | ".join(f"{float(got[n]) - float(want[n]):.2g}" for n in want) + " |")

    for engine in ENGINES:
        row(engine, engine=engine)
    reference.filter_valid, exact_order = _filter_float64, reference.filter_valid
    try:
        row("exact value (float64 filter)", engine="reference")
    finally:
        reference.filter_valid = exact_order


def _photo_like_pair(shape, seed):
    """A smooth field (bilinear upsampling of coarse noise) with 1% noise, and
    a copy with another 1%: textured everywhere, no flat areas."""
    rng = np.random.default_rng(seed)
    height, width, channels = shape
    coarse = rng.random((height // 64 + 2, width // 64 + 2, channels)).astype(np.float32)
    rows = np.linspace(0, coarse.shape[0] - 1.001, height)
    cols = np.linspace(0, coarse.shape[1] - 1.001, width)
    r0, c0 = rows.astype(int), cols.astype(int)
    fr, fc = (rows - r0)[:, None, None], (cols - c0)[None, :, None]
    img = (
        coarse[r0][:, c0] * (1 - fr) * (1 - fc)
        + coarse[r0 + 1][:, c0] * fr * (1 - fc)
        + coarse[r0][:, c0 + 1] * (1 - fr) * fc
        + coarse[r0 + 1][:, c0 + 1] * fr * fc
    )
    a = np.clip(img + 0.01 * rng.standard_normal(img.shape), 0, 1).astype(np.float32)
    b = np.clip(a + 0.01 * rng.standard_normal(a.shape), 0, 1).astype(np.float32)
    return a, b


def photo_like() -> None:
    print("\n## 3. Noisy photo-like pairs: difference from TF")
    print("| pair | function | " + " | ".join(ENGINES) + " |\n|---|---|" + "---|" * len(ENGINES))
    for shape, seed in (((1080, 1920, 3), 1), ((2160, 3840, 1), 2), ((1080, 1920, 3), 3)):
        a, b = _photo_like_pair(shape, seed)
        for name in ("ssim_multiscale", "ssim"):
            want = float(getattr(tf.image, name)(a, b, 1.0))
            diffs = " | ".join(f"{abs(float(getattr(msssim, name)(a, b, 1.0, engine=e)) - want):.2g}" for e in ENGINES)
            print(f"| {'x'.join(map(str, shape))} seed {seed} | {name} | {diffs} |")


def tf_against_itself() -> None:
    worst = 0.0
    for seed in range(0, 210, 3):
        recipe = cases.draw(seed)
        if recipe["function"] != "ssim_multiscale":
            continue
        img1, img2 = cases.build(recipe)
        arguments = cases.arguments(recipe)
        eager = cases.run_tensorflow(tf, recipe, img1, img2)
        graph = tf.function(lambda a, b, kw=arguments: tf.image.ssim_multiscale(a, b, **kw))
        worst = max(worst, float(np.abs(graph(tf.constant(img1), tf.constant(img2)).numpy() - eager).max()))
    print(f"\n## 4. TF eager against tf.function, every third MS-SSIM case of the sweep: {worst:.2g}")


def vector_width() -> None:
    golden = json.loads((TESTS / "golden_tf.json").read_text())["cases"]
    worst = 0.0
    for entry in golden:
        recipe = entry["recipe"]
        img1, img2 = cases.build(recipe)
        wide = cases.run_msssim(recipe, img1, img2)
        _ssim.gaussian_window = lambda size, sigma: _window.gaussian_window(size, sigma, width=8)
        try:
            narrow = cases.run_msssim(recipe, img1, img2)
        finally:
            _ssim.gaussian_window = _window.gaussian_window
        worst = max(worst, _differences(recipe, narrow, wide)[0])
    print(f"\n## 5. Golden cases, 8-float window against this CPU's ({_window.vector_width()}-float): {worst:.2g}")


if __name__ == "__main__":
    print(f"# tensorflow {tf.__version__}, msssim {msssim.__version__}")
    sweep()
    sample()
    photo_like()
    tf_against_itself()
    vector_width()

"""TF's MS-SSIM formula (docs numerics.md, steps 1-7) in float64: the oracle of
``numerics="exact"``. Plain on purpose, and independent of msssim's code.

Takes NumPy arrays ``[..., H, W, C]`` of any int/float dtype (returns float64
NumPy), or torch float64 tensors (returns tensors, so torch autograd gives
reference gradients).
"""

from __future__ import annotations

import numpy as np

MSSSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def _float64(x):
    """Step 2: integers divided by their dtype's max, floats as they are."""
    if hasattr(x, "requires_grad"):  # a torch tensor: floats only
        return x.double()
    x = np.asarray(x)
    if x.dtype.kind in "iu":
        return x.astype(np.float64) / np.iinfo(x.dtype).max
    return x.astype(np.float64)


def _inputs(img1, img2, max_val):
    """Both images in float64, and max_val cast to img1's dtype, then converted alike."""
    dtype = img1.dtype if isinstance(img1, np.ndarray) else np.float64
    return _float64(img1), _float64(img2), float(_float64(np.asarray(max_val).astype(dtype)))


def _window(size, sigma):
    """Step 3: the normalised 1-D gaussian; its outer product is TF's 2-D window."""
    coords = np.arange(size) - (size - 1) / 2
    g = np.exp(-(coords**2) / (2 * sigma**2))
    return (g / g.sum()).tolist()


def _filter(x, g):
    """A VALID 2-D correlation with outer(g, g): a pass along H, then along W."""
    n = len(g)
    h = x.shape[-3] - n + 1
    x = sum(g[i] * x[..., i : i + h, :, :] for i in range(n))
    w = x.shape[-2] - n + 1
    return sum(g[i] * x[..., :, i : i + w, :] for i in range(n))


def _scale(x, y, g, c1, c2):
    """Step 4: the luminance and cs maps of one scale."""
    mx, my = _filter(x, g), _filter(y, g)
    luminance = (2 * mx * my + c1) / (mx * mx + my * my + c1)
    cs = (2 * (_filter(x * y, g) - mx * my) + c2) / (_filter(x * x + y * y, g) - mx * mx - my * my + c2)
    return luminance, cs


def _cat(a, b, axis):
    if isinstance(a, np.ndarray):
        return np.concatenate([a, b], axis=axis)
    import torch

    return torch.cat([a, b], dim=axis)


def _downsample(x):
    """Step 5: odd sizes get their last row/column repeated, then 2x2 averages."""
    if x.shape[-3] % 2:
        x = _cat(x, x[..., -1:, :, :], -3)
    if x.shape[-2] % 2:
        x = _cat(x, x[..., :, -1:, :], -2)
    return (x[..., 0::2, 0::2, :] + x[..., 1::2, 0::2, :] + x[..., 0::2, 1::2, :] + x[..., 1::2, 1::2, :]) / 4


def _relu_power(t, w):
    """relu(t) ** w, with gradient 0 (not 0 * inf) where t <= 0."""
    positive = t > 0
    return (t * positive + ~positive) ** w * positive


def ssim_multiscale(
    img1, img2, max_val, power_factors=MSSSIM_WEIGHTS, filter_size=11, filter_sigma=1.5, k1=0.01, k2=0.03
):
    x, y, max_val = _inputs(img1, img2, max_val)
    g, c1, c2 = _window(filter_size, filter_sigma), (k1 * max_val) ** 2, (k2 * max_val) ** 2
    score = 1.0
    for level, w in enumerate(power_factors):
        if level:
            x, y = _downsample(x), _downsample(y)
        luminance, cs = _scale(x, y, g, c1, c2)
        last = level == len(power_factors) - 1
        term = (luminance * cs if last else cs).mean((-3, -2))  # Step 6: relu'd cs, and ssim last
        score = score * _relu_power(term, w)
    return score.mean(-1)


def ssim(img1, img2, max_val, filter_size=11, filter_sigma=1.5, k1=0.01, k2=0.03, return_index_map=False):
    """Step 7: one scale, no relu; the map (or its H, W mean) averaged over channels."""
    x, y, max_val = _inputs(img1, img2, max_val)
    luminance, cs = _scale(x, y, _window(filter_size, filter_sigma), (k1 * max_val) ** 2, (k2 * max_val) ** 2)
    index_map = luminance * cs
    return index_map.mean(-1) if return_index_map else index_map.mean((-3, -2)).mean(-1)

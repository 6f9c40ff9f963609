"""TF's MS-SSIM formula (docs numerics.md, steps 1-7) in float64: the oracle of
``numerics="exact"``. Plain on purpose, and independent of msssim's code.

Takes NumPy arrays ``[..., H, W, C]`` of any int/float dtype (returns float64
NumPy), or torch float64 tensors (returns tensors, so torch autograd gives
reference gradients). With ``spatial_dims=3``, volumes ``[..., D, H, W, C]``:
the same steps with a third axis filtered, padded and averaged alike.
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


def _axes(x, dims):
    """The spatial axes of ``[..., *spatial, C]``, as negative indices."""
    return range(-dims - 1, -1)


def _take(x, axis, part):
    index = [slice(None)] * x.ndim
    index[axis] = part
    return x[tuple(index)]


def _filter(x, g, dims=2):
    """A VALID correlation with outer(g, g) (outer(g, g, g) for volumes): a
    pass along each spatial axis."""
    n = len(g)
    for axis in _axes(x, dims):
        out = x.shape[axis] - n + 1
        x = sum(g[i] * _take(x, axis, slice(i, i + out)) for i in range(n))
    return x


def _scale(x, y, g, c1, c2, dims=2):
    """Step 4: the luminance and cs maps of one scale."""
    mx, my = _filter(x, g, dims), _filter(y, g, dims)
    luminance = (2 * mx * my + c1) / (mx * mx + my * my + c1)
    sq, xy = _filter(x * x + y * y, g, dims), _filter(x * y, g, dims)
    cs = (2 * (xy - mx * my) + c2) / (sq - mx * mx - my * my + c2)
    return luminance, cs


def _cat(a, b, axis):
    if isinstance(a, np.ndarray):
        return np.concatenate([a, b], axis=axis)
    import torch

    return torch.cat([a, b], dim=axis)


def _downsample(x, dims=2):
    """Step 5: odd sizes get their last row/column (slice) repeated, then
    2x2 (2x2x2) averages: the mean of the 2**dims corners of each block."""
    for axis in _axes(x, dims):
        if x.shape[axis] % 2:
            x = _cat(x, _take(x, axis, slice(-1, None)), axis)
    corners = [x]
    for axis in _axes(x, dims):
        corners = [_take(c, axis, slice(start, None, 2)) for c in corners for start in (0, 1)]
    return sum(corners) / len(corners)


def _relu_power(t, w):
    """relu(t) ** w, with gradient 0 (not 0 * inf) where t <= 0."""
    positive = t > 0
    return (t * positive + ~positive) ** w * positive


def ssim_multiscale(
    img1,
    img2,
    max_val,
    power_factors=MSSSIM_WEIGHTS,
    filter_size=11,
    filter_sigma=1.5,
    k1=0.01,
    k2=0.03,
    spatial_dims=2,
):
    x, y, max_val = _inputs(img1, img2, max_val)
    g, c1, c2 = _window(filter_size, filter_sigma), (k1 * max_val) ** 2, (k2 * max_val) ** 2
    axes = tuple(_axes(x, spatial_dims))
    score = 1.0
    for level, w in enumerate(power_factors):
        if level:
            x, y = _downsample(x, spatial_dims), _downsample(y, spatial_dims)
        luminance, cs = _scale(x, y, g, c1, c2, spatial_dims)
        last = level == len(power_factors) - 1
        term = (luminance * cs if last else cs).mean(axes)  # Step 6: relu'd cs, and ssim last
        score = score * _relu_power(term, w)
    return score.mean(-1)


def ssim(
    img1,
    img2,
    max_val,
    filter_size=11,
    filter_sigma=1.5,
    k1=0.01,
    k2=0.03,
    return_index_map=False,
    spatial_dims=2,
):
    """Step 7: one scale, no relu; the map (or its spatial mean) averaged over channels."""
    x, y, max_val = _inputs(img1, img2, max_val)
    g, c1, c2 = _window(filter_size, filter_sigma), (k1 * max_val) ** 2, (k2 * max_val) ** 2
    luminance, cs = _scale(x, y, g, c1, c2, spatial_dims)
    index_map = luminance * cs
    return index_map.mean(-1) if return_index_map else index_map.mean(tuple(_axes(x, spatial_dims))).mean(-1)

"""Dask arrays: each block of images is scored by the NumPy engines, lazily.

The image axes (H, W, C) must each be one chunk; the batch axes may be chunked
freely. The result is a Dask array of the batch shape (or of the index maps),
computed when the caller computes it; checks that need the pixels (NaN, Inf)
run then, per block.
"""

from __future__ import annotations

from functools import partial

import numpy as np


def is_dask(arr) -> bool:
    """Without importing Dask: is ``arr`` a Dask array?"""
    return type(arr).__module__.split(".")[0] == "dask" and hasattr(arr, "chunks")


def score(function, img1, img2, max_val, levels: int, *args, channel_axis: int = -1, index_map=False, **kwargs):
    """``function`` (ssim_multiscale or ssim) over the blocks of two Dask arrays;
    ``args`` and ``kwargs`` are its parameters after ``max_val``."""
    import dask.array as da

    from msssim import _validate
    from msssim._engines._numpy_ops import stand_in

    x, y = da.asarray(img1), da.asarray(img2)
    # Everything that needs no pixels is checked now, the pixels when computed.
    _validate.images(stand_in(x.shape, x.dtype), stand_in(y.shape, y.dtype), channel_axis)
    x, y = da.moveaxis(x, channel_axis, -1), da.moveaxis(y, channel_axis, -1)
    filter_size = kwargs.get("filter_size", 11)
    _validate.parameters(
        max_val, filter_size, kwargs.get("filter_sigma", 1.5), kwargs.get("k1", 0.01), kwargs.get("k2", 0.03)
    )
    max_val = _validate.scalar(max_val, "max_val")  # a plain number in the graph, not a tensor
    _validate.size(x.shape, filter_size, levels)
    for arr, name in ((x, "img1"), (y, "img2")):
        if any(len(c) > 1 for c in arr.chunks[-3:]):
            msg = (
                f"{name} is chunked across its image axes (H, W, C chunks {arr.chunks[-3:]}); each image must be "
                f"one chunk. Rechunk it, e.g. {name}.rechunk({{-3: -1, -2: -1, -1: -1}}) for channels last, and "
                "chunk along the batch axes instead."
            )
            raise ValueError(msg)
    batch = np.broadcast_shapes(x.shape[:-3], y.shape[:-3])
    x = da.broadcast_to(x, batch + x.shape[-3:])
    y = da.broadcast_to(y, batch + y.shape[-3:]).rechunk(x.chunks)
    block = partial(_block, function, max_val, args, kwargs, index_map)
    if index_map:
        chunks = x.chunks[:-3] + ((x.shape[-3] - filter_size + 1,), (x.shape[-2] - filter_size + 1,))
        return da.map_blocks(block, x, y, chunks=chunks, drop_axis=x.ndim - 1, dtype=np.float32)
    return da.map_blocks(block, x, y, drop_axis=[x.ndim - 3, x.ndim - 2, x.ndim - 1], dtype=np.float32)


def _block(function, max_val, args, kwargs, index_map, a, b):
    extra = {"return_index_map": True} if index_map else {}
    return function(a, b, max_val, *args, **kwargs, **extra)

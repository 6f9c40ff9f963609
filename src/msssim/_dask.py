"""Dask arrays: each block of images is scored by the NumPy engines, lazily.

The image axes (H, W, C; D, H, W, C for volumes) must each be one chunk; the
batch axes may be chunked freely. The result is a Dask array of the batch shape (or of the index maps),
computed when the caller computes it; checks that need the pixels (NaN, Inf)
run then, per block.
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np

from msssim import _validate
from msssim._engines._numpy_ops import first_nonfinite


def is_dask(arr) -> bool:
    """Without importing Dask: is ``arr`` a Dask array?"""
    return type(arr).__module__.split(".")[0] == "dask" and hasattr(arr, "chunks")


def score(function, img1, img2, max_val, levels: int, *args, channel_axis: int = -1, index_map=False, **kwargs):
    """``function`` (ssim_multiscale or ssim) over the blocks of two Dask arrays;
    ``args`` and ``kwargs`` are its parameters after ``max_val``."""
    import dask.array as da

    from msssim import _conventions
    from msssim._engines import get_engine
    from msssim._engines._numpy_ops import stand_in

    # (another library's array, one chunk: Dask's automatic chunks would split its image axes)
    x, y = (a if is_dask(a) else da.from_array(np.asarray(a), chunks=-1) for a in (img1, img2))
    for arr, name in ((x, "img1"), (y, "img2")):
        if any(math.isnan(n) for n in arr.shape):
            msg = (
                f"{name} has chunks of unknown size (shape {arr.shape}, as after boolean indexing); call "
                f"{name}.compute_chunk_sizes() first"
            )
            raise ValueError(msg)
    dims = _validate.spatial_dims(kwargs.get("spatial_dims", 2))
    rank = dims + 1  # the axes of one image
    # Everything that needs no pixels is checked now, the pixels when computed.
    _validate.images(stand_in(x.shape, x.dtype), stand_in(y.shape, y.dtype), channel_axis, dims)
    for arr, name in ((x, "img1"), (y, "img2")):
        axes = _image_axes(arr.ndim, channel_axis, rank)
        if any(len(arr.chunks[a]) > 1 for a in axes):
            names = _validate.SPATIAL_NAMES[dims].split(", ")
            names.insert(axes.index(channel_axis % arr.ndim), "C")
            whole = ", ".join(f"{a - arr.ndim}: -1" for a in axes)
            msg = (
                f"{name} is chunked across its image axes ({', '.join(names)} chunks "
                f"{tuple(arr.chunks[a] for a in axes)}); each image must be one chunk. Rechunk it, e.g. "
                f"{name}.rechunk({{{whole}}}), and chunk along the batch axes instead."
            )
            raise ValueError(msg)
    given = (x.shape, y.shape, channel_axis)
    x, y = da.moveaxis(x, channel_axis, -1), da.moveaxis(y, channel_axis, -1)
    filter_size = kwargs.get("filter_size", 11)
    conv = _conventions.convention(kwargs.get("convention", "tensorflow"), kwargs.get("numerics", "exact"))
    extent, _ = _conventions.data_range(conv, max_val)
    if extent is None:
        msg = (
            "max_val=None (torchmetrics' data_range=None) is the range of the whole batch at each scale, and Dask "
            "scores block by block: pass the range, or a (min, max) pair"
        )
        raise ValueError(msg)
    _validate.parameters(
        extent, filter_size, kwargs.get("filter_sigma", 1.5), kwargs.get("k1", 0.01), kwargs.get("k2", 0.03)
    )
    number = extent is max_val  # (not torchmetrics' None or (min, max))
    if number:
        max_val = _validate.scalar(max_val, "max_val")  # a plain number in the graph, not a tensor
    _validate.size(x.shape, filter_size, levels, dims)
    batch = np.broadcast_shapes(x.shape[:-rank], y.shape[:-rank])
    x = da.broadcast_to(x, batch + x.shape[-rank:])
    y = da.broadcast_to(y, batch + y.shape[-rank:]).rechunk(x.chunks)
    # What the engines check, checked now, not on a worker when computed
    get_engine(kwargs.get("engine"), kwargs.get("numerics", "exact"), dims)
    _validate.threads(kwargs.get("threads"))
    if number:
        for dtype in (x.dtype, y.dtype):
            _validate.max_val_fits(max_val, dtype)
    block = partial(_block, function, max_val, args, kwargs, index_map, given)
    if index_map:  # (its size is the convention's: VALID, full, or after piq's downsampling: one image's, of zeros)
        zeros = (np.zeros(a.shape[-rank:], a.dtype) for a in (x, y))
        probe = function(*zeros, max_val, *args, **kwargs, return_index_map=True)
        chunks = x.chunks[:-rank] + tuple((n,) for n in np.shape(probe))
        return da.map_blocks(block, x, y, chunks=chunks, drop_axis=x.ndim - 1, dtype=np.float32)
    return da.map_blocks(block, x, y, drop_axis=list(range(x.ndim - rank, x.ndim)), dtype=np.float32)


def _image_axes(ndim: int, channel_axis: int, rank: int) -> list[int]:
    """The axes of one image in an array of ``ndim`` axes, in order: the
    spatial axes (the last ones but the channel axis) and the channel axis."""
    channel = channel_axis % ndim
    return sorted([a for a in range(ndim) if a != channel][-(rank - 1) :] + [channel])


def _block(function, max_val, args, kwargs, index_map, given, a, b, block_info=None):
    """One block's scores. A NaN or Inf pixel (found only when the score is
    not finite, as the NumPy engines do) is named at its index in the array
    given, not in the block (channels last, broadcast)."""
    extra = {"return_index_map": True} if index_map else {}
    try:
        return function(a, b, max_val, *args, **kwargs, **extra)
    except ValueError:
        if not block_info:  # (not called by Dask on its blocks)
            raise
        start = [lo for lo, _ in block_info[0]["array-location"]]
        for arr, shape, name in ((a, given[0], "img1"), (b, given[1], "img2")):
            channel = given[2] % len(shape)
            moved = shape[:channel] + shape[channel + 1 :] + shape[channel : channel + 1]
            broadcast = a.ndim - len(shape)  # (the leading axes it was broadcast to, and its own axes of 1)
            found = first_nonfinite(arr[(0,) * broadcast + tuple(slice(None, n) for n in moved)])
            if found is not None:
                at = [0 if n == 1 else i + s for i, s, n in zip(found[0], start[broadcast:], moved)]
                at.insert(channel, at.pop())
                raise ValueError(_validate.nonfinite_message(name, tuple(at), found[1], " in its Dask block")) from None
        raise

"""Dask arrays in, a lazy Dask array out: each block scored by the engine."""

from __future__ import annotations

import re

import dask.array as da
import numpy as np
import pytest

import msssim

RNG = np.random.default_rng(8)
A = RNG.random((5, 170, 181, 3), dtype=np.float32)
B = np.clip(A + 0.1 * RNG.standard_normal(A.shape, dtype=np.float32), 0, 1)


def test_batch_chunks_give_a_lazy_dask_array_with_the_numpy_result(tf):
    a, b = da.from_array(A, chunks=(2, -1, -1, -1)), da.from_array(B, chunks=(3, -1, -1, -1))
    got = msssim.ssim_multiscale(a, b, 1.0)
    assert isinstance(got, da.Array) and got.shape == (5,) and got.dtype == np.float32
    computed = got.compute()
    np.testing.assert_array_equal(computed, msssim.ssim_multiscale(A, B, 1.0))
    np.testing.assert_allclose(computed, tf.image.ssim_multiscale(A, B, 1.0).numpy(), rtol=0, atol=1e-5)


def test_ssim_maps_broadcasting_mixed_inputs_and_channels_first():
    a = da.from_array(A, chunks=(1, -1, -1, -1))
    index_map = msssim.ssim(a, B, 1.0, return_index_map=True)
    assert isinstance(index_map, da.Array) and index_map.shape == (5, 160, 171)
    np.testing.assert_array_equal(index_map.compute(), msssim.ssim(A, B, 1.0, return_index_map=True))
    pairs = msssim.ssim(a[:, None], B[None, :2], 1.0, filter_size=7)
    np.testing.assert_array_equal(pairs.compute(), msssim.ssim(A[:, None], B[None, :2], 1.0, filter_size=7))
    nchw = msssim.ssim_multiscale(da.moveaxis(a, -1, -3), np.moveaxis(B, -1, -3), 1.0, channel_axis=-3)
    np.testing.assert_array_equal(nchw.compute(), msssim.ssim_multiscale(A, B, 1.0))


def test_image_axes_split_across_chunks_are_refused_with_the_rechunk():
    split = da.from_array(A, chunks=(5, 85, -1, -1))
    with pytest.raises(ValueError, match=r"img1 is chunked across its image axes.*img1\.rechunk\(\{-3: -1"):
        msssim.ssim_multiscale(split, B, 1.0)
    fixed = split.rechunk({-3: -1, -2: -1, -1: -1})
    np.testing.assert_array_equal(msssim.ssim_multiscale(fixed, B, 1.0).compute(), msssim.ssim_multiscale(A, B, 1.0))


def test_shape_and_parameter_errors_are_raised_before_computing():
    a = da.from_array(A, chunks=(1, -1, -1, -1))
    with pytest.raises(ValueError, match="same height, width and channels"):
        msssim.ssim_multiscale(a, B[:, 1:], 1.0)
    with pytest.raises(ValueError, match="too small"):
        msssim.ssim_multiscale(a[:, :100], B[:, :100], 1.0)
    with pytest.raises(ValueError, match="max_val must be finite"):
        msssim.ssim(a, B, -1.0)
    with pytest.raises(TypeError, match="ssim_multiscale_parts takes NumPy arrays"):
        msssim.ssim_multiscale_parts(a, B, 1.0)


@pytest.mark.parametrize("index_map", [False, True])
@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"numerics": "tensorflowcpu"}, "numerics must be one of"),
        ({"engine": "x"}, "engine must be one of"),
        ({"threads": 0}, "threads must be None or an int >= 1"),
    ],
)
def test_parameters_the_engines_check_are_refused_when_the_graph_is_built(bad, message, index_map):
    """They came at .compute(), on a worker; with return_index_map=True, as
    an IndexError (the map's probe image taken for a block)."""
    a = da.from_array(A, chunks=(1, -1, -1, -1))
    with pytest.raises(ValueError, match=message):
        msssim.ssim(a, B, 1.0, return_index_map=index_map, **bad)
    with pytest.raises(ValueError, match=r"max_val=256 does not fit uint8 images"):
        msssim.ssim((a * 255).astype(np.uint8), (B * 255).astype(np.uint8), 256, return_index_map=index_map)


def test_chunks_of_unknown_size_are_named_with_the_fix():
    a = da.from_array(A, chunks=(1, -1, -1, -1))
    kept = a[a[:, 0, 0, 0] >= 0]  # (boolean indexing: Dask does not know how many)
    with pytest.raises(ValueError, match=r"img1 has chunks of unknown size .* call img1\.compute_chunk_sizes\(\)"):
        msssim.ssim_multiscale(kept, B, 1.0)
    kept.compute_chunk_sizes()
    np.testing.assert_array_equal(msssim.ssim_multiscale(kept, B, 1.0).compute(), msssim.ssim_multiscale(A, B, 1.0))


def test_bad_pixels_are_reported_when_computed():
    broken = A.copy()
    broken[3, 10, 20, 1] = np.nan
    lazy = msssim.ssim_multiscale(da.from_array(broken, chunks=(1, -1, -1, -1)), B, 1.0)
    with pytest.raises(ValueError, match="NaN or infinite"):
        lazy.compute()


@pytest.mark.parametrize("broadcast", [False, True])
@pytest.mark.parametrize("channel_axis", [-1, -3, 0])
def test_bad_pixels_are_named_at_their_index_in_the_array_given(channel_axis, broadcast):
    """Each block is checked alone, channels last: the index was the block's
    (image 3 of a batch chunked by 2 was named image 1) and in that layout,
    not the caller's."""
    batch_axis = 1 if channel_axis == 0 else 0
    images = np.moveaxis(A, -1, channel_axis)
    broken = np.moveaxis(B[3:4] if broadcast else B, -1, channel_axis).copy()
    at = [0 if broadcast else 3, 10, 20, 1]
    at.insert(channel_axis % 4, at.pop())
    broken[tuple(at)] = np.nan
    chunks = tuple(2 if axis == batch_axis else -1 for axis in range(4))
    lazy = msssim.ssim_multiscale(
        da.from_array(images, chunks=chunks), da.from_array(broken, chunks=-1), 1.0, channel_axis=channel_axis
    )
    with pytest.raises(
        ValueError,
        match=re.escape(
            f"img2 has 1 NaN or infinite pixel value(s) in its Dask block, the first at index {tuple(at)};"
        ),
    ):
        lazy.compute()


def test_image_axes_split_across_chunks_are_named_in_the_layout_given():
    """Channels first, the message named the axes H, W, C and the chunks in that order."""
    refused = "(C, H, W chunks {}); each image must be one chunk. Rechunk it, e.g. img1.rechunk({})"
    nchw = da.from_array(np.moveaxis(A, -1, -3), chunks=(5, 3, 85, -1))
    with pytest.raises(
        ValueError, match=re.escape(refused.format("((3,), (85, 85), (181,))", "{-3: -1, -2: -1, -1: -1}"))
    ):
        msssim.ssim(nchw, np.moveaxis(B, -1, -3), 1.0, channel_axis=-3)
    cnhw = da.from_array(np.moveaxis(A, -1, 0), chunks=(1, 5, -1, -1))
    with pytest.raises(
        ValueError, match=re.escape(refused.format("((1, 1, 1), (170,), (181,))", "{-4: -1, -2: -1, -1: -1}"))
    ):
        msssim.ssim(cnhw, np.moveaxis(B, -1, 0), 1.0, channel_axis=0)
    fixed = cnhw.rechunk({-4: -1, -2: -1, -1: -1})
    np.testing.assert_array_equal(
        msssim.ssim(fixed, np.moveaxis(B, -1, 0), 1.0, channel_axis=0).compute(), msssim.ssim(A, B, 1.0)
    )


@pytest.mark.parametrize("convention", ["scikit-image", "torchmetrics", "piq"])
def test_index_maps_have_the_shape_of_their_convention(convention):
    """The lazy map was given TF's VALID size whatever the convention, so its
    indices named other pixels than the map it computed to (scikit-image's
    7-tap window, torchmetrics' full size, piq's downsampling past 256)."""
    big = np.tile(A[:2], (1, 3, 3, 1))  # (510x543: piq halves it)
    b = np.tile(B[:2], (1, 3, 3, 1))
    want = msssim.ssim(big, b, 1.0, return_index_map=True, convention=convention)
    lazy = msssim.ssim(da.from_array(big, chunks=(1, -1, -1, -1)), b, 1.0, return_index_map=True, convention=convention)
    assert lazy.shape == want.shape
    np.testing.assert_array_equal(lazy[:, -1].compute(), want[:, -1])


def test_a_numpy_operand_is_taken_whole_and_an_empty_batch_scores_empty():
    """Dask's automatic chunks split a NumPy operand above its chunk size
    (128 MiB: a batch of eight 1080p float images) across its image axes,
    which was then refused, saying to rechunk the NumPy array; an empty one
    failed with ZeroDivisionError."""
    import dask

    a = da.from_array(A, chunks=(1, -1, -1, -1))
    with dask.config.set({"array.chunk-size": "256KiB"}):
        got = msssim.ssim_multiscale(a, B, 1.0).compute()
        empty = msssim.ssim_multiscale(a[:0], B[:0], 1.0).compute()
    np.testing.assert_array_equal(got, msssim.ssim_multiscale(A, B, 1.0))
    assert empty.shape == (0,)

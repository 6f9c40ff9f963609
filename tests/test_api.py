"""The public surface, its conventions, and the inputs it must accept."""

from __future__ import annotations

import inspect
import subprocess
import sys

import numpy as np
import pytest

import msssim

RNG = np.random.default_rng(11)
A = RNG.random((2, 170, 163, 3), dtype=np.float32)
B = np.clip(A + 0.1 * RNG.standard_normal(A.shape, dtype=np.float32), 0, 1)


def test_public_names_are_pinned():
    assert msssim.__all__ == [
        "ImageReadError",
        "MSSSIM_WEIGHTS",
        "MultiScaleParts",
        "__version__",
        "read_image",
        "ssim",
        "ssim_multiscale",
        "ssim_multiscale_parts",
    ]
    assert msssim.MSSSIM_WEIGHTS == (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def _parameters(function):
    return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]


def test_ssim_multiscale_signature_is_tensorflows_plus_keyword_only_options():
    positional = inspect.Parameter.POSITIONAL_OR_KEYWORD
    keyword = inspect.Parameter.KEYWORD_ONLY
    empty = inspect.Parameter.empty
    tf_order = [
        ("img1", positional, empty),
        ("img2", positional, empty),
        ("max_val", positional, empty),
        ("power_factors", positional, msssim.MSSSIM_WEIGHTS),
        ("filter_size", positional, 11),
        ("filter_sigma", positional, 1.5),
        ("k1", positional, 0.01),
        ("k2", positional, 0.03),
    ]
    options = [
        ("channel_axis", keyword, -1),
        ("spatial_dims", keyword, 2),
        ("numerics", keyword, "exact"),
        ("convention", keyword, "tensorflow"),
        ("engine", keyword, None),
        ("threads", keyword, None),
    ]
    assert _parameters(msssim.ssim_multiscale) == tf_order + options
    assert _parameters(msssim.ssim_multiscale_parts) == tf_order + options


def test_ssim_signature_is_tensorflows_plus_keyword_only_options():
    names = [name for name, _, _ in _parameters(msssim.ssim)]
    assert names == [
        "img1",
        "img2",
        "max_val",
        "filter_size",
        "filter_sigma",
        "k1",
        "k2",
        "return_index_map",
        "channel_axis",
        "spatial_dims",
        "numerics",
        "convention",
        "engine",
        "threads",
    ]
    kinds = {name: kind for name, kind, _ in _parameters(msssim.ssim)}
    options = ("channel_axis", "spatial_dims", "numerics", "convention", "engine", "threads")
    assert {kinds[name] for name in options} == {inspect.Parameter.KEYWORD_ONLY}


def test_tensorflow_positional_call_works():
    by_position = msssim.ssim_multiscale(A, B, 1.0, (0.5, 0.5), 7, 1.2, 0.02, 0.04)
    by_name = msssim.ssim_multiscale(
        A, B, max_val=1.0, power_factors=(0.5, 0.5), filter_size=7, filter_sigma=1.2, k1=0.02, k2=0.04
    )
    np.testing.assert_array_equal(by_position, by_name)
    with pytest.raises(TypeError):
        msssim.ssim_multiscale(A, B, 1.0, msssim.MSSSIM_WEIGHTS, 11, 1.5, 0.01, 0.03, -1)


def test_results_are_float32_arrays_of_the_batch_shape():
    single = msssim.ssim_multiscale(A[0], B[0], 1.0)
    assert isinstance(single, np.ndarray) and single.shape == () and single.dtype == np.float32
    batch = msssim.ssim_multiscale(A[:, None], B[None, :], 1.0)
    assert batch.shape == (2, 2) and batch.dtype == np.float32
    np.testing.assert_allclose(np.diag(batch), msssim.ssim_multiscale(A, B, 1.0), atol=1e-7)
    index_map = msssim.ssim(A, B, 1.0, return_index_map=True)
    assert index_map.shape == (2, 160, 153) and index_map.dtype == np.float32


def test_identical_images_score_one():
    np.testing.assert_allclose(msssim.ssim_multiscale(A, A, 1.0), 1.0, atol=1e-6)
    np.testing.assert_allclose(msssim.ssim(A, A, 1.0), 1.0, atol=1e-6)


def test_channels_first_equals_channels_last():
    last = msssim.ssim_multiscale(A, B, 1.0)
    first = msssim.ssim_multiscale(np.moveaxis(A, -1, -3), np.moveaxis(B, -1, -3), 1.0, channel_axis=-3)
    np.testing.assert_array_equal(first, last)
    positive = msssim.ssim_multiscale(np.moveaxis(A, -1, 1), np.moveaxis(B, -1, 1), 1.0, channel_axis=1)
    np.testing.assert_array_equal(positive, last)
    maps = msssim.ssim(np.moveaxis(A, -1, -3), np.moveaxis(B, -1, -3), 1.0, return_index_map=True, channel_axis=-3)
    np.testing.assert_array_equal(maps, msssim.ssim(A, B, 1.0, return_index_map=True))


def test_parts_rebuild_the_score():
    parts = msssim.ssim_multiscale_parts(A, B, 1.0)
    assert isinstance(parts, msssim.MultiScaleParts)
    assert parts.cs.shape == (2, 5, 3) and parts.ssim.shape == (2, 3) and parts.luminance.shape == (2, 3)
    assert parts.power_factors == msssim.MSSSIM_WEIGHTS
    assert (parts.cs >= 0).all() and (parts.ssim >= 0).all()
    w = np.asarray(parts.power_factors, dtype=np.float32)
    rebuilt = (np.prod(parts.cs[:, :-1, :] ** w[:-1, None], axis=1) * parts.ssim ** w[-1]).mean(axis=-1)
    np.testing.assert_allclose(rebuilt, parts.ms_ssim, rtol=1e-6)
    np.testing.assert_array_equal(parts.ms_ssim, msssim.ssim_multiscale(A, B, 1.0))


def test_one_power_factor_is_relud_ssim_to_that_power():
    single = msssim.ssim(A, B, 1.0)
    np.testing.assert_allclose(msssim.ssim_multiscale(A, B, 1.0, power_factors=[1.0]), single, rtol=1e-6)
    np.testing.assert_allclose(msssim.ssim_multiscale(A, B, 1.0, power_factors=[0.5]), np.sqrt(single), rtol=1e-6)


def test_weights_are_not_renormalised():
    scaled = msssim.ssim_multiscale(A, B, 1.0, power_factors=[2 * w for w in msssim.MSSSIM_WEIGHTS])
    np.testing.assert_allclose(scaled, msssim.ssim_multiscale(A, B, 1.0) ** 2, rtol=1e-5)


def test_uint8_with_255_equals_float_over_255():
    a8 = (A * 255).round().astype(np.uint8)
    b8 = (B * 255).round().astype(np.uint8)
    as_float = msssim.ssim_multiscale(
        a8.astype(np.float32) / np.float32(255), b8.astype(np.float32) / np.float32(255), 1.0
    )
    # TF multiplies by float32(1/255) rather than dividing: last-bit differences
    # in the pixels, which TF's own scores of these two inputs turn into 2.7e-6.
    np.testing.assert_allclose(msssim.ssim_multiscale(a8, b8, 255), as_float, atol=5e-6)


def test_empty_batch_gives_empty_result():
    empty = np.zeros((0, 161, 161, 3), np.float32)
    assert msssim.ssim_multiscale(empty, empty, 1.0).shape == (0,)
    assert msssim.ssim(empty[:, :20, :20], empty[:, :20, :20], 1.0).shape == (0,)
    assert msssim.ssim_multiscale(np.zeros((3, 0, 161, 161, 1)), np.zeros((161, 161, 1)), 1.0).shape == (3, 0)


@pytest.fixture
def expected():
    return msssim.ssim_multiscale(A, B, 1.0)


def test_inputs_are_never_modified():
    a, b = A.copy(), B.copy()
    msssim.ssim_multiscale(a, b, 1.0)
    msssim.ssim(a, b, 1.0, return_index_map=True)
    np.testing.assert_array_equal(a, A)
    np.testing.assert_array_equal(b, B)


def test_read_only_arrays(expected):
    a, b = A.copy(), B.copy()
    a.flags.writeable = b.flags.writeable = False
    np.testing.assert_array_equal(msssim.ssim_multiscale(a, b, 1.0), expected)


def test_non_contiguous_arrays(expected):
    wide = np.zeros((2, 170, 163 * 2, 3), np.float32)
    wide[:, :, ::2] = A
    reversed_channels = np.ascontiguousarray(B[..., ::-1])[..., ::-1]
    assert not wide[:, :, ::2].flags.c_contiguous and not reversed_channels.flags.c_contiguous
    np.testing.assert_array_equal(msssim.ssim_multiscale(wide[:, :, ::2], reversed_channels, 1.0), expected)


def test_big_endian_arrays(expected):
    np.testing.assert_array_equal(msssim.ssim_multiscale(A.astype(">f4"), B.astype(">f4"), 1.0), expected)
    a16 = (A * 65535).astype(np.uint16)
    np.testing.assert_array_equal(
        msssim.ssim_multiscale(a16.astype(">u2"), a16[::-1].astype(">u2"), 65535),
        msssim.ssim_multiscale(a16, a16[::-1], 65535),
    )


def test_memory_mapped_arrays(tmp_path, expected):
    np.save(tmp_path / "a.npy", A)
    mapped = np.memmap(tmp_path / "b.raw", dtype=np.float32, mode="w+", shape=B.shape)
    mapped[:] = B
    mapped.flush()
    a = np.load(tmp_path / "a.npy", mmap_mode="r")
    b = np.memmap(tmp_path / "b.raw", dtype=np.float32, mode="r", shape=B.shape)
    np.testing.assert_array_equal(msssim.ssim_multiscale(a, b, 1.0), expected)


def test_python_lists_are_accepted():
    small_a, small_b = A[0, :20, :20].tolist(), B[0, :20, :20].tolist()
    np.testing.assert_array_equal(msssim.ssim(small_a, small_b, 1.0), msssim.ssim(A[0, :20, :20], B[0, :20, :20], 1.0))


@pytest.mark.parametrize("dtype", ["float16", "float64"])
def test_other_floats_are_cast_to_float32(dtype):
    got = msssim.ssim_multiscale(A.astype(dtype), B.astype(dtype), 1.0)
    want = msssim.ssim_multiscale(A.astype(dtype).astype(np.float32), B.astype(dtype).astype(np.float32), 1.0)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, want)


def test_import_is_light():
    """``import msssim`` loads nothing beyond NumPy and the standard library:
    frameworks, Numba and the file readers wait until a call needs them.
    (How long the import takes is measured by benchmarks/bench_startup.py,
    not asserted here: a shared CI machine's timing is not the code's.)"""
    code = (
        "import sys; import numpy; before = set(sys.modules); import msssim; "
        "new = {m.split('.')[0] for m in set(sys.modules) - before}; "
        "print(' '.join(sorted(n for n in new if n not in sys.stdlib_module_names)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["msssim"], out


@pytest.mark.parametrize("numerics", ["exact", "tensorflow-cpu"])
def test_engines_agree_and_thread_count_does_not_change_results(numerics):
    want = msssim.ssim_multiscale(A, B, 1.0, engine="reference", numerics=numerics)
    one = msssim.ssim_multiscale(A, B, 1.0, engine="numba", threads=1, numerics=numerics)
    np.testing.assert_array_equal(msssim.ssim_multiscale(A, B, 1.0, engine="numba", threads=2, numerics=numerics), one)
    if numerics == "tensorflow-cpu":  # the same float32 steps
        np.testing.assert_array_equal(one, want)
    else:  # float32 kernels against float64
        np.testing.assert_allclose(one, want, rtol=0, atol=1e-6)


def test_numerics_and_engines_are_checked():
    with pytest.raises(ValueError, match="numerics must be one of \\['exact', 'tensorflow-cpu'\\]"):
        msssim.ssim(A, B, 1.0, numerics="float64")
    with pytest.raises(ValueError, match="engine='separable' is gone"):
        msssim.ssim(A, B, 1.0, engine="separable")
    with pytest.raises(ValueError, match="engine must be one of"):
        msssim.ssim(A, B, 1.0, engine="fast")


@pytest.mark.parametrize("threads", [0, -1, 1.5, True])
def test_bad_thread_counts(threads):
    with pytest.raises(ValueError, match="threads must be None or an int >= 1"):
        msssim.ssim_multiscale(A, B, 1.0, threads=threads)


def test_more_threads_than_numba_started_with():
    import numba

    too_many = numba.config.NUMBA_NUM_THREADS + 1
    with pytest.raises(ValueError, match=rf"threads={too_many} exceeds the .* set NUMBA_NUM_THREADS"):
        msssim.ssim_multiscale(A, B, 1.0, threads=too_many)


def test_calls_from_many_threads_at_once():
    from concurrent.futures import ThreadPoolExecutor

    want = msssim.ssim_multiscale(A, B, 1.0)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: msssim.ssim_multiscale(A, B, 1.0), range(16)))
    for got in results:
        np.testing.assert_array_equal(got, want)


def test_numpy_scalars_as_parameters():
    """0-d arrays and NumPy scalars are accepted wherever numbers are."""
    want = msssim.ssim(A, B, 1.0, filter_size=7, filter_sigma=1.2)
    got = msssim.ssim(A, B, np.float32(1.0), filter_size=np.int64(7), filter_sigma=np.array(1.2))
    np.testing.assert_array_equal(got, want)

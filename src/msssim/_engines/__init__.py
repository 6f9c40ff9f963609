"""Engines: the array primitives beneath the algorithm in ``msssim._ssim``.

An engine is a module with ``convert_image`` and ``downsample_2x``, and either a
fused ``scale_statistics`` or the primitives ``filter_valid`` and ``mean_hw``
(see ``msssim._ssim``, which says what each computes; ``dims`` is the number of
spatial axes, 2 for images and 3 for volumes, which only the engines in
``VOLUME_ENGINES`` and ``VOLUME_FRAMEWORKS`` are given); and the array operations
the algorithm combines with: ``meta``, ``first_nonfinite``, ``float32``,
``relu``, ``stack``, ``concat``, ``power`` and ``prod`` (or a fused
``weighted_product``), ``mean``, ``all_finite``. The NumPy
engines share theirs (``_numpy_ops``); a framework's engine (``torch_engine``)
also has ``arrays`` and ``moveaxis(x, source, destination)``, keeps its tensors on
their device, with ``CHANNELS_FIRST`` holds them as ``[..., C, H, W]``, and with
``CARRIES_NAN`` has its NaN pixels searched for only when the score is not
finite, as the NumPy engines do (``all_finite(*arrays)`` reads once). The
CuPy engine is the float64 engine's code with a framework's ``arrays``, and
step 4 on the torch engine's GPU kernels where they import; the JAX engine
takes those kernels on a GPU too (``pyramid_statistics``). A fused
``scale_statistics`` may leave out SSIM and luminance when told ``only_cs``
(another scale follows).

Each ``numerics`` mode (``NUMERICS``) has its NumPy engines: ``"exact"`` the
Numba kernels of ``numba_exact`` and the float64 ``float64`` (the readable
one); ``"tensorflow-cpu"`` the Numba kernels of ``numba_cpu`` and the plain
NumPy ``reference``, both with TF-CPU's float32 arithmetic. A NumPy engine also
makes the mode's ``make_window(size, sigma)`` (step 3); a framework computes in
that window's dtype (float64 for ``"exact"``).

Optional hooks: ``session(threads)``, a context for one call (threads, locks,
precision); ``exact_values(on_host, compute, x, y, host_only)``, for a
framework, the values of ``on_host`` (the mode's NumPy engine) with the
gradients of ``compute(x, y)`` (its own ops), on the CPU or, with
``host_only``, everywhere; see ``msssim._ssim._computed``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

NUMERICS = ("exact", "tensorflow-cpu")
"""``"exact"``: TF's formula within 1e-6 of a float64 evaluation, on every
device; ``"tensorflow-cpu"``: TF-CPU's own float32 arithmetic, digit for digit."""

ENGINES = {
    "exact": {"numba": "msssim._engines.numba_exact", "reference": "msssim._engines.float64"},
    "tensorflow-cpu": {"numba": "msssim._engines.numba_cpu", "reference": "msssim._engines.reference"},
}
VOLUME_ENGINES = {"numba": "msssim._engines.numba_volume", "reference": "msssim._engines.float64"}
"""The NumPy engines of volumes (``spatial_dims=3``), exact numerics only (TF has no volumes)."""
DEFAULT_ENGINE = "numba"


VOLUME_FRAMEWORKS = frozenset({"torch", "jax", "jaxlib", "cupy"})
FRAMEWORKS = {
    "torch": "msssim._engines.torch_engine",
    "tensorflow": "msssim._engines.tensorflow_engine",
    "jax": "msssim._engines.jax_engine",
    "jaxlib": "msssim._engines.jax_engine",  # concrete arrays live there, tracers in jax
    "cupy": "msssim._engines.cupy_engine",
}


def engine_for(img1, img2, name: str | None, numerics: str, dims: int = 2) -> tuple[ModuleType, ModuleType]:
    """The engine for these inputs, and the NumPy engine of ``numerics`` that
    gives a framework on the CPU its values: a framework's own engine when
    either input is one of its tensors (imported only then), else the NumPy
    engine called ``name``, twice. ``dims`` is 3 for volumes."""
    host = get_engine(name, numerics, dims)
    for img in (img1, img2):
        framework = _framework(img)
        if framework is not None:
            if name is not None:
                msg = f"engine={name!r} applies to NumPy inputs; {framework} tensors are scored by {framework}."
                raise ValueError(msg)
            if dims == 3 and framework not in VOLUME_FRAMEWORKS:
                msg = (
                    f"volumes (spatial_dims=3) take NumPy, torch, JAX, CuPy or Dask arrays; convert the {framework} "
                    "tensors first (e.g. .numpy())"
                )
                raise TypeError(msg)
            return importlib.import_module(FRAMEWORKS[framework]), host
    return host, host


def _framework(img) -> str | None:
    """The array library of ``img`` (a key of :data:`FRAMEWORKS`), by its
    class's package or a base class's (a tensor subclass defined elsewhere:
    MONAI's ``MetaTensor``, torchvision's ``tv_tensors.Image``); None for others."""
    for cls in type(img).__mro__:
        framework = cls.__module__.split(".")[0]
        if framework in FRAMEWORKS:
            return framework
    return None


def check_numerics(numerics) -> None:
    if numerics not in ENGINES:
        msg = (
            f"numerics must be one of {list(NUMERICS)}, got {numerics!r}: 'exact' (the default) evaluates TF's "
            "formula within 1e-6 of float64; 'tensorflow-cpu' repeats TF-CPU's float32 rounding."
        )
        raise ValueError(msg)


def get_engine(name: str | None, numerics: str = "exact", dims: int = 2) -> ModuleType:
    """The NumPy engine called ``name`` (``None``: the default) for ``numerics``
    and images (``dims=2``) or volumes (``dims=3``), imported on first use."""
    check_numerics(numerics)
    name = DEFAULT_ENGINE if name is None else name
    if name == "separable":
        msg = (
            "engine='separable' is gone: the default, numerics='exact', filters in two 1-D passes too and is "
            "faster, within 1e-6 of TF's formula in float64. Drop engine=, or pass numerics='tensorflow-cpu' "
            "for TF-CPU's digits."
        )
        raise ValueError(msg)
    if name not in ENGINES[numerics]:
        msg = f"engine must be one of {sorted(ENGINES[numerics])} or None, got {name!r}."
        raise ValueError(msg)
    if dims == 3:
        if numerics != "exact":
            msg = "volumes (spatial_dims=3) are scored with numerics='exact' only: TF has no 3-D SSIM to repeat"
            raise ValueError(msg)
        return importlib.import_module(VOLUME_ENGINES[name])
    return importlib.import_module(ENGINES[numerics][name])

"""Engines: the array primitives beneath the algorithm in ``msssim._ssim``.

An engine is a module with ``convert_image`` and ``downsample_2x``, and either a
fused ``scale_statistics`` or the primitives ``filter_valid`` and ``mean_hw``
(see ``msssim._ssim``, which says what each computes); and the array operations
the algorithm combines with: ``meta``, ``first_nonfinite``, ``float32``,
``relu``, ``stack``, ``power``, ``prod``, ``mean``, ``all_finite``. The NumPy
engines share theirs (``_numpy_ops``); a framework's engine (``torch_engine``)
also has ``arrays`` and ``moveaxis`` and keeps its tensors on their device. The
CuPy engine is the reference engine's code with a framework's ``arrays``.

Optional hooks: ``session(threads)``, a context for one call (threads, locks,
precision); ``exact_values(on_host, compute, x, y)``, for a framework on the
CPU, the values of ``on_host`` (the NumPy engine) with the gradients of
``compute(x, y)`` (its own ops); see ``msssim._ssim._computed``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

ENGINES = {
    "numba": "msssim._engines.numba_cpu",
    "separable": "msssim._engines.separable",
    "reference": "msssim._engines.reference",
}
DEFAULT_ENGINE = "numba"


FRAMEWORKS = {
    "torch": "msssim._engines.torch_engine",
    "tensorflow": "msssim._engines.tensorflow_engine",
    "jax": "msssim._engines.jax_engine",
    "jaxlib": "msssim._engines.jax_engine",  # concrete arrays live there, tracers in jax
    "cupy": "msssim._engines.cupy_engine",
}


def engine_for(img1, img2, name: str | None) -> ModuleType:
    """The engine for these inputs: a framework's own when either is one of its
    tensors (imported only then), else the NumPy engine called ``name``."""
    for img in (img1, img2):
        framework = type(img).__module__.split(".")[0]
        if framework in FRAMEWORKS:
            if name is not None:
                msg = f"engine={name!r} applies to NumPy inputs; {framework} tensors are scored by {framework}."
                raise ValueError(msg)
            return importlib.import_module(FRAMEWORKS[framework])
    return get_engine(name)


def get_engine(name: str | None) -> ModuleType:
    """The engine module called ``name`` (``None``: the default), imported on first use."""
    name = DEFAULT_ENGINE if name is None else name
    if name not in ENGINES:
        msg = f"engine must be one of {sorted(ENGINES)} or None, got {name!r}."
        raise ValueError(msg)
    return importlib.import_module(ENGINES[name])

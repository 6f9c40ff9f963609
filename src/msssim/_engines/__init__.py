"""Engines: the array primitives beneath the algorithm in ``msssim._ssim``.

An engine is a module with ``convert_image`` and ``downsample_2x``, and either a
fused ``scale_statistics`` or the primitives ``filter_valid`` and ``mean_hw``
(see ``msssim._ssim``, which says what each computes).
"""

from __future__ import annotations

import importlib
from types import ModuleType

ENGINES = {"numba": "msssim._engines.numba_cpu", "reference": "msssim._engines.reference"}
DEFAULT_ENGINE = "numba"


def get_engine(name: str | None) -> ModuleType:
    """The engine module called ``name`` (``None``: the default), imported on first use."""
    name = DEFAULT_ENGINE if name is None else name
    if name not in ENGINES:
        msg = f"engine must be one of {sorted(ENGINES)} or None, got {name!r}."
        raise ValueError(msg)
    return importlib.import_module(ENGINES[name])

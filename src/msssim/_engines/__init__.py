"""Engines: the array primitives beneath the algorithm in ``msssim._ssim``.

An engine is a module with ``as_float32``, ``filter_valid``, ``downsample_2x`` and
``mean_hw`` (see ``msssim._ssim``), and optionally a fused ``scale_statistics``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

ENGINES = {"reference": "msssim._engines.reference"}
DEFAULT_ENGINE = "reference"


def get_engine(name: str | None) -> ModuleType:
    """The engine module called ``name`` (``None``: the default), imported on first use."""
    name = DEFAULT_ENGINE if name is None else name
    if name not in ENGINES:
        msg = f"engine must be one of {sorted(ENGINES)} or None, got {name!r}."
        raise ValueError(msg)
    return importlib.import_module(ENGINES[name])

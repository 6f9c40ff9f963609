"""The other libraries whose conventions msssim repeats, loaded for live
comparisons (by the tests and benchmarks/libraries.py)."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types


def piq_modules():
    """piq's ``ssim`` and ``ms_ssim`` modules, as ``(piq.ssim, piq.ms_ssim)``.

    piq's package ``__init__`` imports torchvision (for its other metrics),
    which does not install beside the CPU torch wheel these machines hold; its
    SSIM modules need torch alone, so they are loaded without that ``__init__``
    (piq itself is installed with ``--no-deps``, as the README's test command does).
    """
    if not hasattr(sys.modules.get("piq"), "__path__"):  # not loaded yet (or only half)
        spec = importlib.util.find_spec("piq")
        if spec is None:
            raise ImportError("piq is not installed: pip install --no-deps piq==0.8.0")
        package = types.ModuleType("piq")
        package.__path__ = list(spec.submodule_search_locations)
        sys.modules["piq"] = package
    return importlib.import_module("piq.ssim"), importlib.import_module("piq.ms_ssim")

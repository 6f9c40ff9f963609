"""Shared fixtures. TensorFlow is the oracle: in CI (CI=true) it must import, so
the live comparisons can never be skipped there."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if os.environ.get("CI"):
        import tensorflow  # a missing oracle fails CI instead of skipping

        return tensorflow
    return pytest.importorskip("tensorflow", reason="the live TF comparison needs tensorflow-cpu")


@pytest.fixture(scope="session")
def piq():
    """piq's ``ssim`` and ``ms_ssim`` modules, as ``(piq.ssim, piq.ms_ssim)``.

    piq's package ``__init__`` imports torchvision (for its other metrics),
    which does not install beside the CPU torch wheel these machines hold; its
    SSIM modules need torch alone, so they are loaded without that ``__init__``
    (piq itself is installed with ``--no-deps``, as the README's test command does).
    """
    import importlib
    import importlib.util
    import sys
    import types

    spec = importlib.util.find_spec("piq")
    if spec is None:
        if os.environ.get("CI"):
            raise ImportError("piq is not installed: the README's test command installs it (--no-deps)")
        pytest.skip("the live piq comparison needs piq (pip install --no-deps piq==0.8.0)")
    if "piq" not in sys.modules or not hasattr(sys.modules["piq"], "__path__"):
        package = types.ModuleType("piq")
        package.__path__ = list(spec.submodule_search_locations)
        sys.modules["piq"] = package
    return importlib.import_module("piq.ssim"), importlib.import_module("piq.ms_ssim")

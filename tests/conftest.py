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
    """piq's ``ssim`` and ``ms_ssim`` modules (``peers.piq_modules``)."""
    import importlib.util

    if importlib.util.find_spec("piq") is None:
        if os.environ.get("CI"):
            raise ImportError("piq is not installed: the README's test command installs it (--no-deps)")
        pytest.skip("the live piq comparison needs piq (pip install --no-deps piq==0.8.0)")
    import peers

    return peers.piq_modules()

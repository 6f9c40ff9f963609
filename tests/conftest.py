"""Shared fixtures. TensorFlow is the oracle: in CI (CI=true) it must import, so
the live comparisons can never be skipped there."""

from __future__ import annotations

import os

import pytest

# msssim's TF-CPU numerics follow TF with oneDNN on (its softmax makes the window:
# README, "The window is TF's softmax"), TF's default on most x86 CPUs; on others (an
# AMD EPYC with AVX2 only, seen 2026-12-03) TF 2.21 leaves it off and takes Eigen's
# softmax, a few ulp away. The live comparisons name the TF they compare with.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")


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

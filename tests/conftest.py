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

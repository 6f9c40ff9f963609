"""Regenerate tests/golden_tf.json: TensorFlow's answers for fixed recipes.

Run with tensorflow-cpu installed:  python tests/make_golden.py
The file records the TF version and each recipe (see cases.py), so every value
can be traced to the call that made it.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).parent))

import cases  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

GOLDEN = Path(__file__).parent / "golden_tf.json"
FIXED = [  # named cases people ask about, then random recipes
    {
        "seed": 1,
        "function": "ssim_multiscale",
        "kind": "correlated",
        "dtype": "uint8",
        "shape1": [161, 161, 3],
        "shape2": [161, 161, 3],
        "max_val": 255.0,
        "filter_size": 11,
        "filter_sigma": 1.5,
        "k1": 0.01,
        "k2": 0.03,
        "channels_first": False,
        "power_factors": list(cases.msssim.MSSSIM_WEIGHTS),
    },
    {
        "seed": 2,
        "function": "ssim_multiscale",
        "kind": "smooth",
        "dtype": "float32",
        "shape1": [2, 331, 417, 3],
        "shape2": [2, 331, 417, 3],
        "max_val": 1.0,
        "filter_size": 11,
        "filter_sigma": 1.5,
        "k1": 0.01,
        "k2": 0.03,
        "channels_first": False,
        "power_factors": list(cases.msssim.MSSSIM_WEIGHTS),
    },
    {
        "seed": 3,
        "function": "ssim_multiscale",
        "kind": "anticorrelated",
        "dtype": "float32",
        "shape1": [176, 176, 1],
        "shape2": [176, 176, 1],
        "max_val": 1.0,
        "filter_size": 11,
        "filter_sigma": 1.5,
        "k1": 0.01,
        "k2": 0.03,
        "channels_first": False,
        "power_factors": list(cases.msssim.MSSSIM_WEIGHTS),
    },
    {
        "seed": 4,
        "function": "ssim_multiscale",
        "kind": "uniform",
        "dtype": "uint16",
        "shape1": [3, 1, 200, 190, 3],
        "shape2": [2, 200, 190, 3],
        "max_val": 65535.0,
        "filter_size": 11,
        "filter_sigma": 1.5,
        "k1": 0.01,
        "k2": 0.03,
        "channels_first": True,
        "power_factors": list(cases.msssim.MSSSIM_WEIGHTS),
    },
    {
        "seed": 5,
        "function": "ssim_map",
        "kind": "smooth",
        "dtype": "float64",
        "shape1": [60, 47, 3],
        "shape2": [60, 47, 3],
        "max_val": 1.0,
        "filter_size": 11,
        "filter_sigma": 1.5,
        "k1": 0.01,
        "k2": 0.03,
        "channels_first": False,
    },
]
RANDOM_SEEDS = range(100_000, 100_040)


def main() -> None:
    entries = []
    for recipe in FIXED + [cases.draw(seed) for seed in RANDOM_SEEDS]:
        img1, img2 = cases.build(recipe)
        value = cases.run_tensorflow(tf, recipe, img1, img2)
        entries.append(
            {
                "recipe": recipe,
                "shape": list(value.shape),
                "value": [float(str(v)) for v in value.astype(np.float32).ravel()],
            }
        )
    document = {
        "provenance": {
            "generator": "tests/make_golden.py",
            "tensorflow": tf.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
            "machine": platform.machine(),
            "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default (on)"),
            "mode": "eager, tf.image.ssim_multiscale / tf.image.ssim on tf.constant inputs",
            "recipes": "tests/cases.py: build(recipe) rebuilds the arrays from the seed",
        },
        "cases": entries,
    }
    GOLDEN.write_text(json.dumps(document, indent=1) + "\n")
    print(f"wrote {len(entries)} cases to {GOLDEN}")


if __name__ == "__main__":
    main()

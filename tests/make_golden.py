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

from msssim._window import tensorflow_kernels  # noqa: E402

GOLDEN = Path(__file__).parent / "golden_tf.json"
DEFAULTS = {
    "max_val": 1.0,
    "filter_size": 11,
    "filter_sigma": 1.5,
    "k1": 0.01,
    "k2": 0.03,
    "channels_first": False,
    "function": "ssim_multiscale",
    "power_factors": list(cases.msssim.MSSSIM_WEIGHTS),
}


def _fixed(seed: int, kind: str, dtype: str, shape1: list, shape2: list, **overrides) -> dict:
    recipe = {"seed": seed, "kind": kind, "dtype": dtype, "shape1": shape1, "shape2": shape2, **DEFAULTS, **overrides}
    if recipe["function"] != "ssim_multiscale":
        del recipe["power_factors"]
    return recipe


FIXED = [  # named cases people ask about, then random recipes
    _fixed(1, "correlated", "uint8", [161, 161, 3], [161, 161, 3], max_val=255.0),  # the minimum size
    _fixed(2, "smooth", "float32", [2, 331, 417, 3], [2, 331, 417, 3]),  # odd sizes, smooth content
    _fixed(3, "anticorrelated", "float32", [176, 176, 1], [176, 176, 1]),  # relu'd cs: zero score
    _fixed(4, "uniform", "uint16", [3, 1, 200, 190, 3], [2, 200, 190, 3], max_val=65535.0, channels_first=True),
    _fixed(5, "smooth", "float64", [60, 47, 3], [60, 47, 3], function="ssim_map"),
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
            "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default"),
            "kernels": tensorflow_kernels(),  # (TF's window and convolution: test_golden takes the same)
            "mode": "eager, tf.image.ssim_multiscale / tf.image.ssim on tf.constant inputs",
            "recipes": "tests/cases.py: build(recipe) rebuilds the arrays from the seed",
        },
        "cases": entries,
    }
    GOLDEN.write_text(json.dumps(document, indent=1) + "\n")
    print(f"wrote {len(entries)} cases to {GOLDEN}")


if __name__ == "__main__":
    main()

"""The ``msssim`` command: score a distorted image against its reference.

Exit status: 0 on success, 2 on a usage error, 3 when a pair cannot be scored
(a missing, corrupt or mismatched file); the reason goes to stderr in one line.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Sequence, TextIO

import numpy as np

import msssim
from msssim._io import ImageReadError, default_max_val, read_image

EXIT_OK, EXIT_USAGE, EXIT_FAILED = 0, 2, 3
SCHEMA_VERSION = 1


def _positive_float(text: str) -> float:
    value = float(text)
    if not (np.isfinite(value) and value > 0):
        msg = f"must be a finite number > 0, got {text}"
        raise argparse.ArgumentTypeError(msg)
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="msssim",
        description="MS-SSIM of a distorted image against its reference, as TensorFlow computes it.",
        epilog="Exit status: 0 ok, 2 usage error, 3 a pair could not be scored.",
    )
    parser.add_argument("reference", help="reference image (PNG 8/16-bit, JPEG, TIFF, BMP, WebP)")
    parser.add_argument("distorted", help="distorted image, same size and channels")
    parser.add_argument(
        "--max-val",
        type=_positive_float,
        help="dynamic range of the pixel values (default: from the bit depth, 255 or 65535)",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    parser.add_argument("--version", action="version", version=f"%(prog)s {msssim.__version__}")
    return parser


class PairError(Exception):
    """A pair that cannot be scored; the message is meant for the user."""


def score_pair(reference: str, distorted: str, max_val: float | None) -> dict[str, Any]:
    """One result entry: ``reference``, ``distorted``, ``ms_ssim``."""
    try:
        ref, dist = read_image(reference), read_image(distorted)
    except ImageReadError as exc:
        raise PairError(str(exc)) from None
    if ref.dtype != dist.dtype:
        msg = f"bit depths differ: {reference} is {ref.dtype}, {distorted} is {dist.dtype}"
        raise PairError(msg)
    if ref.shape != dist.shape:
        msg = (
            f"sizes differ: {reference} is {ref.shape[1]}x{ref.shape[0]}x{ref.shape[2]}, "
            f"{distorted} is {dist.shape[1]}x{dist.shape[0]}x{dist.shape[2]} (width x height x channels)"
        )
        raise PairError(msg)
    if max_val is None:
        max_val = default_max_val(ref.dtype)
    try:
        score = msssim.ssim_multiscale(ref, dist, max_val)
    except (ValueError, TypeError) as exc:
        raise PairError(f"{reference} vs {distorted}: {exc}") from None
    return {"reference": reference, "distorted": distorted, "ms_ssim": _float32_repr(score)}


def _float32_repr(value) -> float:
    """The shortest decimal that reads back as the same float32."""
    return float(str(np.float32(value)))


def write_results(results: list[dict[str, Any]], parameters: dict[str, Any], fmt: str, out: TextIO) -> None:
    if fmt == "json":
        document = {
            "schema_version": SCHEMA_VERSION,
            "msssim_version": msssim.__version__,
            "parameters": parameters,
            "results": results,
        }
        json.dump(document, out, indent=2)
        out.write("\n")
    else:
        for result in results:
            out.write(f"{result['ms_ssim']:.6f}\n")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # exits with status 2 on a usage error
    try:
        result = score_pair(args.reference, args.distorted, args.max_val)
    except PairError as exc:
        print(f"msssim: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    parameters = {"max_val": args.max_val, "power_factors": list(msssim.MSSSIM_WEIGHTS), "filter_size": 11,
                  "filter_sigma": 1.5, "k1": 0.01, "k2": 0.03}
    write_results([result], parameters, args.format, sys.stdout)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())

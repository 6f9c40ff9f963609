"""The ``msssim`` command: image pairs, folders, manifests and videos.

Exit status: 0 all pairs scored, 1 the pooled mean is below ``--fail-under``,
2 usage error, 3 some pair could not be scored (each such pair has an ``error``
entry and a line on stderr; the others are still scored and written).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import msssim
from msssim import _validate
from msssim._dataset import Options, Pair, PairError, pairs_from_folders, pairs_from_manifest, run
from msssim._engines import DEFAULT_ENGINE, ENGINES, NUMERICS
from msssim._io import COLORS
from msssim._report import FORMATS, JsonLines, SettingsMismatch, pooled, render, with_decibels

EXIT_OK, EXIT_BELOW, EXIT_USAGE, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def _float_list(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _frames(text: str) -> slice:
    from msssim._video import frame_range

    try:
        return frame_range(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="msssim",
        description="MS-SSIM of distorted images or videos against their references: TensorFlow's formula, exactly.",
        epilog="Exit status: 0 ok, 1 below --fail-under, 2 usage error, 3 some pair could not be scored.",
    )
    inputs = parser.add_argument_group("inputs")
    inputs.add_argument("reference", nargs="?", help="reference image, video or folder")
    inputs.add_argument("distorted", nargs="?", help="distorted image, video or folder (matched by relative path)")
    inputs.add_argument(
        "--pairs",
        metavar="FILE",
        type=Path,
        help="CSV (reference,distorted header) or JSONL manifest of pairs; paths relative to it",
    )
    inputs.add_argument(
        "--frames",
        type=_frames,
        default=slice(None),
        metavar="START:STOP:STEP",
        help="video frames to score (default: all)",
    )
    inputs.add_argument("--shortest", action="store_true", help="score videos of different lengths up to the shorter")
    inputs.add_argument(
        "--color",
        choices=COLORS,
        default="rgb",
        help="rgb (as TF), y (BT.601 luma as coded; the Y plane of a video) or gray (full-range luma)",
    )
    metric = parser.add_argument_group("metric (TensorFlow's parameters)")
    metric.add_argument("--ssim", action="store_true", help="single-scale SSIM instead of MS-SSIM")
    metric.add_argument("--max-val", type=float, help="dynamic range (default: from the bit depth, 255 or 65535)")
    metric.add_argument(
        "--power-factors",
        type=_float_list,
        metavar="W1,W2,...",
        help="one exponent per scale (default: 0.0448,0.2856,0.3001,0.2363,0.1333)",
    )
    metric.add_argument("--filter-size", type=int, default=11)
    metric.add_argument("--filter-sigma", type=float, default=1.5)
    metric.add_argument("--k1", type=float, default=0.01)
    metric.add_argument("--k2", type=float, default=0.03)
    metric.add_argument(
        "--numerics",
        choices=NUMERICS,
        default=NUMERICS[0],
        help="exact (default): TF's formula within 1e-6 of float64, the same on every device; "
        "tensorflow-cpu: TF-CPU's own float32 digits (within 1e-5 of tf.image on the CPU)",
    )
    output = parser.add_argument_group("output")
    output.add_argument(
        "--format",
        choices=FORMATS,
        default="table",
        help="table (default; one pair: the score alone), json, csv or jsonl",
    )
    output.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="FILE",
        help="write there instead of stdout; a .jsonl run appends each result as it completes "
        "and, run again, skips the pairs already in the file",
    )
    output.add_argument("--db", action="store_true", help="also report -10*log10(1 - score)")
    output.add_argument("--fail-under", type=float, metavar="X", help="exit 1 if the pooled mean is below X")
    output.add_argument("--map", type=Path, metavar="OUT.png", help="one image pair: save its SSIM index map")
    output.add_argument("--plot", type=Path, metavar="OUT.png", help="videos: plot the per-frame scores (matplotlib)")
    scale = parser.add_argument_group("scale")
    scale.add_argument(
        "--workers",
        type=_positive_int,
        help="processes on this machine (default: one per core when there are many pairs)",
    )
    scale.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="run on this Dask distributed scheduler")
    scale.add_argument(
        "--engine",
        choices=sorted({name for engines in ENGINES.values() for name in engines}),
        help=f"{DEFAULT_ENGINE} (default): compiled multi-threaded kernels; reference: plain NumPy, "
        "the readable specification, slow (both give the numbers of --numerics)",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {msssim.__version__}")
    return parser


def _options(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Options:
    options = Options(
        metric="ssim" if args.ssim else "ms_ssim",
        max_val=args.max_val,
        power_factors=args.power_factors,
        filter_size=args.filter_size,
        filter_sigma=args.filter_sigma,
        k1=args.k1,
        k2=args.k2,
        color=args.color,
        frames=args.frames,
        shortest=args.shortest,
        engine=args.engine,
        numerics=args.numerics,
    )
    try:  # the library's own checks, so that a bad parameter is a usage error
        _validate.parameters(
            1.0 if args.max_val is None else args.max_val, args.filter_size, args.filter_sigma, args.k1, args.k2
        )
        if args.power_factors is not None:
            _validate.power_factors(args.power_factors)
    except (TypeError, ValueError) as exc:
        parser.error(str(exc))
    return options


def _pairs(args: argparse.Namespace, parser: argparse.ArgumentParser) -> list[Pair]:
    if args.pairs is not None:
        if args.reference or args.distorted:
            parser.error("give either REFERENCE DISTORTED or --pairs FILE, not both")
        return pairs_from_manifest(args.pairs)
    if not (args.reference and args.distorted):
        parser.error("give REFERENCE and DISTORTED (images, videos or folders), or --pairs FILE")
    reference, distorted = Path(args.reference), Path(args.distorted)
    if reference.is_dir() and distorted.is_dir():
        return pairs_from_folders(reference, distorted)
    if reference.is_dir() or distorted.is_dir():
        parser.error("REFERENCE and DISTORTED must both be folders or both be files")
    return [Pair(args.reference, args.distorted)]


def _log(message: str) -> None:
    print(f"msssim: {message}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # exits with status 2 on a usage error
    options = _options(args, parser)
    if args.fail_under is not None and not 0 <= args.fail_under <= 1:
        parser.error(f"--fail-under must be in [0, 1], got {args.fail_under}")
    try:
        pairs = _pairs(args, parser)
    except PairError as exc:
        _log(f"error: {exc}")
        return EXIT_FAILED
    if args.map and (len(pairs) != 1 or pairs[0].is_video):
        parser.error("--map needs exactly one image pair")
    if not pairs:
        _log("warning: no files to score")

    sink = None
    if args.format == "jsonl":
        try:
            sink = JsonLines.resume(args.output, options.parameters()) if args.output else None
        except SettingsMismatch as exc:
            parser.error(str(exc))
        if sink is None:
            sink = JsonLines.start(sys.stdout, options.parameters())
        elif sink.previous and sink.settings is None:
            _log(
                f"warning: {args.output} records no settings (an older msssim wrote it), so its results cannot "
                f"be checked; they are kept as if made with this run's (--numerics {options.numerics})"
            )
    finished = {(r.get("reference"), r.get("distorted")) for r in sink.previous} if sink else set()
    todo = [p for p in pairs if p.key not in finished]
    if finished:
        _log(f"{len(pairs) - len(todo)} pairs already in {args.output}; scoring the other {len(todo)}")
    workers = args.workers or ((os.cpu_count() or 1) if len(todo) > 16 else 1)

    results: dict[tuple[str, str], dict] = {}
    progress = _progress(len(todo), any(p.is_video for p in todo))

    def on_result(result: dict) -> None:
        if args.db:
            with_decibels(result, options.metric)
        results[(result["reference"], result["distorted"])] = result
        if sink:
            sink.write(result)
        if "error" in result:
            _log(f"error: {result['distorted']}: {result['error']}")
        progress.update(1)

    try:
        run(todo, options, on_result, workers=workers, scheduler=args.scheduler)
    except KeyboardInterrupt:
        progress.close()
        where = f"; {len(results)} results are in {args.output}, run the same command to finish" if sink else ""
        _log(f"interrupted{where}")
        return EXIT_INTERRUPTED
    except PairError as exc:
        progress.close()
        _log(f"error: {exc}")
        return EXIT_FAILED
    finally:
        if sink:
            sink.close()
    progress.close()

    everything = (sink.previous if sink else []) + [results[p.key] for p in todo if p.key in results]
    if sink is None:
        text = render(everything, options.parameters(), options.metric, args.format, args.db)
        if args.output:
            args.output.write_text(text)
        else:
            sys.stdout.write(text)
    stats = pooled(everything, options.metric)
    if sink is not None or args.output:
        summary = f"mean {stats['mean']:.6f}" if stats["count"] else "nothing scored"
        _log(f"{stats['count']} of {len(everything)} pairs scored; {summary}")
    try:
        _pictures(args, pairs, options, everything)
    except (OSError, RuntimeError, ValueError) as exc:
        _log(f"error: {exc}")
        return EXIT_FAILED
    if any("error" in r for r in everything):
        return EXIT_FAILED
    if args.fail_under is not None and stats["count"] and stats["mean"] < args.fail_under:
        _log(f"pooled mean {stats['mean']:.6f} is below --fail-under {args.fail_under}")
        return EXIT_BELOW
    return EXIT_OK


def _progress(total: int, videos: bool):
    """A progress bar on stderr when it is a terminal (tqdm), else a stand-in."""
    try:
        from tqdm import tqdm
    except ImportError:
        return _NoProgress()
    return tqdm(
        total=total,
        unit="video" if videos else "pair",
        file=sys.stderr,
        disable=not sys.stderr.isatty(),
        dynamic_ncols=True,
    )


class _NoProgress:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _pictures(args, pairs: list[Pair], options: Options, results: list[dict]) -> None:
    from msssim import _pictures

    if args.map and "error" not in results[0]:
        from msssim._dataset import score_index_map

        index_map = score_index_map(pairs[0], options)
        title = f"SSIM map, {Path(pairs[0].distorted).name}: mean {float(index_map.mean()):.4f}"
        _pictures.save_index_map(index_map, args.map, title)
    if args.plot:
        _pictures.save_frame_plot(results, options.metric, args.plot)


if __name__ == "__main__":
    sys.exit(main())

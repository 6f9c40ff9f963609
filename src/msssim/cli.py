"""The ``msssim`` command: image pairs, folders, manifests and videos.

Exit status: 0 all pairs scored, 1 the pooled mean is below ``--fail-under``,
2 usage error, 3 some pair could not be scored (each such pair has an ``error``
entry and a line on stderr; the others are still scored and written), or
nothing was scored at all; 130 interrupted (Ctrl-C), 143 terminated (``kill``,
a batch system's time limit), the results so far kept either way; 141 the
reader of the standard output closed it (``| head``), as for a command that
SIGPIPE ends.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

import msssim
from msssim import _conventions, _validate
from msssim._conventions import CONVENTIONS
from msssim._dataset import (
    Options,
    Pair,
    PairError,
    cores,
    file_pair,
    pairs_from_folders,
    pairs_from_manifest,
    run,
)
from msssim._engines import DEFAULT_ENGINE, ENGINES, NUMERICS
from msssim._io import COLORS, SCALERS
from msssim._report import FORMATS, JsonLines, SettingsMismatch, existing_format, pooled, render, with_decibels
from msssim._video import PIXEL_FORMATS, RAW_SUFFIXES, RawVideo

EXIT_OK, EXIT_BELOW, EXIT_USAGE, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_PIPE, EXIT_TERMINATED = 0, 1, 2, 3, 130, 141, 143


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


def _values_joined(argv: Sequence[str], parser: argparse.ArgumentParser) -> list[str]:
    """``--frames -1:`` as ``--frames=-1:`` (``--power-factors -1,1`` too):
    argparse takes a value that starts with a dash, other than a plain negative
    number, for an option, and would say only "expected one argument"; joined,
    the value is checked, and its error says what is wrong with it."""
    takes_value = {name for action in parser._actions if action.nargs is None for name in action.option_strings}
    out = list(argv)
    for i in range(len(out) - 2, -1, -1):
        if out[i] in takes_value and _NEGATIVE.match(out[i + 1]):
            out[i : i + 2] = [f"{out[i]}={out[i + 1]}"]
    return out


_NEGATIVE = re.compile(r"-(\d|\.|:|,|inf|nan)", re.IGNORECASE)  # (a value, not an option: -1:, -.5, -1,1, -inf)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def _size(text: str) -> tuple[int, int]:
    width, _, height = text.lower().partition("x")
    try:
        size = int(width), int(height)
    except ValueError:
        size = (0, 0)
    if min(size) < 1:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, such as 1920x1080, got {text!r}")
    return size


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="msssim",
        description="MS-SSIM of distorted images or videos against their references: TensorFlow's formula, exactly.",
        epilog="Exit status: 0 ok, 1 below --fail-under, 2 usage error, 3 some pair could not be scored, "
        "130 interrupted (Ctrl-C), 141 the output's reader closed it, 143 terminated (SIGTERM).",
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
    inputs.add_argument(
        "--subsample", type=_positive_int, default=1, metavar="N", help="score every Nth of those frames"
    )
    inputs.add_argument(
        "--offset",
        type=_integer,
        default=0,
        metavar="N",
        help="the distorted video starts N frames later (encoder delay): its frame n+N is compared "
        "with the reference's frame n; negative if it starts earlier",
    )
    inputs.add_argument("--shortest", action="store_true", help="score videos of different lengths up to the shorter")
    inputs.add_argument(
        "--scale",
        choices=SCALERS,
        help="resize a distorted image or video of another size to the reference's first "
        "(default: a size mismatch is an error)",
    )
    inputs.add_argument(
        "--size", type=_size, metavar="WxH", help="raw .yuv files: the frame size (they have no header)"
    )
    inputs.add_argument(
        "--pix-fmt",
        choices=PIXEL_FORMATS,
        metavar="FMT",
        help="raw .yuv files: yuv420p (default), yuv422p, yuv444p, gray, or one of those with 10le, 12le "
        "or 16le for deeper samples (max_val 1023 for 10-bit with --color y)",
    )
    inputs.add_argument(
        "--volume",
        action="store_true",
        help="the files are 3-D volumes (CT, MRI, microscopy): .npy arrays [D, H, W] or [D, H, W, C], or "
        "TIFF stacks; scored with the 3-D gaussian and 2x2x2 halvings (spatial_dims=3)",
    )
    inputs.add_argument(
        "--exif-orientation",
        action="store_true",
        help="turn each still image as its EXIF orientation says, as viewers show it (default: as stored, as "
        "TensorFlow and scikit-image decode it)",
    )
    inputs.add_argument(
        "--color",
        choices=COLORS,
        default="rgb",
        help="rgb (as TF), y (BT.601 luma as coded; the Y plane of a video) or gray (full-range luma)",
    )
    metric = parser.add_argument_group("metric (TensorFlow's parameters)")
    metric.add_argument("--ssim", action="store_true", help="single-scale SSIM instead of MS-SSIM")
    metric.add_argument(
        "--max-val",
        type=float,
        help="dynamic range (default: from the files: 255 or 65535 by bit depth, 1 for float files, "
        "2^bits - 1 for a deep Y plane)",
    )
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
    metric.add_argument(
        "--convention",
        default="tensorflow",
        metavar="NAME[:ARG=VALUE...]",
        help=f"whose MS-SSIM: {', '.join(CONVENTIONS)}: tensorflow (default), or pytorch-msssim's, piq's or "
        "torchmetrics' value for the same images; scikit-image (with --ssim: its structural_similarity's "
        "defaults); some of the library's own arguments may follow, e.g. torchmetrics:normalize=simple",
    )
    output = parser.add_argument_group("output")
    output.add_argument(
        "--format",
        choices=FORMATS,
        help="table (one pair: the score alone), json, csv or jsonl; default: from the -o file's "
        "extension (.json, .jsonl or .ndjson, .csv), else table",
    )
    output.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="FILE",
        help="write there instead of stdout; a .jsonl run appends each result as it completes "
        "and, run again with the same settings, skips the pairs already in the file",
    )
    output.add_argument(
        "--overwrite", action="store_true", help="replace the -o file, whatever it holds, instead of resuming"
    )
    output.add_argument("--db", action="store_true", help="also report -10*log10(1 - score)")
    output.add_argument("--fail-under", type=float, metavar="X", help="exit 1 if the pooled mean is below X")
    output.add_argument("--map", type=Path, metavar="OUT.png", help="one image pair: save its SSIM index map")
    output.add_argument("--plot", type=Path, metavar="OUT.png", help="videos: plot the per-frame scores (matplotlib)")
    scale = parser.add_argument_group("scale")
    scale.add_argument(
        "--workers",
        type=_positive_int,
        help="processes on this machine (default: one per core for more than 16 pairs)",
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
    raw = None
    if args.size is not None:
        raw = RawVideo(*args.size, args.pix_fmt or PIXEL_FORMATS[0])
    elif args.pix_fmt is not None:
        parser.error("--pix-fmt describes raw .yuv files; give their --size WxH too")
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
        subsample=args.subsample,
        offset=args.offset,
        shortest=args.shortest,
        scale=args.scale,
        raw=raw,
        engine=args.engine,
        numerics=args.numerics,
        convention=args.convention,
        volume=args.volume,
        exif_orientation=args.exif_orientation,
    )
    if args.volume and (args.scale or args.map or args.exif_orientation):
        what = "--scale" if args.scale else "--map" if args.map else "--exif-orientation"
        parser.error(f"{what} takes 2-D images; it does not apply with --volume")
    for given, clash, why in (
        (args.ssim and args.power_factors is not None, "--power-factors with --ssim", "SSIM has one scale"),
        (args.workers and args.scheduler, "--workers with --scheduler", "the cluster's workers score the pairs"),
        (args.overwrite and not args.output, "--overwrite without -o", "it replaces the -o file"),
    ):
        if given:
            parser.error(f"{clash}: {why}; leave one out")
    try:  # the library's own checks, so that a bad parameter is a usage error
        _validate.parameters(
            1.0 if args.max_val is None else args.max_val, args.filter_size, args.filter_sigma, args.k1, args.k2
        )
        if args.power_factors is not None:
            _validate.power_factors(args.power_factors)
        conv = _conventions.convention(args.convention, args.numerics)
        _conventions.window_size(conv, args.filter_size, args.filter_sigma, None if args.ssim else 5)
    except (TypeError, ValueError) as exc:
        parser.error(str(exc))
    if args.fail_under is not None and not 0 <= args.fail_under <= 1:
        parser.error(f"--fail-under must be in [0, 1], got {args.fail_under}")
    return options


def _pairs(args: argparse.Namespace, parser: argparse.ArgumentParser) -> tuple[list[Pair], list[str]]:
    """The pairs to score, and the files of the folders that are skipped."""
    if args.pairs is not None:
        if args.reference or args.distorted:
            parser.error("give either REFERENCE DISTORTED or --pairs FILE, not both")
        return pairs_from_manifest(args.pairs), []
    if not (args.reference and args.distorted):
        parser.error("give REFERENCE and DISTORTED (images, videos or folders), or --pairs FILE")
    reference, distorted = Path(args.reference), Path(args.distorted)
    if reference.is_dir() and distorted.is_dir():
        return pairs_from_folders(reference, distorted)
    if reference.is_dir() or distorted.is_dir():
        for path in (reference, distorted):
            if not path.exists():
                raise PairError(f"{path}: no such file or folder")
        parser.error("REFERENCE and DISTORTED must both be folders or both be files")
    return [file_pair(args.reference, args.distorted)], []


# Options that only videos use, as (attribute, its default, how it is spelled).
_VIDEO_ONLY = (
    ("frames", slice(None), "--frames"),
    ("subsample", 1, "--subsample"),
    ("offset", 0, "--offset"),
    ("shortest", False, "--shortest"),
    ("plot", None, "--plot"),
)


def _check_against_pairs(args: argparse.Namespace, parser: argparse.ArgumentParser, pairs: list[Pair]) -> None:
    """Usage errors that depend on what the files are."""
    if args.map and (len(pairs) != 1 or pairs[0].is_video or _animated(pairs[0])):
        parser.error("--map needs exactly one pair of still images")
    if args.volume and any(p.is_video for p in pairs):
        parser.error("--volume reads .npy files and TIFF stacks, and these are videos")
    given = [flag for name, default, flag in _VIDEO_ONLY if getattr(args, name) != default]
    files = [p for p in pairs if p.kind != "folder"]  # (an unread folder's entry says nothing of what the files are)
    if given and files and not any(p.is_video or (not args.volume and _animated(p)) for p in files):
        verb = "applies" if len(given) == 1 else "apply"
        parser.error(f"{' and '.join(given)} {verb} to videos and animated images, and these are still images")
    raw = [path for p in pairs for path in p.key if Path(path).suffix.lower() in RAW_SUFFIXES]
    if raw and args.size is None:
        parser.error(f"{raw[0]} is raw YUV, which has no header: give its --size WxH (and --pix-fmt, default yuv420p)")
    if not raw and args.size is not None:
        parser.error("--size and --pix-fmt describe raw .yuv files, and none is given")
    for flag, path in (("--map", args.map), ("--plot", args.plot)):
        if path is not None:
            _check_picture_path(parser, flag, path)


def _animated(pair: Pair) -> bool:
    """Whether either file is an animated image (scored frame by frame, as videos are)."""
    from msssim._dataset import _animated as both_animated

    try:
        return not pair.missing and both_animated(pair)
    except PairError:  # (one animated, the other still: an error when scored, that says so)
        return True


def _check_picture_path(parser: argparse.ArgumentParser, flag: str, path: Path) -> None:
    if flag == "--map":
        from PIL import Image

        known = {suffix for suffix, kind in Image.registered_extensions().items() if kind in Image.SAVE}
    else:
        known = {".png", ".pdf", ".svg", ".jpg", ".jpeg", ".webp", ".eps", ".tif", ".tiff"}
    if path.suffix.lower() not in known:
        shown = "no extension" if not path.suffix else f"the extension {path.suffix}"
        parser.error(f"{flag} {path} has {shown}; name a picture, such as {path.stem or 'out'}.png (or .svg, .pdf)")
    if not path.parent.is_dir():
        parser.error(f"{flag} {path}: the folder {path.parent} does not exist")


_FORMAT_OF_SUFFIX = {".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}
_DESCRIBED = {
    "table": "a table",
    "json": "a JSON document",
    "jsonl": "JSON lines",
    "csv": "CSV",
    "other": "something msssim did not write",
}


def _output_format(args: argparse.Namespace, parser: argparse.ArgumentParser) -> str:
    """``--format``, or the one the -o file's extension names; an existing -o
    file in another format is refused (unless ``--overwrite``), never appended to."""
    if args.output is None:
        return args.format or "table"
    fmt = args.format or _FORMAT_OF_SUFFIX.get(args.output.suffix.lower(), "table")
    if args.output.is_dir() or not args.output.parent.is_dir():
        parser.error(f"-o {args.output}: expected a file in an existing folder")
    _check_writable(args.output, parser)
    found = None if args.overwrite else existing_format(args.output)
    if found is not None and found != fmt:
        parser.error(
            f"{args.output} holds {_DESCRIBED[found]}, and this run writes {_DESCRIBED[fmt]}; "
            "write to another file with -o, or pass --overwrite to replace it"
        )
    return fmt


def _check_writable(path: Path, parser: argparse.ArgumentParser) -> None:
    """A usage error, before any scoring, where ``-o`` cannot be written
    (a read-only folder or file): the results would be lost at the end."""
    target = Path(os.path.realpath(path))  # (what a link, dangling too, points at: the file to be written)
    existed = target.exists()
    if existed and not target.is_file():  # (a device or a pipe: opening it may wait for the other end)
        return
    try:
        with open(target, "a"):
            pass
    except OSError as exc:
        parser.error(f"-o {path}: cannot write it ({exc.strerror or exc})")
    if not existed:
        target.unlink(missing_ok=True)


class OutputError(Exception):
    """The results could not be written where they go (a full disk, a closed device)."""


def _written(write, where: str):
    """``write(...)``, its OSError an :class:`OutputError` that names ``where``."""

    def checked(*args):
        try:
            return write(*args)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise OutputError(f"cannot write to {where} ({exc.strerror or exc})") from None

    return checked


def _to_stdout(text: str) -> None:
    """``text`` on stdout, file names that are not UTF-8 as their bytes (as
    ``-o`` files take them), whatever stdout's encoding's error handler."""
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:  # (a text stream without bytes under it: a test's capture)
        sys.stdout.write(text)
        return
    sys.stdout.flush()
    encoding = sys.stdout.encoding or "utf-8"
    try:
        data = text.encode(encoding, "surrogateescape")
    except UnicodeEncodeError:  # (a name of characters the encoding lacks: ASCII's, say)
        data = text.encode(encoding, "backslashreplace")
    buffer.write(data)
    buffer.flush()


def _spelled(setting: str, value) -> str:
    """A recorded setting as the command line spells it."""
    if setting == "msssim_version":
        return f"msssim {value}"
    if setting == "metric":
        return "--ssim" if value == "ssim" else "MS-SSIM (no --ssim)"
    flag = "--" + setting.replace("_", "-")
    if value is None or value is False:
        return f"no {flag}"
    if value is True:
        return flag

    def number(x) -> str:
        return str(int(x)) if isinstance(x, float) and x.is_integer() else str(x)

    return f"{flag} {','.join(map(number, value)) if isinstance(value, list) else number(value)}"


def _mismatch_message(exc: SettingsMismatch) -> str:
    fixes = "write to another file with -o, or pass --overwrite to score every pair again into it"
    if not exc.differ:
        return (
            f"{exc.path} records no settings (an older msssim wrote it), so its results cannot be checked "
            f"against this run's; {fixes}"
        )
    made = ", ".join(_spelled(key, old) for key, old, _ in exc.differ)
    asked = ", ".join(_spelled(key, new) for key, _, new in exc.differ)
    return (
        f"{exc.path} holds results made with {made}, and this run asks for {asked}; resuming would mix them. "
        f"Rerun with the file's settings to finish it, {fixes}"
    )


def _log(message: str) -> None:
    print(f"msssim: {message}", file=sys.stderr, flush=True)


def _log_skipped(skipped: list[str]) -> None:
    if skipped:
        shown = ", ".join(skipped[:5]) + (f" and {len(skipped) - 5} more" if len(skipped) > 5 else "")
        _log(f"skipped {len(skipped)} files that are neither images nor videos: {shown}")


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, a batch system's time limit), handled as Ctrl-C is:
    the results so far are kept and the worker processes stopped."""


def _terminate(signum, frame):
    raise Terminated


def main(argv: Sequence[str] | None = None) -> int:
    main_thread = threading.current_thread() is threading.main_thread()  # (only it may set a handler)
    previous = signal.signal(signal.SIGTERM, _terminate) if main_thread else None
    try:
        return _main(argv)
    except KeyboardInterrupt as exc:  # (before or after the scoring: reading folders, writing a table)
        _log("terminated" if isinstance(exc, Terminated) else "interrupted")
        return EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED
    except BrokenPipeError:  # (``| head``: the reader has what it wanted; no traceback, nothing more written)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_PIPE
    finally:
        if previous is not None:  # (None: a handler set outside Python, which cannot be put back)
            signal.signal(signal.SIGTERM, previous)


def _main(argv: Sequence[str] | None) -> int:
    from msssim._video import report_decoder_errors

    report_decoder_errors()  # (a damaged video's frames are named on stderr, as FFmpeg does)
    parser = build_parser()
    args = parser.parse_args(_values_joined(sys.argv[1:] if argv is None else argv, parser))  # exits 2 on a usage error
    options = _options(args, parser)
    fmt = _output_format(args, parser)
    try:
        pairs, skipped = _pairs(args, parser)
    except PairError as exc:
        _log(f"error: {exc}")
        return EXIT_FAILED
    _check_against_pairs(args, parser, pairs)
    _log_skipped(skipped)
    if not pairs:
        where = f"{args.pairs} lists no pairs" if args.pairs else "the folders hold no image or video files"
        _log(f"error: nothing to score: {where}")
        return EXIT_FAILED

    recorded = {**options.parameters(), "db": args.db}  # (the settings: a JSONL file's lines are made alike)
    sink = None
    if fmt == "jsonl":
        if args.output and args.overwrite and args.output.is_file():
            open(args.output, "w").close()  # (emptied, not unlinked: a link is written through, as other formats)
        try:
            sink = JsonLines.resume(args.output, recorded) if args.output else None
            if sink is None:
                sink = JsonLines.start(sys.stdout, recorded)
        except SettingsMismatch as exc:
            parser.error(_mismatch_message(exc))
        except OSError as exc:
            _log(f"error: cannot write to {args.output or 'stdout'} ({exc.strerror or exc})")
            return EXIT_FAILED
    # a pair's last row in the file (a pair that failed, and was tried again, has two); only this
    # job's pairs: a file that other runs also wrote to does not mix theirs into this run's summary
    job = {p.key for p in pairs}
    previous = {(r.get("reference"), r.get("distorted")): r for r in (sink.previous if sink else [])}
    previous = {key: r for key, r in previous.items() if key in job}
    finished = {key for key, r in previous.items() if "error" not in r}  # (failed pairs are tried again)
    todo = [p for p in pairs if p.key not in finished]
    if previous:
        again = sum(p.key in previous for p in todo)
        retried = f" ({again} of them again: they failed before)" if again else ""
        _log(f"{len(pairs) - len(todo)} pairs already in {args.output}; scoring the other {len(todo)}{retried}")
    workers = args.workers or (cores() if len(todo) > 16 else 1)

    results: dict[tuple[str, str], dict] = {}
    progress = _Progress(todo, options)

    def on_result(result: dict) -> None:
        if args.db:
            with_decibels(result, options.metric)
        results[(result["reference"], result["distorted"])] = result
        if sink:
            _written(sink.write, str(args.output or "stdout"))(result)
        if "error" in result:
            _log(f"error: {result['error']}")
        progress.done(result)

    stopped: KeyboardInterrupt | None = None
    try:
        run(todo, options, on_result, workers=workers, scheduler=args.scheduler, on_frame=progress.frame)
    except KeyboardInterrupt as exc:  # (Ctrl-C, or SIGTERM: the results so far are still written)
        stopped = exc
    except PairError as exc:
        progress.close()
        _log(f"error: {exc}")
        return EXIT_FAILED
    except OutputError as exc:  # (JSONL: the lines written before stay, for the same command to finish)
        progress.close()
        kept = f"; the {len(results) - 1} results before are in it: run the same command to finish"
        _log(f"error: {exc}{kept if args.output else ''}")
        return EXIT_FAILED
    finally:
        if sink:
            try:
                sink.close()
            except OSError:  # (what could not be flushed was reported above)
                pass
    progress.close()

    tried = {p.key for p in todo if p.key in results}
    everything = [r for key, r in previous.items() if key not in tried] + [
        results[p.key] for p in todo if p.key in tried
    ]
    if args.db:
        for result in everything:
            with_decibels(result, options.metric)
    if sink is None:
        text = render(everything, recorded, options.metric, fmt, args.db, skipped)
        try:
            if args.output:
                _written(args.output.write_text, str(args.output))(text, "utf-8", "surrogateescape")
            else:
                _written(_to_stdout, "stdout")(text)
        except OutputError as exc:
            if not args.output:
                _log(f"error: {exc}; the results are lost")
                return EXIT_FAILED
            _log(f"error: {exc}; the results follow on stdout instead")
            try:
                _written(_to_stdout, "stdout")(text)
            except OutputError as again:
                _log(f"error: {again}; the results are lost")
            return EXIT_FAILED
    if stopped is not None:
        return _stopped(stopped, len(results), len(todo), args.output if fmt == "jsonl" else None)
    stats = pooled(everything, options.metric)
    if stats["count"] and (sink is not None or args.output):
        _log(f"{stats['count']} of {len(everything)} pairs scored; mean {stats['mean']:.6f}")
    try:
        _pictures(args, pairs, options, everything)
    except (OSError, RuntimeError, ValueError) as exc:
        _log(f"error: {exc}")
        return EXIT_FAILED
    if not stats["count"]:
        if len(everything) > 1:  # one pair's error said it all
            _log(f"error: nothing scored: none of the {len(everything)} pairs could be scored")
        return EXIT_FAILED
    if any("error" in r for r in everything):
        return EXIT_FAILED
    if args.fail_under is not None and stats["mean"] < args.fail_under:
        _log(f"pooled mean {stats['mean']:.6f} is below --fail-under {args.fail_under}")
        return EXIT_BELOW
    return EXIT_OK


def _stopped(stop: KeyboardInterrupt, done: int, todo: int, resumable: Path | None) -> int:
    """Say that the run was stopped, and how much of it is kept, and return its exit status."""
    how = "terminated" if isinstance(stop, Terminated) else "interrupted"
    finish = f" are in {resumable}; run the same command to finish" if resumable else " are written"
    partial = getattr(stop, "result", None)  # (a video stopped part way: its frames so far are written too)
    part = f" and {len(partial['frames'])} frames of {partial['distorted']}" if partial else ""
    _log(f"{how} after {done - bool(partial)} of {todo} pairs{part}; their results{finish}")
    return EXIT_TERMINATED if isinstance(stop, Terminated) else EXIT_INTERRUPTED


class _Progress:
    """A progress bar on stderr when it is a terminal (tqdm): one step per
    image pair and per video frame (frames counted from the files' headers)."""

    def __init__(self, todo: list[Pair], options: Options):
        self.bar, self.frames = None, 0
        self.videos = {p.key for p in todo if p.is_video and not p.missing}  # (an animated GIF counts one)
        if not sys.stderr.isatty():
            return
        try:
            from tqdm import tqdm
        except ImportError:
            return
        videos = [p for p in todo if p.is_video and not p.missing]
        self.bar = tqdm(
            total=_work(todo, videos, options),
            unit="frame" if videos else "pair",
            file=sys.stderr,
            dynamic_ncols=True,
        )

    def frame(self) -> None:
        """A video frame scored, in this process."""
        if self.bar is not None:
            self.frames += 1
            self.bar.update(1)

    def done(self, result: dict) -> None:
        """A pair scored: an image counts one, a video its frames not yet counted."""
        if self.bar is not None:
            video = (result["reference"], result["distorted"]) in self.videos and "frames" in result
            self.bar.update(max(0, len(result["frames"]) - self.frames) if video else 1)
            self.frames = 0

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _work(todo: list[Pair], videos: list[Pair], options: Options) -> int | None:
    from msssim._video import frame_count

    total = len(todo) - len(videos)
    for pair in videos:
        count = frame_count(pair.reference, options.raw)
        if count is None:
            return None
        total += len(range(*options.selected_frames().indices(count)))
    return total


def _pictures(args, pairs: list[Pair], options: Options, results: list[dict]) -> None:
    from msssim import _pictures

    if args.map and results and "error" not in results[0]:
        from msssim._dataset import score_index_map

        index_map = score_index_map(pairs[0], options)
        title = f"SSIM map, {Path(pairs[0].distorted).name}: mean {float(index_map.mean()):.4f}"
        _pictures.save_index_map(index_map, args.map, title)
    if args.plot and any(r.get("frames") for r in results):
        _pictures.save_frame_plot(results, options.metric, args.plot)
    elif args.plot:
        _log(f"no video was scored: {args.plot} is not written")


if __name__ == "__main__":
    sys.exit(main())

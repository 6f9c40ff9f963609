"""Results out: pooled statistics, the output formats, and the JSONL file that a
run appends to and resumes from.

The JSON document (schema_version 1)::

    {"schema_version": 1, "msssim_version": "...", "parameters": {...},
     "results": [{"reference": ..., "distorted": ..., "ms_ssim": ...,
                  "frames": [{"frame": n, "ms_ssim": v}, ...]}   # videos only
                 | {"reference": ..., "distorted": ..., "error": "..."}],
     "pooled": {"count", "mean", "median", "min", "max", "stdev",
                "harmonic_mean", "p5", "p95"},
     "skipped": [paths in the folders that are neither images nor videos]}

A video frame is numbered as in the reference; with ``--offset`` it also has
``distorted_frame``, the distorted's number. An ``error`` names the file at
fault and its side, ``"a.png (reference): no such file"``, or both files when
it is the pair, ``"d.png vs r.png: sizes differ: ..."``.

With ``--ssim`` the score key is ``ssim``; with ``--db`` each score also has a
``<metric>_db`` twin, ``-10 log10(1 - score)`` (null where the score is 1).
JSONL starts with a settings line, the document's header
(``{"schema_version": 1, "msssim_version": ..., "parameters": {...}}``: it has
``parameters`` and no ``reference``), then has one result object per line; a
run that resumes a JSONL file refuses it unless every setting and the version
are the same (:func:`mismatched_settings`). CSV has the columns
reference, distorted, score, error. Results are in input order, except in
JSONL, where they are in the order they complete.
"""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
from pathlib import Path
from typing import Any, TextIO

import numpy as np

SCHEMA_VERSION = 1
FORMATS = ("table", "json", "csv", "jsonl")


def decibels(score: float) -> float | None:
    """``-10 log10(1 - score)``; None for a perfect score."""
    return None if score >= 1 else round(-10 * math.log10(1 - score), 4)


def with_decibels(result: dict, metric: str) -> dict:
    if metric in result:
        result[f"{metric}_db"] = decibels(result[metric])
        for frame in result.get("frames", []):
            frame[f"{metric}_db"] = decibels(frame[metric])
    return result


def pooled(results: list[dict], metric: str) -> dict[str, Any]:
    """Statistics over the pairs that scored (a video counts once, by its mean)."""
    scores = np.array([r[metric] for r in results if metric in r], dtype=np.float64)
    if not scores.size:
        return {"count": 0}
    positive = scores[scores > 0]
    return {
        "count": int(scores.size),
        "mean": float(scores.mean()),
        "median": float(np.median(scores)),
        "min": float(scores.min()),
        "max": float(scores.max()),
        "stdev": float(statistics.stdev(scores)) if scores.size > 1 else 0.0,
        "harmonic_mean": float(statistics.harmonic_mean(positive)) if positive.size == scores.size else 0.0,
        "p5": float(np.percentile(scores, 5)),
        "p95": float(np.percentile(scores, 95)),
    }


def header(parameters: dict) -> dict:
    """What the results were made with: the JSON document's first keys, and the
    first line of a JSONL file."""
    import msssim

    return {"schema_version": SCHEMA_VERSION, "msssim_version": msssim.__version__, "parameters": parameters}


def document(results: list[dict], parameters: dict, metric: str, skipped: list[str] = ()) -> dict:
    return {**header(parameters), "results": results, "pooled": pooled(results, metric), "skipped": list(skipped)}


def render(results: list[dict], parameters: dict, metric: str, fmt: str, decibel: bool, skipped: list[str] = ()) -> str:
    """The whole output of a finished run in ``fmt`` (not JSONL, which streams)."""
    if fmt == "json":
        return json.dumps(document(results, parameters, metric, skipped), indent=2) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        columns = ["reference", "distorted", metric] + ([f"{metric}_db"] if decibel else []) + ["error"]
        writer = csv.DictWriter(out, columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(results)
        return out.getvalue()
    return _table(results, metric, decibel)


def _table(results: list[dict], metric: str, decibel: bool) -> str:
    def shown(result: dict) -> str:
        if "error" in result:
            return "error: " + result["error"]
        value = result[metric]
        db = result.get(f"{metric}_db")
        return f"{value:.6f}" + (f"  ({'inf' if db is None else f'{db:.2f}'} dB)" if decibel else "")

    if not results:
        return ""
    if len(results) == 1 and "frames" not in results[0]:
        # One image pair: the score alone, for scripts (an error went to stderr).
        return "" if "error" in results[0] else shown(results[0]) + "\n"
    rows = []
    for result in results:
        rows.append((result["distorted"], shown(result)))
        for frame in result.get("frames", []) if len(results) == 1 else []:
            rows.append((f"  frame {frame['frame']}", shown(frame)))
    width = max(len(label) for label, _ in [("distorted", ""), *rows])
    lines = [f"{label:<{width}}  {value}" for label, value in [("distorted", metric), *rows]]
    stats = pooled(results, metric)
    if stats["count"]:
        lines.append(
            f"pooled over {stats['count']}: mean {stats['mean']:.6f}  median {stats['median']:.6f}  "
            f"min {stats['min']:.6f}  max {stats['max']:.6f}  p5 {stats['p5']:.6f}  p95 {stats['p95']:.6f}"
        )
    return "\n".join(lines) + "\n"


# What a resumed JSONL run must share with the results already in the file
# (results made otherwise would be pooled as if they were alike): every
# parameter but the engine, whose numbers are the same, and the version.
NOT_COMPARED = ("engine",)


class SettingsMismatch(Exception):
    """A JSONL file to resume whose results were made otherwise: ``differ``
    lists ``(setting, in the file, in this run)``; an empty list means the
    file records no settings (an older msssim wrote it)."""

    def __init__(self, path: Path, differ: list[tuple[str, Any, Any]]):
        super().__init__(f"{path}: results made with other settings: {differ}")
        self.path, self.differ = path, differ


def _is_header(row) -> bool:
    return isinstance(row, dict) and isinstance(row.get("parameters"), dict) and "reference" not in row


def mismatched_settings(recorded: dict, current: dict) -> list[tuple[str, Any, Any]]:
    """``(setting, recorded, current)`` for each that differs between two
    headers (:func:`header`)."""
    differ = []
    if recorded.get("msssim_version") != current["msssim_version"]:
        differ.append(("msssim_version", recorded.get("msssim_version"), current["msssim_version"]))
    old, new = recorded["parameters"], current["parameters"]
    for key in new:
        if key not in old and new[key] in (False, None):  # (a setting added since, left off: as before it was)
            continue
        if key not in NOT_COMPARED and old.get(key) != new[key]:
            differ.append((key, old.get(key), new[key]))
    if any(key == "metric" for key, _, _ in differ):  # SSIM has no power factors: that difference says no more
        differ = [d for d in differ if d[0] != "power_factors"]
    return differ


def existing_format(path: Path) -> str | None:
    """The format of the results already in ``path``: one of :data:`FORMATS`,
    ``"other"`` for a file msssim did not write, None if there is none (or
    it is no regular file: a device, a pipe or a terminal is never read)."""
    if not path.is_file():
        return None
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 16)
    except OSError:
        return None
    text = head.decode("utf-8", "replace")
    if not text.strip():
        return None
    first = text.lstrip().splitlines()[0]
    if first.startswith("{"):
        try:
            row = json.loads(first)
        except json.JSONDecodeError:
            return "json" if first.strip() == "{" else "other"
        return "jsonl" if isinstance(row, dict) and ("parameters" in row or "reference" in row) else "other"
    if first.startswith("reference,distorted,"):
        return "csv"
    if first.startswith("distorted ") or first.split("  ")[0].replace(".", "", 1).isdigit():
        return "table"
    return "other"


class JsonLines:
    """Results appended to a JSONL stream, one line each, flushed at once, after
    a first line with the settings (:func:`header`).

    Opened on a file, it first reads what an earlier run left there (a cut-off
    last line is dropped), so that run can skip those pairs, and refuses to
    add results made with other settings (:func:`mismatched_settings`).
    """

    def __init__(self, stream: TextIO, previous: list[dict] | None = None, owned: bool = False):
        self.stream = stream
        self.previous = previous or []
        self.owned = owned

    @classmethod
    def start(cls, stream: TextIO, parameters: dict) -> JsonLines:
        """A new stream: the settings line, then the results as they come."""
        sink = cls(stream)
        sink.write(header(parameters))
        return sink

    @classmethod
    def resume(cls, path: Path, parameters: dict) -> JsonLines:
        """The file at ``path``, to append to: its results in ``previous``, its
        settings checked against ``parameters`` (:class:`SettingsMismatch`)."""
        rows, complete = [], b""
        if path.is_file():  # (a device or a pipe is written to, never read)
            data = path.read_bytes()
            complete = data[: data.rfind(b"\n") + 1]
            for line in complete.decode("utf-8", "replace").splitlines():  # (a line of other bytes is no result)
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        recorded = rows[0] if rows and _is_header(rows[0]) else None
        if rows and recorded is None:
            raise SettingsMismatch(path, [])
        if recorded is not None:
            differ = mismatched_settings(recorded, header(parameters))
            if differ:
                raise SettingsMismatch(path, differ)
        if path.is_file() and len(complete) != path.stat().st_size:  # killed mid-line: drop the fragment
            with open(path, "r+b") as f:
                f.truncate(len(complete))
        results = [r for r in rows if isinstance(r, dict) and not _is_header(r)]
        sink = cls(open(path, "a", encoding="utf-8"), results, owned=True)
        if not rows:  # a new (or empty) file: its first line says what its results are made with
            try:
                sink.write(header(parameters))
            except OSError:
                sink.stream.close()  # (a full disk: closing may fail too, flushing what could not be written)
                raise
        return sink

    def write(self, result: dict) -> None:
        self.stream.write(json.dumps(result) + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.owned:
            self.stream.close()

"""Predictions as a table on screen, a CSV or a JSON file, optionally with every window of each song."""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path

from genre_lightning.errors import UserError
from genre_lightning.files import write_text
from genre_lightning.predict.inference import Prediction
from genre_lightning.tables import align, shown

FORMATS = (".csv", ".json")


def ranked(class_names: list[str], probabilities: list[float], *keys: list[float]) -> list[tuple[str, float]]:
    """(genre, probability), ordered by ``keys`` (one value per genre each, highest first; a tie on one key
    goes to the next)."""
    order = sorted(range(len(class_names)), key=lambda i: [-key[i] for key in keys])
    return [(class_names[i], probabilities[i]) for i in order]


def top_k(prediction: Prediction, class_names: list[str], k: int) -> list[tuple[str, float]]:
    """The k most probable genres, or under aggregate=vote the k most voted for, with their probabilities;
    a tie (two windows voting for two genres) goes to the genre with the higher mean window probability."""
    mean = [sum(column) / len(column) for column in zip(*prediction.window_probabilities)]
    first = prediction.probabilities if prediction.votes is None else prediction.votes
    return ranked(class_names, prediction.probabilities, first, mean)[:k]


def clock(seconds: float) -> str:
    """Seconds into a song as m:ss, with tenths where they are not zero (1:05, 1:05.5)."""
    minutes, tenths = divmod(round(seconds * 10), 600)
    return f"{minutes}:{tenths // 10:02d}" + (f".{tenths % 10}" if tenths % 10 else "")


def timeline(prediction: Prediction, class_names: list[str], k: int) -> list[dict]:
    """A song's windows: each one's start and end (seconds), top genres and class probabilities."""
    windows = []
    for (start, end), probabilities in zip(prediction.spans or [], prediction.window_probabilities):
        best = ranked(class_names, probabilities, probabilities)[:k]
        windows.append(
            {
                "start": round(start, 3),
                "end": round(end, 3),
                "genre": best[0][0],
                "probability": best[0][1],
                "top_k": [{"genre": name, "probability": q} for name, q in best],
                "probabilities": dict(zip(class_names, probabilities)),
            }
        )
    return windows


def format_predictions(
    predictions: list[Prediction], class_names: list[str], k: int, per_window: bool = False
) -> str:
    """One row per file; with ``per_window``, each song's windows below it, named by their times. Under
    aggregate=vote a last column gives the votes of each song's genre (windows that rank it first)."""
    voted = any(p.votes is not None for p in predictions)
    rows = [["file", "genre", "prob", f"top {k}", *(["votes"] if voted else [])]]

    def row(name: str, best: list[tuple[str, float]], votes: str = "") -> list[str]:
        shown = [name, best[0][0], f"{best[0][1]:.1%}", ", ".join(f"{genre} {q:.1%}" for genre, q in best)]
        return shown + ([votes] if voted else [])

    for p in predictions:
        if p.error:
            rows.append([shown(p.file), "ERROR", "", p.error, *([""] if voted else [])])
            continue
        best = top_k(p, class_names, k)
        votes = "" if p.votes is None else f"{p.votes[class_names.index(best[0][0])]}/{p.windows}"
        rows.append(row(shown(p.file), best, votes))
        for w in timeline(p, class_names, k) if per_window else []:
            best = [(t["genre"], t["probability"]) for t in w["top_k"]]
            rows.append(row(f"  {clock(w['start'])}-{clock(w['end'])}", best))
    return align(rows, left=len(rows[0]))


def to_records(
    predictions: list[Prediction], class_names: list[str], k: int, per_window: bool = False
) -> list[dict]:
    records = []
    for p in predictions:
        record = {
            "file": p.file,
            "genre": None,
            "probability": None,
            "top_k": [],
            "windows": p.windows,
            "error": p.error,
            "warnings": p.warnings,
        }
        if not p.error:
            best = top_k(p, class_names, k)
            record.update(
                genre=best[0][0],
                probability=best[0][1],
                top_k=[{"genre": name, "probability": q} for name, q in best],
                probabilities=dict(zip(class_names, p.probabilities)),
            )
            if p.votes is not None:
                record["votes"] = dict(zip(class_names, p.votes))
            if per_window and p.spans is not None:
                record["timeline"] = timeline(p, class_names, k)
        records.append(record)
    return records


def check_options(path: str | os.PathLike | None, k: int, overwrite: bool = False) -> None:
    """Fail before any work on a top_k below 1 or an output file that could not be written: of unknown
    format, an existing file (unless ``overwrite``), or in a folder that is missing or takes no files."""
    if k < 1:
        raise UserError(f"top_k={k}: must be at least 1")
    if path is None:
        return
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise UserError(f"output={path}: unknown format; name the file .csv or .json")
    if path.is_dir():
        raise UserError(f"output={path}: is a folder; name a .csv or .json file")
    if path.exists() and not overwrite:
        raise exists_error("output", path)
    if not path.parent.is_dir():
        raise UserError(
            f"output={path}: folder {path.parent} does not exist; create it first, or name a file in an "
            "existing folder"
        )
    try:
        with tempfile.TemporaryFile(dir=path.parent):
            pass
    except OSError as err:
        raise UserError(
            f"output={path}: cannot write in {path.parent} ({err.strerror}); choose another folder"
        ) from None


def exists_error(key: str, path: str | os.PathLike) -> UserError:
    """The one line for an output file that is there already: found before the work, or claimed by another
    process while this one worked (writes are exclusive unless ``overwrite``)."""
    return UserError(
        f"{key}={path}: the file exists; pass overwrite=true to replace it, or name another file"
    )


def format_warnings(predictions: list[Prediction]) -> list[str]:
    """One line per doubt about a prediction, naming its file, for stderr."""
    return [f"warning: {shown(p.file)}: {message}" for p in predictions for message in p.warnings]


def csv_top_k(record: dict) -> str:
    return " ".join(f"{t['genre']}:{t['probability']:.4f}" for t in record["top_k"])


def write_predictions(
    path: str | os.PathLike,
    predictions: list[Prediction],
    class_names: list[str],
    k: int,
    checkpoints: list[Path],
    per_window: bool = False,
    aggregate: str = "mean",
    overwrite: bool = False,
) -> Path:
    """CSV: one row per file with its top-k and every class probability (and with ``per_window``, one row per
    window of each song below its row). JSON: the same plus the models used. The file is created only
    where none is (unless ``overwrite``): a process that wrote it meanwhile keeps it."""
    records = to_records(predictions, class_names, k, per_window)
    if Path(path).suffix.lower() == ".json":
        payload = {
            "checkpoints": [str(c) for c in checkpoints],
            "classes": class_names,
            "aggregate": aggregate,
            "predictions": records,
        }
        text = json.dumps(payload, indent=2) + "\n"
    else:
        text = csv_table(records, class_names, per_window)
    try:
        return write_text(path, text, exclusive=not overwrite)
    except FileExistsError:
        raise exists_error("output", path) from None


def csv_table(records: list[dict], class_names: list[str], per_window: bool) -> str:
    """to_records' records as CSV, one row per file, and with ``per_window`` one per window below it."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    times = ["start", "end"] if per_window else []
    # aggregate=vote: the votes of the row's genre (windows that rank it first), as the table shows them
    voted = ["votes"] if any("votes" in r for r in records) else []
    header = [
        "file",
        "genre",
        "probability",
        "top_k",
        "windows",
        *voted,
        "error",
        "warnings",
        *times,
        *class_names,
    ]
    writer.writerow(header)
    for r in records:
        probs = (
            [f"{q:.6f}" for q in r["probabilities"].values()]
            if "probabilities" in r
            else [""] * len(class_names)
        )
        probability = "" if r["probability"] is None else f"{r['probability']:.6f}"
        votes = (
            [f"{r['votes'][r['genre']]}/{r['windows']}" if "votes" in r and r["genre"] else ""]
            if voted
            else []
        )
        song = [
            r["file"],
            r["genre"] or "",
            probability,
            csv_top_k(r),
            r["windows"],
            *votes,
            r["error"] or "",
        ]
        writer.writerow(song + ["; ".join(r["warnings"])] + [""] * len(times) + probs)
        for w in r.get("timeline", []):
            window = [
                r["file"],
                w["genre"],
                f"{w['probability']:.6f}",
                csv_top_k(w),
                "",
                *[""] * len(voted),
                "",
                "",
            ]
            writer.writerow(
                window + [w["start"], w["end"]] + [f"{q:.6f}" for q in w["probabilities"].values()]
            )
    return buffer.getvalue()

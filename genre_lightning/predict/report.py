"""Predictions as a table on screen, a CSV or a JSON file."""

from __future__ import annotations

import csv
import io
import os
import tempfile
from pathlib import Path

from genre_lightning.errors import UserError
from genre_lightning.files import write_json, write_text
from genre_lightning.predict.inference import Prediction
from genre_lightning.tables import align

FORMATS = (".csv", ".json")


def top_k(prediction: Prediction, class_names: list[str], k: int) -> list[tuple[str, float]]:
    ranked = sorted(zip(class_names, prediction.probabilities), key=lambda item: -item[1])
    return ranked[:k]


def format_predictions(predictions: list[Prediction], class_names: list[str], k: int) -> str:
    rows = [["file", "genre", "prob", f"top {k}"]]
    for p in predictions:
        if p.error:
            rows.append([p.file, "ERROR", "", p.error])
        else:
            best = top_k(p, class_names, k)
            rows.append(
                [p.file, best[0][0], f"{best[0][1]:.1%}", ", ".join(f"{name} {q:.1%}" for name, q in best)]
            )
    return align(rows, left=len(rows[0]))


def to_records(predictions: list[Prediction], class_names: list[str], k: int) -> list[dict]:
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
        raise UserError(
            f"output={path}: the file exists; pass overwrite=true to replace it, or name another file"
        )
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


def format_warnings(predictions: list[Prediction]) -> list[str]:
    """One line per doubt about a prediction, naming its file, for stderr."""
    return [f"warning: {p.file}: {message}" for p in predictions for message in p.warnings]


def write_predictions(
    path: str | os.PathLike,
    predictions: list[Prediction],
    class_names: list[str],
    k: int,
    checkpoints: list[Path],
) -> Path:
    """CSV: one row per file with its top-k and every class probability. JSON: the same plus the models
    used."""
    records = to_records(predictions, class_names, k)
    if Path(path).suffix.lower() == ".json":
        return write_json(
            path,
            {"checkpoints": [str(c) for c in checkpoints], "classes": class_names, "predictions": records},
        )
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["file", "genre", "probability", "top_k", "windows", "error", "warnings", *class_names])
    for r in records:
        top = " ".join(f"{t['genre']}:{t['probability']:.4f}" for t in r["top_k"])
        probs = (
            [f"{q:.6f}" for q in r["probabilities"].values()]
            if "probabilities" in r
            else [""] * len(class_names)
        )
        probability = "" if r["probability"] is None else f"{r['probability']:.6f}"
        doubts = "; ".join(r["warnings"])
        writer.writerow(
            [r["file"], r["genre"] or "", probability, top, r["windows"], r["error"] or "", doubts, *probs]
        )
    return write_text(path, buffer.getvalue())

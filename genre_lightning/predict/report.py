"""Predictions as a table on screen, a CSV or a JSON file."""

from __future__ import annotations

import csv
import io
import os
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


def check_options(path: str | os.PathLike | None, k: int) -> None:
    """Fail before any work on an output file of unknown format or a top_k below 1."""
    if path is not None and Path(path).suffix.lower() not in FORMATS:
        raise UserError(f"output={path}: unknown format; name the file .csv or .json")
    if k < 1:
        raise UserError(f"top_k={k}: must be at least 1")


def write_predictions(
    path: str | os.PathLike,
    predictions: list[Prediction],
    class_names: list[str],
    k: int,
    checkpoints: list[Path],
) -> Path:
    """CSV: one row per file with its top-k and every class probability. JSON: the same plus the models
    used."""
    check_options(path, k)
    records = to_records(predictions, class_names, k)
    if Path(path).suffix.lower() == ".json":
        return write_json(
            path,
            {"checkpoints": [str(c) for c in checkpoints], "classes": class_names, "predictions": records},
        )
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["file", "genre", "probability", "top_k", "windows", "error", *class_names])
    for r in records:
        top = " ".join(f"{t['genre']}:{t['probability']:.4f}" for t in r["top_k"])
        probs = (
            [f"{q:.6f}" for q in r["probabilities"].values()]
            if "probabilities" in r
            else [""] * len(class_names)
        )
        probability = "" if r["probability"] is None else f"{r['probability']:.6f}"
        writer.writerow(
            [r["file"], r["genre"] or "", probability, top, r["windows"], r["error"] or "", *probs]
        )
    return write_text(path, buffer.getvalue())

"""Files in, one prediction per file out: batched inference over images and songs' windows."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from genre_lightning.audio.spectrogram import AudioError
from genre_lightning.errors import InputWarning, UserError
from genre_lightning.predict.ensemble import Ensemble


@dataclass
class Prediction:
    """One input file's result: class probabilities (averaged over its windows), or why it failed."""

    file: str
    probabilities: list[float] | None = None
    windows: int = 0
    error: str | None = None
    # why the result is doubtful (the InputWarnings raised while reading the file)
    warnings: list[str] = field(default_factory=list)


def input_files(path: str | os.PathLike, kind: str, extensions: tuple[str, ...]) -> list[Path]:
    """The file itself, or every file with one of ``extensions`` below the folder (sorted, hidden ones
    skipped)."""
    path = Path(path)
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(
            p
            for p in path.rglob("*")
            if p.is_file()
            and p.suffix.lower() in extensions
            and not any(part.startswith(".") for part in p.relative_to(path).parts)
        )
        if not files:
            raise UserError(
                f"{path}: no {'/'.join(extensions)} files in this folder; pass {kind}=<file or folder>"
            )
        return files
    raise UserError(f"{path}: {kind} not found; pass {kind}=<file or folder>")


def predict_files(
    ensemble: Ensemble, files: list[Path], load: Callable[[Path], list[torch.Tensor]], batch_size: int = 32
) -> list[Prediction]:
    """Predict every file, ``batch_size`` images per forward pass; a file that ``load`` rejects gets an
    error row."""
    if batch_size < 1:
        raise UserError(f"batch_size={batch_size}: must be at least 1")
    predictions: list[Prediction] = []
    pending: list[tuple[Prediction, list[torch.Tensor]]] = []

    def flush() -> None:
        images = torch.stack([image for _, windows in pending for image in windows])
        probs = torch.cat([ensemble.probabilities(batch) for batch in images.split(batch_size)])
        for (prediction, windows), song in zip(pending, probs.split([len(w) for _, w in pending])):
            prediction.probabilities, prediction.windows = song.mean(dim=0).tolist(), len(windows)
        pending.clear()

    for path in tqdm(files, unit="file", disable=None if len(files) > 1 else True):
        prediction = Prediction(str(path))
        predictions.append(prediction)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", InputWarning)
            try:
                pending.append((prediction, load(path)))
            except (UserError, AudioError) as err:
                prediction.error = str(err)
        prediction.warnings = input_warnings(caught)
        if sum(len(windows) for _, windows in pending) >= batch_size:
            flush()
    if pending:
        flush()
    return predictions


def input_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    """The messages of the InputWarnings among ``caught``; any other warning is shown as usual."""
    for w in caught:
        if not issubclass(w.category, InputWarning):
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    return [str(w.message) for w in caught if issubclass(w.category, InputWarning)]

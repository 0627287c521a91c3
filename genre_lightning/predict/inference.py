"""Files in, one prediction per file out: batched inference over images and songs' windows, and how a
song's windows make its answer."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from genre_lightning.audio.rendering import Rendering
from genre_lightning.audio.spectrogram import AudioError
from genre_lightning.errors import UserError, input_warnings
from genre_lightning.files import files_below
from genre_lightning.predict.ensemble import Ensemble, find_checkpoints, pick_device
from genre_lightning.pretrained import DESCRIPTION, bundled_checkpoints

# a window's start and end in its song, seconds
Span = tuple[float, float]
# what reading a file gives: its images, and for a song each window's span (None for an image)
Loaded = tuple[list[torch.Tensor], list[Span] | None]

# How a song's answer is made from its windows' probabilities: their mean; each genre's highest window
# (scaled to sum to 1), which lets a genre heard in one part of the song count fully; or a vote, which ranks
# the genres by how many windows rank them first, each shown with its mean probability: a share of votes is
# no probability (13 of 14 windows can rank a genre first at 16% each).
AGGREGATES = ("mean", "max", "vote")
# the error row of a file whose probabilities came out NaN or infinite (a checkpoint's weights are checked
# when loaded: a temperature or an input the model cannot take)
NOT_A_NUMBER = (
    "the models' probabilities for this file are not numbers (NaN or infinite); check the checkpoint"
)


@dataclass
class Prediction:
    """One input file's result: class probabilities (its windows' aggregated) and each window's, or why it
    failed."""

    file: str
    probabilities: list[float] | None = None
    window_probabilities: list[list[float]] = field(default_factory=list)
    # songs only: where each window starts and ends
    spans: list[Span] | None = None
    error: str | None = None
    # why the result is doubtful (the InputWarnings raised while reading the file)
    warnings: list[str] = field(default_factory=list)
    # aggregate=vote only: how many windows rank each class first, which orders the classes
    votes: list[int] | None = None
    # more columns for the file's row and for each window's (explain=true: the top band and segment)
    extra: dict = field(default_factory=dict)
    window_extra: list[dict] = field(default_factory=list)

    @property
    def windows(self) -> int:
        """How many windows the answer was made of (an image is one); predict.py's `windows` column."""
        return len(self.window_probabilities)


def input_files(path: str | os.PathLike, kind: str, extensions: tuple[str, ...]) -> list[Path]:
    """The file itself, or every file with one of ``extensions`` below the folder (sorted, hidden ones
    skipped)."""
    path = Path(path)
    if path.is_file():
        return [path]
    if path.is_dir():
        files = files_below(path, extensions)
        if not files:
            raise UserError(
                f"{path}: no {'/'.join(extensions)} files in this folder; pass {kind}=<file or folder>"
            )
        return files
    raise UserError(f"{path}: {kind} not found; pass {kind}=<file or folder>")


class FileReader:
    """How to read a file: a spectrogram image as one image, or (given how to render it) a song as its
    windows. Images can be decoded a batch of files at a time first (``prefetch``: Ensemble.decode_jpegs)."""

    def __init__(self, ensemble: Ensemble, rendering: Rendering | None):
        self.ensemble, self.rendering = ensemble, rendering

    def prefetch(self, paths: list[Path]) -> dict[Path, torch.Tensor]:
        return {} if self.rendering is not None else self.ensemble.decode_jpegs(paths)

    def __call__(self, path: Path, decoded: torch.Tensor | None = None) -> Loaded:
        if self.rendering is None:
            return [self.ensemble.preprocess(path, decoded)], None
        return self.ensemble.preprocess_audio(path, self.rendering)


def file_loader(ensemble: Ensemble, rendering: Rendering | None) -> FileReader:
    """How to read the files: images, or songs rendered as ``rendering`` says."""
    return FileReader(ensemble, rendering)


def song_rendering(ensemble: Ensemble, overrides: dict | None = None) -> Rendering:
    """How songs become this model's images (see Ensemble.rendering); warns when the checkpoint does not
    record it."""
    rendering, recorded = ensemble.rendering(overrides)
    if not recorded:
        print(
            "warning: the checkpoint does not record how its images were rendered; assuming the "
            "published data's (1984x1478 log-mel, 30 s windows); set rendering.* to change it",
            file=sys.stderr,
        )
    return rendering


def check_inference(batch_size: int, aggregate: str) -> None:
    """The inference settings (configs/inference) that predict_files takes, checked up front."""
    if batch_size < 1:
        raise UserError(f"batch_size={batch_size}: must be at least 1")
    if aggregate not in AGGREGATES:
        raise UserError(f"aggregate={aggregate}: unknown; use {', '.join(AGGREGATES)}")


def model_checkpoints(ckpt: str | os.PathLike | None, runs_dir: str | os.PathLike) -> list[Path]:
    """The checkpoints ``ckpt`` names (see find_checkpoints), or with none given the bundled model's, which
    is said in one line on stderr."""
    if ckpt is not None:
        return find_checkpoints(ckpt, runs_dir)
    print(
        f"no ckpt given: using {DESCRIPTION}; pass ckpt=<run folder or .ckpt> for your own", file=sys.stderr
    )
    return bundled_checkpoints()


def load_ensemble(cfg) -> Ensemble:
    """predict.py's and app.py's models (configs/inference), the settings checked before any is loaded."""
    check_inference(cfg.batch_size, cfg.aggregate)
    return Ensemble(
        model_checkpoints(cfg.ckpt, cfg.runs_dir),
        pick_device(cfg.device),
        cfg.precision,
        cfg.max_image_pixels,
        cfg.get("decode", "auto"),
    )


def aggregate_windows(windows: torch.Tensor, aggregate: str = "mean") -> torch.Tensor:
    """A song's class probabilities from its windows' (windows x classes), as ``aggregate`` says (one of
    AGGREGATES): each class's highest window scaled to sum to 1 for max, else their mean (vote ranks the
    classes by ``window_votes``, and shows these)."""
    if aggregate == "max":
        peak = windows.max(dim=0).values
        return peak / peak.sum()
    return windows.mean(dim=0)


def window_votes(windows: torch.Tensor) -> torch.Tensor:
    """How many of the windows (windows x classes) rank each class first."""
    return torch.bincount(windows.argmax(dim=1), minlength=windows.shape[1])


def stacked_by_shape(model, images: list[torch.Tensor], dim: int = 0) -> torch.Tensor:
    """``model`` (a batch of images of one shape -> one result per image along ``dim``) on ``images`` of any
    shapes (an eval preset that keeps each image's width): a batch per shape, the results in the
    images' order. No image is padded to another's size, which would change what the network pools over."""
    shapes: dict[tuple, list[int]] = {}
    for position, image in enumerate(images):
        shapes.setdefault(tuple(image.shape), []).append(position)
    if len(shapes) == 1:
        return model(torch.stack(images))
    order = [position for positions in shapes.values() for position in positions]
    parts = [model(torch.stack([images[i] for i in positions])) for positions in shapes.values()]
    return torch.cat(parts, dim=dim).index_select(dim, torch.tensor(order).argsort())


def predict_files(
    ensemble: Ensemble,
    files: list[Path],
    load: FileReader,
    batch_size: int = 32,
    aggregate: str = "mean",
) -> list[Prediction]:
    """Predict every file, ``batch_size`` images per forward pass; a file that ``load`` rejects gets an
    error row."""
    check_inference(batch_size, aggregate)
    predictions: list[Prediction] = []
    # images wait in `queue` until a full batch has come together (a song's windows may straddle two
    # batches); `loaded` remembers which prediction owns how many of them, in order
    queue: list[torch.Tensor] = []
    loaded: list[tuple[Prediction, int]] = []
    probabilities: list[torch.Tensor] = []

    def infer(full_batches_only: bool = True) -> None:
        while len(queue) >= batch_size or (queue and not full_batches_only):
            probabilities.append(stacked_by_shape(ensemble.probabilities, queue[:batch_size]))
            del queue[:batch_size]

    def read_ahead():
        # a batch of files decoded together (on the device where the ensemble decodes there), then each file
        for start in range(0, len(files), batch_size):
            decoded = load.prefetch(files[start : start + batch_size])
            yield from ((path, decoded.get(path)) for path in files[start : start + batch_size])

    shown = None if len(files) > 1 else True
    for path, decoded in tqdm(read_ahead(), total=len(files), unit="file", disable=shown):
        prediction = Prediction(str(path))
        predictions.append(prediction)
        with input_warnings() as doubts:
            try:
                images, prediction.spans = load(path, decoded)
                queue.extend(images)
                loaded.append((prediction, len(images)))
            except (UserError, AudioError) as err:
                prediction.error = str(err)
        prediction.warnings = doubts
        infer()
    infer(full_batches_only=False)
    if loaded:
        songs = torch.cat(probabilities).split([count for _, count in loaded])
        for (prediction, _), song in zip(loaded, songs):
            if not torch.isfinite(song).all():  # a number here would be no probability
                prediction.error = NOT_A_NUMBER
                continue
            prediction.window_probabilities = song.tolist()
            prediction.probabilities = aggregate_windows(song, aggregate).tolist()
            if aggregate == "vote":
                prediction.votes = window_votes(song).tolist()
    return predictions

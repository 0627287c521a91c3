"""A trained model scored on any labelled folder (<folder>/<Genre>/*.jpg|png): accuracy, macro F1, NLL and
calibration error of the fold ensemble and of each fold, on the genres that the model and the folder share.

An image of a genre the model does not know cannot be right, and a genre without images cannot be scored:
both are left out and named. The models' probabilities are restricted to the shared genres (scaled to sum
to 1 over them), so that the scores are those of a classifier of the shared genres alone."""

from __future__ import annotations

import binascii
import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from genre_lightning.constants import EVAL_FILE, IMAGE_EXTENSIONS
from genre_lightning.data.duplicates import near_pairs, thumbnails
from genre_lightning.data.images import MAX_PIXELS
from genre_lightning.data.scan import scan
from genre_lightning.errors import UserError, input_warnings
from genre_lightning.files import files_below, write_json
from genre_lightning.metrics import scores, write_report
from genre_lightning.predict.ensemble import Ensemble
from genre_lightning.predict.inference import NOT_A_NUMBER, stacked_by_shape
from genre_lightning.run_folder.layout import CONFUSION_FILE, PER_GENRE_FILE, RunFolder
from genre_lightning.tables import align, shown


@dataclass
class LabelledImages:
    """The images of the genres the model knows, and what was left out."""

    folder: Path
    # the shared genres, in the model's order; labels index into them
    genres: list[str]
    files: list[Path]
    labels: list[int]
    # genre folders the model does not know -> their image counts (left out)
    unknown: dict[str, int]
    # the model's genres with no folder (or an empty one) here
    missing: list[str]


def labelled_images(folder: str | os.PathLike, class_names: list[str]) -> LabelledImages:
    """The images below each genre folder of ``folder`` whose genre is one of ``class_names``."""
    folder = Path(folder)
    expected = f"expected {folder}/<Genre>/*.jpg|png, one folder per genre; pass images=<folder>"
    if not folder.is_dir():
        raise UserError(f"{folder}: folder not found; {expected}")
    found = {
        path.name: files_below(path, IMAGE_EXTENSIONS)
        for path in sorted(folder.iterdir())
        if path.is_dir() and not path.name.startswith(".")
    }
    found = {genre: files for genre, files in found.items() if files}
    if not found:
        raise UserError(f"{folder}: no genre folder holds .jpg/.jpeg/.png images; {expected}")
    genres = [genre for genre in class_names if genre in found]
    if len(genres) < 2:
        shared = f"only {genres[0]} is" if genres else "none is"
        raise UserError(
            f"{folder}: of its genres {sorted(found)}, {shared} one the model knows "
            f"({', '.join(class_names)}); scoring needs two: name the genre folders as the model's genres"
        )
    files = [path for genre in genres for path in found[genre]]
    labels = [index for index, genre in enumerate(genres) for _ in found[genre]]
    unknown = {genre: len(paths) for genre, paths in found.items() if genre not in class_names}
    missing = [genre for genre in class_names if genre not in found]
    return LabelledImages(folder, genres, files, labels, unknown, missing)


def model_probabilities(
    ensemble: Ensemble, files: list[Path], batch_size: int
) -> tuple[torch.Tensor, list[int], list[tuple[str, str]], int]:
    """Each model's probabilities (models x images x classes) of the files that could be read, which
    files those are (indices), the (path, reason) of those that could not, and how many images were far
    smaller than the models' input (predicted, as predict.py does, but doubtful)."""
    batches, kept, unreadable, queue = [], [], [], []
    with input_warnings() as doubts:
        for index, path in enumerate(tqdm(files, unit="image", disable=None)):
            try:
                queue.append(ensemble.preprocess(path))
                kept.append(index)
            except UserError as err:
                unreadable.append((str(path), str(err)))
            if len(queue) == batch_size or (queue and index == len(files) - 1):
                batches.append(stacked_by_shape(ensemble.model_probabilities, queue, dim=1))
                queue.clear()
    if not batches:
        raise UserError(f"none of the {len(files)} images could be read; first: {unreadable[0][1]}")
    probabilities = torch.cat(batches, dim=1)
    if not torch.isfinite(probabilities).all():
        first = files[
            kept[int(torch.isfinite(probabilities).all(dim=-1).all(dim=0).logical_not().nonzero()[0])]
        ]
        raise UserError(f"{shown(first)}: {NOT_A_NUMBER}; nothing was scored")
    return probabilities, kept, unreadable, len(doubts)


def evaluate(ensemble: Ensemble, data: LabelledImages, batch_size: int, out_dir: Path) -> dict:
    """Score the ensemble and each of its models on ``data``; write eval.json, the ensemble's confusion
    matrix and per-genre scores into ``out_dir`` (refused where an evaluation is already: each file is
    created only where none is, in one order, so of two evaluations given one folder the second stops at the
    first file the other wrote). Returns what eval.json holds."""
    if (out_dir / EVAL_FILE).exists():
        raise _taken(out_dir)
    probabilities, kept, unreadable, doubtful = model_probabilities(ensemble, data.files, batch_size)
    shared = [ensemble.class_names.index(genre) for genre in data.genres]

    def restricted(p: torch.Tensor) -> torch.Tensor:
        """Over the shared genres only: a genre the folder lacks can be neither right nor wrong."""
        return p[..., shared] / p[..., shared].sum(dim=-1, keepdim=True).clamp_min(1e-12)

    labels = torch.tensor(data.labels)[kept]
    models = len(ensemble.models)
    what = f"the ensemble of {models} folds" if models > 1 else "the model"
    what += f" on {len(labels)} images of {data.folder.name}"
    try:
        ensemble_scores = write_report(
            restricted(probabilities.mean(dim=0)),
            labels,
            data.genres,
            what,
            out_dir / CONFUSION_FILE,
            out_dir / PER_GENRE_FILE,
            exclusive=True,
        )
    except FileExistsError:
        raise _taken(out_dir) from None
    result = {
        "folder": str(data.folder),
        "genres": data.genres,
        "images": len(labels),
        "left_out": {"unknown_genres": data.unknown, "unreadable": dict(unreadable)},
        "genres_without_images": data.missing,
        "doubtful_images": doubtful,
        "duplicates_of_training": training_duplicates(
            ensemble.checkpoints, data.files, ensemble.trim == "auto"
        ),
        "ensemble": {"models": models, **ensemble_scores},
        "models": [
            {"checkpoint": str(path), **scores(model, labels)}
            for path, model in zip(ensemble.checkpoints, restricted(probabilities))
        ],
    }
    try:
        write_json(out_dir / EVAL_FILE, result, exclusive=True)
    except FileExistsError:
        raise _taken(out_dir) from None
    return result


def training_duplicates(checkpoints: list[Path], files: list[Path], find_boxes: bool) -> list[list[str]]:
    """[image, training image] pairs of one picture (duplicates.py's test) between ``files`` and the images
    the checkpoints' run trained on, from its image_hashes.json; none when the checkpoints are in no run
    folder that has one (a run from before it was written, or a checkpoint copied elsewhere). ``find_boxes``:
    the run's scan fingerprinted each image's plot area (data.trim=auto), so this one does too."""
    runs = [RunFolder(path.parents[2]) for path in checkpoints if len(path.parents) > 2]
    saved = next((run.image_hashes for run in runs if run.image_hashes.is_file()), None)
    if saved is None:
        return []
    try:  # the run's own file, read as data
        trained = json.loads(saved.read_text())["images"]
        theirs = thumbnails(list(trained.values()))
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
        raise UserError(
            f"{saved}: not the image hashes train.py writes; restore the file or delete it"
        ) from None
    checked = scan([str(path) for path in files], MAX_PIXELS, cache_dir=None, find_boxes=find_boxes)
    mine = [(path, record) for path, record in checked.items() if isinstance(record, dict)]
    names = list(trained)
    pairs = near_pairs(thumbnails([record for _, record in mine]), theirs)
    return [[mine[i][0], names[j]] for i, j in pairs]


def _taken(out_dir: Path) -> UserError:
    return UserError(f"{out_dir}: holds an evaluation already; pass a new folder (hydra.run.dir=...)")


def format_scores(result: dict) -> str:
    """The ensemble's and each model's scores as a table (the ensemble's only for one model)."""
    columns = ("acc", "f1", "nll", "ece")
    rows = [["model", "accuracy", "macro F1", "NLL", "ECE"]]
    paths = [model["checkpoint"] for model in result["models"]]
    if len(paths) == 1:
        named = [(paths[0], result["ensemble"])]
    else:  # each fold's checkpoint as a path inside the run (fold_0/checkpoints/best.ckpt)
        run = os.path.commonpath(paths)
        named = [(f"ensemble of {len(paths)}", result["ensemble"])]
        named += [(os.path.relpath(path, run), model) for path, model in zip(paths, result["models"])]
    for name, values in named:
        rows.append([name, f"{values['acc']:.1%}", *(f"{values[c]:.3f}" for c in columns[1:])])
    return align(rows, left=1)


def notes(result: dict) -> list[str]:
    """One line for each kind of thing the scores leave out or doubt; none when the folder and the model
    match and every image was read."""
    lines = []
    unknown, missing = result["left_out"]["unknown_genres"], result["genres_without_images"]
    if unknown or missing:
        parts = [f"scored on the {len(result['genres'])} genres that the model and {result['folder']} share"]
        if unknown:
            counts = ", ".join(f"{genre} ({count} images)" for genre, count in unknown.items())
            parts.append(f"left out the genres the model does not know: {counts}")
        if missing:
            parts.append(f"the model's {', '.join(missing)} have no images here")
        lines.append("; ".join(parts) + "; probabilities scaled to sum to 1 over the shared genres")
    copies = result["duplicates_of_training"]
    if copies:
        count = len({image for image, _ in copies})
        lines.append(
            f"warning: {count} of the {result['images']} images duplicate images the run trained on (e.g. "
            f"{copies[0][0]} = {copies[0][1]}, all listed in {EVAL_FILE}): their scores measure memory, "
            "not genre"
        )
    unreadable = result["left_out"]["unreadable"]
    if unreadable:
        first = next(iter(unreadable.values()))
        lines.append(f"left out {len(unreadable)} unreadable image(s) (listed in {EVAL_FILE}): {first}")
    if result["doubtful_images"]:
        lines.append(
            f"{result['doubtful_images']} image(s) were scored with a doubt (far smaller than the models' "
            "input, or a plot area far from the training images'): their answers are doubtful"
        )
    return lines

"""predict.py's explain=true: each predicted file explained (a song's windows together), one PNG per file in
a folder beside the output, and the top band and segment added to the file's row and its windows'."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from genre_lightning.audio.rendering import Rendering
from genre_lightning.data.images import open_image
from genre_lightning.errors import UserError
from genre_lightning.explain.explainer import Explainer, Explanation, configured, song
from genre_lightning.explain.figure import draw
from genre_lightning.files import write_bytes
from genre_lightning.predict.ensemble import Ensemble
from genre_lightning.predict.inference import FileReader, Prediction
from genre_lightning.predict.report import top_k


def explanation_folder(folder: str | None, output: str | None, overwrite: bool = False) -> Path:
    """Where the PNGs go: ``folder``, else <output's name>_explained beside the output file; checked
    before any work (a folder holding PNGs already is refused unless ``overwrite``)."""
    if folder is None and output is None:
        raise UserError(
            "explain=true: say where the pictures go: pass output=<file> or explanation.folder=<folder>"
        )
    path = Path(folder) if folder is not None else Path(output).with_name(f"{Path(output).stem}_explained")
    if path.exists() and not path.is_dir():
        raise UserError(f"explanation.folder={path}: is a file; name a folder")
    if path.is_dir() and any(path.rglob("*.png")) and not overwrite:
        raise UserError(
            f"explanation.folder={path}: holds pictures already; pass overwrite=true or another folder"
        )
    return path


def genre_index(genre: str | None, class_names: list[str]) -> int | None:
    """explanation.genre's index among the model's genres (None: each file's top genre)."""
    if genre is None:
        return None
    if genre not in class_names:
        raise UserError(
            f"explanation.genre={genre}: the model's genres are {', '.join(class_names)}; use one of them"
        )
    return class_names.index(genre)


def picture_path(file: str, root: Path, folder: Path) -> Path:
    """The PNG of an input file: its path below the input folder (its name alone for a file given
    directly), the file's own suffix kept (a.jpg and a.png do not meet)."""
    path = Path(file)
    inside = path.relative_to(root) if root.is_dir() else Path(path.name)
    return folder / inside.with_name(inside.name + ".png")


class PredictionExplainer:
    """predict.py's explain=true, set up and checked before anything is predicted: the explainer, the
    genre to explain and where the pictures go."""

    def __init__(self, cfg, ensemble: Ensemble, rendering: Rendering | None):
        settings = cfg.explanation
        self.explainer = configured(settings, ensemble, rendering)
        self.genre = genre_index(settings.genre, ensemble.class_names)
        self.folder = explanation_folder(settings.folder, cfg.output, cfg.overwrite)
        self.root = Path(cfg.image if cfg.image is not None else cfg.audio)

    def __call__(self, predictions: list[Prediction], read: FileReader) -> str:
        """Explain the predictions (adding to their rows); what was written, for the screen."""
        written = explain_predictions(self.explainer, predictions, read, self.root, self.folder, self.genre)
        return f"wrote {len(written)} explanation(s) to {self.folder}"


def explain_predictions(
    explainer: Explainer,
    predictions: list[Prediction],
    read: FileReader,
    root: str | os.PathLike,
    folder: Path,
    genre: int | None = None,
) -> list[Path]:
    """Explain every predicted file (``genre``, else its top genre) ``explainer.batch_size`` model inputs
    at a time, write its PNG and add its top band and segment to its row (and its windows'). Returns the
    PNGs written."""
    names = explainer.ensemble.class_names
    written, pending = [], []
    for prediction in predictions:
        if prediction.error:
            continue
        images, _ = read(Path(prediction.file))
        target = genre if genre is not None else names.index(top_k(prediction, names, 1)[0][0])
        pending.append((prediction, images, target))
        if sum(len(item[1]) for item in pending) >= explainer.batch_size:
            written += _explain(explainer, pending, Path(root), folder)
            pending = []
    return written + _explain(explainer, pending, Path(root), folder)


def explained(
    explainer: Explainer, items: list[tuple[Prediction, list[torch.Tensor], int]]
) -> list[Explanation]:
    """The explanations of predicted files, each given with its model inputs and the genre index to
    explain; a song's windows go in together and make its one explanation."""
    rendering = explainer.rendering
    images, genres, sizes, spans = [], [], [], []
    for prediction, inputs, target in items:
        images += inputs
        genres += [target] * len(inputs)
        if prediction.spans is None:  # an image: its size from its header; a window's length if recorded
            with open_image(prediction.file) as image:
                sizes.append(image.size)
            seconds = rendering.window_seconds if rendering is not None else None
            spans.append(None if seconds is None else (0.0, seconds))
        else:
            sizes += [(rendering.spec.width, rendering.spec.height)] * len(inputs)
            spans += prediction.spans
    each = iter(explainer.explain(images, genres, sizes, spans))
    result = []
    for prediction, inputs, target in items:
        mine = [next(each) for _ in inputs]
        explanation = song(mine) if prediction.spans is not None else mine[0]
        # the file's answer: a song's aggregated probability
        explanation.probability = prediction.probabilities[target]
        result.append(explanation)
    return result


def title(prediction: Prediction, explanation: Explanation) -> str:
    return f"{Path(prediction.file).name}: {explanation.genre} {explanation.probability:.1%}"


def _explain(explainer: Explainer, pending: list, root: Path, folder: Path) -> list[Path]:
    written = []
    for (prediction, _, _), explanation in zip(pending, explained(explainer, pending)):
        path = picture_path(prediction.file, root, folder)
        written.append(write_bytes(path, draw(explanation, title(prediction, explanation))))
        prediction.extra = {**explanation.record(), "explanation": str(path)}
        if explanation.windows:
            prediction.window_extra = [window.record() for window in explanation.windows]
    return written

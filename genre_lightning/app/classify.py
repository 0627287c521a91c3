"""One file in, the model's answer and what it saw out: a song or a spectrogram image, predicted by
predict.py's own code (Ensemble, predict_files), so calibration or any change there applies here too."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from genre_lightning.audio.rendering import Rendering
from genre_lightning.audio.spectrogram import audio_seconds
from genre_lightning.constants import AUDIO_EXTENSIONS, IMAGE_EXTENSIONS
from genre_lightning.errors import UserError
from genre_lightning.predict.ensemble import Ensemble
from genre_lightning.predict.inference import FileReader, Loaded, Prediction, file_loader, predict_files


@dataclass
class Answer:
    prediction: Prediction
    # the model's input images: the spectrogram image, or each window of the song
    images: list[torch.Tensor]


class FileClassifier:
    """The ensemble (loaded once) and how the page uses it: songs rendered with ``rendering`` and cut to at
    most ``max_seconds``, windows made one answer by ``aggregate``."""

    def __init__(
        self,
        ensemble: Ensemble,
        rendering: Rendering,
        batch_size: int = 32,
        aggregate: str = "mean",
        max_seconds: float = 600,
    ):
        if max_seconds <= 0:
            raise UserError(f"max_seconds={max_seconds}: must be positive")
        self.ensemble, self.rendering = ensemble, rendering
        self.batch_size, self.aggregate, self.max_seconds = batch_size, aggregate, max_seconds
        self.loaders = {"audio": file_loader(ensemble, rendering), "image": file_loader(ensemble, None)}

    def kind(self, path: Path) -> str:
        """audio or image, by the file's extension."""
        suffix = path.suffix.lower()
        if suffix in AUDIO_EXTENSIONS:
            return "audio"
        if suffix in IMAGE_EXTENSIONS:
            return "image"
        supported = ", ".join(ext.lstrip(".") for ext in AUDIO_EXTENSIONS + IMAGE_EXTENSIONS)
        raise UserError(f"{path}: not a song or a spectrogram image; use a {supported} file")

    def classify(self, path: Path) -> Answer:
        """The file's prediction; UserError (one line naming the file) for a file that cannot be used."""
        kind = self.kind(path)
        if kind == "audio":
            seconds = audio_seconds(path)  # from the header: a too-long song is refused before decoding
            if seconds > self.max_seconds:
                raise UserError(
                    f"{path}: {seconds:.0f} s of audio, longer than the app takes ({self.max_seconds:g} s); "
                    "cut the song or start the app with a larger max_seconds="
                )
        load = Keeping(self.loaders[kind])
        [prediction] = predict_files(self.ensemble, [path], load, self.batch_size, self.aggregate)
        if prediction.error:
            raise UserError(prediction.error)
        return Answer(prediction, load.seen)


class Keeping:
    """A FileReader that keeps the model inputs it read: the page shows them."""

    def __init__(self, reader: FileReader):
        self.reader, self.seen = reader, []

    def prefetch(self, paths: list[Path]) -> dict[Path, torch.Tensor]:
        return self.reader.prefetch(paths)

    def __call__(self, path: Path, decoded: torch.Tensor | None = None) -> Loaded:
        images, spans = self.reader(path, decoded)
        self.seen.extend(images)
        return images, spans

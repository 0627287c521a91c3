"""Genre probabilities from checkpoints alone: no dataset folder, no training config."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from hydra.utils import instantiate

from genre_lightning.data import load_image
from genre_lightning.errors import UserError
from genre_lightning.module import GenreClassifier
from genre_lightning.performance import inference_autocast
from genre_lightning.training import SUMMARY_FILE


def pick_device(name: str = "auto") -> torch.device:
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def find_checkpoints(ckpt: str | os.PathLike, runs_dir: str | os.PathLike) -> list[Path]:
    """A checkpoint file, every fold's best checkpoint of a run folder, or `latest` finished run's."""
    if str(ckpt) == "latest":
        finished = sorted(Path(runs_dir).glob(f"*/{SUMMARY_FILE}"))
        if not finished:
            raise UserError(f"{runs_dir}: no finished training run; train first or pass ckpt=<file or run folder>")
        ckpt = finished[-1].parent
    path = Path(ckpt)
    if path.is_file():
        return [path]
    if (path / SUMMARY_FILE).is_file():
        summary = json.loads((path / SUMMARY_FILE).read_text())
        return [path / fold["checkpoint"] for fold in summary["folds"]]
    if path.is_dir():
        raise UserError(f"{path}: no {SUMMARY_FILE} here; pass a finished run folder or a .ckpt file")
    raise UserError(f"{path}: checkpoint not found; pass ckpt=<run folder>, <fold>/checkpoints/best.ckpt or latest")


def load_classifier(ckpt: str | os.PathLike, device: torch.device | str = "cpu") -> GenreClassifier:
    """The trained model in eval mode; its hyperparameters carry class names and preprocessing."""
    path = Path(ckpt)
    if not path.is_file():
        raise UserError(f"{path}: checkpoint not found; pass ckpt=<run folder>, <fold>/checkpoints/best.ckpt or latest")
    try:
        # weights=None: the trained weights replace ImageNet's, so never fetch those here
        model = GenreClassifier.load_from_checkpoint(path, map_location="cpu", weights=None)
    except Exception as err:  # a torn or foreign file fails anywhere inside torch.load
        reason = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise UserError(
            f"{path}: not a genre-lightning checkpoint ({err.__class__.__name__}: {reason}); "
            "pass a best.ckpt written by train.py"
        ) from None
    return model.to(device, memory_format=torch.channels_last).eval()


class Ensemble:
    """One or more fold models that share classes and preprocessing; probabilities are averaged."""

    def __init__(self, checkpoints: list[Path], device: torch.device | str = "cpu"):
        self.models = [load_classifier(path, device) for path in checkpoints]
        first = self.models[0].hparams
        for path, model in zip(checkpoints[1:], self.models[1:]):
            if model.hparams.class_names != first.class_names or model.hparams.preprocessing != first.preprocessing:
                raise UserError(f"{path}: classes or preprocessing differ from {checkpoints[0]}; ensemble one run's folds")
        self.class_names: list[str] = list(first.class_names)
        self.transform = instantiate(first.preprocessing["transform"])
        self.min_size: int = first.preprocessing["min_size"]

    def preprocess(self, path: str | os.PathLike) -> torch.Tensor:
        """Image file -> uint8 tensor exactly as the models were validated."""
        if not Path(path).is_file():
            raise UserError(f"{path}: image not found; pass image=<spectrogram .jpg/.png>")
        return self.transform(load_image(path, self.min_size))

    @torch.inference_mode()
    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """Mean class probabilities over the models, N x classes, for a batch of uint8 images."""
        with inference_autocast(self.models[0].device):
            probs = [model(images.to(model.device)).float().softmax(dim=-1).cpu() for model in self.models]
        return torch.stack(probs).mean(dim=0)

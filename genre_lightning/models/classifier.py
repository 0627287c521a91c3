"""The LightningModule: the network, its loss, metrics and optimisation, and nothing about files."""

from __future__ import annotations

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix, MulticlassF1Score

from genre_lightning.errors import UserError
from genre_lightning.models.resnet import build_resnet


class GenreClassifier(pl.LightningModule):
    """Customized ResNet over uint8 spectrogram images; class names and preprocessing ride along
    in the hyperparameters so a checkpoint alone is enough to predict."""

    def __init__(
        self,
        class_names: list[str],
        arch: str = "resnet50",
        weights: str | None = "imagenet",
        dropout: float = 0.5,
        mean: tuple[float, float, float] = (0.485, 0.456, 0.406),
        std: tuple[float, float, float] = (0.229, 0.224, 0.225),
        optimizer: dict | None = None,
        scheduler: dict | None = None,
        monitor: str = "val/loss",
        preprocessing: dict | None = None,
        compile: bool = False,
    ):
        super().__init__()
        self.save_hyperparameters()
        self.net = build_resnet(arch, len(class_names), dropout, weights)
        # buffers, so they follow the module to its device and into exports
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1) * 255, persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1) * 255, persistent=False)
        metrics = MetricCollection(
            {
                "acc": MulticlassAccuracy(len(class_names), average="micro"),
                "f1": MulticlassF1Score(len(class_names), average="macro"),
            }
        )
        # one collection per stage: each accumulates over its own epoch
        self.train_metrics = metrics.clone(prefix="train/")
        self.val_metrics = metrics.clone(prefix="val/")
        self.test_metrics = metrics.clone(prefix="test/")
        # per-epoch counts that the ConfusionMatrix callback turns into an image and per-class scores
        self.val_confusion = MulticlassConfusionMatrix(len(class_names))
        self.test_confusion = MulticlassConfusionMatrix(len(class_names))

    def configure_model(self) -> None:
        # Compiled in place when a Trainer starts: parameter names, and so checkpoints, stay the plain
        # network's, and prediction from a checkpoint (no Trainer) runs eagerly without compile time.
        if self.hparams.compile:
            self.net.compile()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits for a batch of uint8 (or 0-255 float) images, N x 3 x H x W."""
        return self.net((images.float() - self.mean) / self.std)

    def _step(self, batch, stage: str) -> torch.Tensor:
        images, labels = batch
        logits = self(images)
        loss = F.cross_entropy(logits, labels)
        metrics = getattr(self, f"{stage}_metrics")
        metrics.update(logits, labels)
        if stage != "train":
            getattr(self, f"{stage}_confusion").update(logits, labels)
        on_step = stage == "train"
        self.log(f"{stage}/loss", loss, on_step=on_step, on_epoch=True, prog_bar=True, sync_dist=True)
        self.log_dict(metrics, on_step=False, on_epoch=True, prog_bar=stage != "train")
        return loss

    def training_step(self, batch, batch_idx):
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx):
        self._step(batch, "val")

    def test_step(self, batch, batch_idx):
        self._step(batch, "test")

    def on_validation_epoch_start(self):
        self.val_confusion.reset()

    def on_test_epoch_start(self):
        self.test_confusion.reset()

    def predict_step(self, batch, batch_idx):
        images = batch[0] if isinstance(batch, (tuple, list)) else batch
        return self(images).float().softmax(dim=-1)

    def configure_optimizers(self):
        return optimization(
            self.parameters(), self.hparams.optimizer, self.hparams.scheduler, self.hparams.monitor
        )


def optimization(params, optimizer: dict, scheduler: dict | None, monitor: str = "val/loss"):
    """The optimizer (and scheduler) built from their configs, as configure_optimizers returns them.

    A value they reject (a negative lr, a factor of 2...) is a UserError naming model.optimizer or
    model.scheduler; training checks the configs this way before it starts (genre_lightning.training.checks).
    """
    built = _build("model.optimizer", optimizer, params=params)
    if scheduler is None:
        return built
    # Lightning steps ReduceLROnPlateau on `monitor` after every validation epoch.
    lr_scheduler = _build("model.scheduler", scheduler, optimizer=built)
    return {
        "optimizer": built,
        "lr_scheduler": {"scheduler": lr_scheduler, "monitor": monitor, "interval": "epoch"},
    }


def _build(key: str, cfg: dict, **kwargs):
    try:
        return instantiate(cfg, **kwargs)
    except InstantiationException as err:
        reason = " ".join(str(err.__cause__ if err.__cause__ is not None else err).split())
        raise UserError(f"{key}: cannot build {cfg.get('_target_')} ({reason}); fix {key}.*") from None

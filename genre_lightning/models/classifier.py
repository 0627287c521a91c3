"""The LightningModule: the network, its loss, metrics and optimisation, and nothing about files."""

from __future__ import annotations

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from hydra.utils import instantiate

from genre_lightning.errors import UserError, config_part
from genre_lightning.metrics import ConfusionCounts, summary_scores
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
        mean: tuple[float, ...] = (0.485, 0.456, 0.406),
        std: tuple[float, ...] = (0.229, 0.224, 0.225),
        in_channels: int = 3,
        width: int = 64,
        decay_norm_and_bias: bool = True,
        optimizer: dict | None = None,
        scheduler: dict | None = None,
        scheduler_interval: str = "epoch",
        monitor: str = "val/loss",
        label_smoothing: float = 0.0,
        preprocessing: dict | None = None,
        compile: bool = False,
    ):
        super().__init__()
        self.save_hyperparameters()
        self.net = build_resnet(arch, len(class_names), dropout, weights, in_channels, width)
        if not len(mean) == len(std) == in_channels:
            raise UserError(
                f"model.mean and model.std need one value per input channel "
                f"(model.in_channels={in_channels}), got {list(mean)} and {list(std)}"
            )
        # buffers, so they follow the module to its device and into exports
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1) * 255, persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1) * 255, persistent=False)
        # logits / temperature gives calibrated probabilities; fitted on the validation set after training
        # (training/calibration.py) and saved in the checkpoint, so prediction and export apply it
        self.register_buffer("temperature", torch.ones(()))
        # one confusion matrix per stage, summed on the device over its epoch: accuracy and macro F1 are read
        # from it once per epoch (no host sync in a step), and the ConfusionMatrix callback draws it
        self.train_confusion = ConfusionCounts(len(class_names))
        self.val_confusion = ConfusionCounts(len(class_names))
        self.test_confusion = ConfusionCounts(len(class_names))

    def setup(self, stage: str) -> None:
        # Compiled in place when a Trainer starts: parameter names, and so checkpoints, stay the plain
        # network's, and prediction from a checkpoint (no Trainer) runs eagerly without compile time.
        # Not in configure_model: Lightning keeps that hook for sharded layers, and weight averaging
        # (callbacks=ema) warns about every model that defines it.
        if self.hparams.compile:
            self.net.compile()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits for a batch of uint8 (or 0-255 float) images, N x 3 x H x W; for N x crops x 3 x H x W
        (test-time augmentation, data.transforms.eval_crops) the mean of each image's crops' logits."""
        if images.ndim == 5:
            n, crops = images.shape[:2]
            return self(images.flatten(0, 1)).view(n, crops, -1).mean(dim=1)
        return self.net((images.float() - self.mean) / self.std)

    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """Calibrated class probabilities: softmax(logits / temperature), in float32."""
        return (self(images).float() / self.temperature).softmax(dim=-1)

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        # checkpoints from before calibration carry no temperature: theirs is 1
        checkpoint["state_dict"].setdefault("temperature", torch.ones(()))

    def _step(self, batch, stage: str) -> torch.Tensor:
        images, targets = batch
        logits = self(images)
        # targets are class indices, or class probabilities once mixup has mixed a training batch
        labels = targets.argmax(dim=-1) if targets.ndim == 2 else targets
        smoothing = self.hparams.label_smoothing if stage == "train" else 0.0
        loss = F.cross_entropy(logits.float(), targets, label_smoothing=smoothing)
        getattr(self, f"{stage}_confusion").update(logits, labels)
        # the epoch's mean, accumulated on the device: a per-step value would be read back to the host
        # (a sync) whenever the progress bar or a logger shows it
        self.log(f"{stage}/loss", loss, on_step=False, on_epoch=True, prog_bar=True, sync_dist=True)
        return loss

    def training_step(self, batch, batch_idx):
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx):
        self._step(batch, "val")

    def test_step(self, batch, batch_idx):
        self._step(batch, "test")

    def on_train_epoch_start(self):
        self.train_confusion.reset()

    def on_validation_epoch_start(self):
        self.val_confusion.reset()

    def on_test_epoch_start(self):
        self.test_confusion.reset()

    def on_train_epoch_end(self):
        self._log_scores("train")
        # a Python float: the learning rate the epoch ended with (per-step schedules move it every step)
        self.log("train/lr", self.optimizers().param_groups[0]["lr"])

    def on_validation_epoch_end(self):
        self._log_scores("val")

    def on_test_epoch_end(self):
        self._log_scores("test")

    def _log_scores(self, stage: str) -> None:
        # compute() sums the counts of every DDP process, so every rank gets the same scores
        scores = summary_scores(getattr(self, f"{stage}_confusion").compute())
        self.log_dict(
            {f"{stage}/{name}": value.float() for name, value in scores.items()}, prog_bar=stage != "train"
        )

    def predict_step(self, batch, batch_idx):
        images = batch[0] if isinstance(batch, (tuple, list)) else batch
        return self.probabilities(images)

    def configure_optimizers(self):
        params = self.parameters() if self.hparams.decay_norm_and_bias else decay_matrices_only(self)
        interval = self.hparams.scheduler_interval
        # per-step schedules (warmup + cosine) are laid out over the whole run's optimizer steps
        steps = self.trainer.estimated_stepping_batches if interval == "step" else None
        return optimization(
            params, self.hparams.optimizer, self.hparams.scheduler, self.hparams.monitor, interval, steps
        )


def decay_matrices_only(module: torch.nn.Module) -> list[dict]:
    """Parameter groups with weight decay on weight matrices and kernels only: shrinking BatchNorm scales
    and biases toward 0 fights normalisation instead of limiting capacity."""
    matrices = [p for p in module.parameters() if p.ndim > 1]
    vectors = [p for p in module.parameters() if p.ndim <= 1]
    return [{"params": matrices}, {"params": vectors, "weight_decay": 0.0}]


def optimization(
    params,
    optimizer: dict,
    scheduler: dict | None,
    monitor: str = "val/loss",
    interval: str = "epoch",
    total_steps: int | None = None,
):
    """The optimizer (and scheduler) built from their configs, as configure_optimizers returns them.

    A value they reject (a negative lr, a factor of 2...) is a UserError naming model.optimizer or
    model.scheduler; training checks the configs this way before it starts (genre_lightning.training.checks).
    ``interval="step"`` schedules are stepped every optimizer step and get ``total_steps``.
    """
    built = _build("model.optimizer", optimizer, params)
    if scheduler is None:
        return built
    if interval not in ("epoch", "step"):
        raise UserError(f"model.scheduler_interval={interval!r}: use epoch or step")
    extra = {"total_steps": total_steps} if interval == "step" else {}
    # Lightning steps ReduceLROnPlateau on `monitor` after every validation epoch.
    lr_scheduler = _build("model.scheduler", scheduler, optimizer=built, **extra)
    return {
        "optimizer": built,
        "lr_scheduler": {"scheduler": lr_scheduler, "monitor": monitor, "interval": interval},
    }


def _build(key: str, cfg: dict, *args, **kwargs):
    # partial, then called: Hydra would turn parameter groups (dicts of tensors) into configs
    with config_part(key, cfg.get("_target_")):
        return instantiate(cfg, _partial_=True)(*args, **kwargs)

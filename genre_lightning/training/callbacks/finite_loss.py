"""A fold whose loss is no longer a number stops, before a checkpoint of the diverged weights is kept."""

from __future__ import annotations

import math

import lightning.pytorch as pl

from genre_lightning.errors import UserError


class FiniteLoss(pl.Callback):
    """Stops the fold with a one-line UserError when an epoch's training or validation loss (the epoch's
    mean, read once per epoch) is NaN or infinite: the weights have diverged, and every later epoch, each
    checkpoint and prediction from them would be NaN too. Lightning's detect_anomaly checks every operation
    of every step; this costs one read per epoch.

    Always on (train_fold adds it): checkpoint callbacks run after it (Lightning orders them last), so
    the epoch that diverged is never saved, as best.ckpt or as last.ckpt."""

    def __init__(self, fold: int):
        self.fold = fold

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._check(trainer, "val/loss")

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._check(trainer, "train/loss")

    def _check(self, trainer: pl.Trainer, key: str) -> None:
        value = trainer.callback_metrics.get(key)
        if value is not None and not math.isfinite(float(value)):
            raise UserError(
                f"fold {self.fold}: {key} is {float(value)} in epoch {trainer.current_epoch + 1}: the model "
                "diverged, and the run stops without keeping that epoch; lower model.optimizer.lr or check "
                "the data and transform settings, then start a new run"
            )

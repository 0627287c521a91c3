"""Callbacks that draw to TensorBoard beside Lightning's scalars: input samples, confusion matrices (with
per-class scores)."""

from __future__ import annotations

import math

import lightning.pytorch as pl
import torch
from matplotlib.figure import Figure

from genre_lightning.metrics import confusion_figure, per_class_scores
from genre_lightning.training.loggers import add_figure


class InputSamples(pl.Callback):
    """The first training batch as the model receives it (after augmentation), titled by genre."""

    def __init__(self, count: int = 16):
        self.count = count
        self.logged = False

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if self.logged or not trainer.is_global_zero:
            return
        self.logged = True
        images, targets = batch[0][: self.count].cpu(), batch[1][: self.count]
        # after mixup the targets are class probabilities: title each image by its larger share
        labels = (targets.argmax(dim=-1) if targets.ndim == 2 else targets).tolist()
        names = pl_module.hparams.class_names
        cols = math.ceil(math.sqrt(len(labels)))
        rows = math.ceil(len(labels) / cols)
        figure = Figure(figsize=(2 * cols, 2 * rows))
        # fixed margins: half the rendering time of a layout engine, and the titles are short
        figure.subplots_adjust(
            left=0.01, bottom=0.01, right=0.99, top=1 - 0.2 / rows, wspace=0.05, hspace=0.25
        )
        for i, ax in enumerate(figure.subplots(rows, cols, squeeze=False).flat):
            ax.axis("off")
            if i < len(labels):
                ax.imshow(images[i].permute(1, 2, 0).to(torch.uint8).numpy())
                ax.set_title(names[labels[i]], fontsize=9)
        add_figure(trainer, "train/samples", figure)


class ConfusionMatrix(pl.Callback):
    """Every validation and test epoch: the confusion matrix as an image and per-class precision,
    recall and F1 scalars (`val_per_genre/f1/Rock`...: a group of their own, after the `val/` loss and
    accuracy). Reads the module's `<stage>_confusion` metric.

    The scalars go straight to the loggers, not through `self.log`, so they stay out of the
    metrics that trainer.validate returns and cv_summary.json keeps one row of numbers per fold.
    """

    def on_validation_epoch_end(self, trainer, pl_module):
        if not trainer.sanity_checking:
            self._log(trainer, pl_module, "val")

    def on_test_epoch_end(self, trainer, pl_module):
        self._log(trainer, pl_module, "test")

    def _log(self, trainer, pl_module, stage: str) -> None:
        # compute() gathers the counts of every DDP process, so every rank must call it
        matrix = getattr(pl_module, f"{stage}_confusion").compute().cpu().double()
        if not trainer.is_global_zero:
            return
        names = pl_module.hparams.class_names
        scores = {
            f"{stage}_per_genre/{score}/{name}": value
            for score, values in per_class_scores(matrix).items()
            for name, value in zip(names, values.tolist())
        }
        for logger in trainer.loggers:
            logger.log_metrics(scores, step=trainer.current_epoch)
        add_figure(trainer, f"{stage}/confusion_matrix", confusion_figure(matrix, names))

"""One log line per epoch, whatever the progress bar does: with enable_progress_bar=false (log files,
clusters) it is the only sign of progress between the start of a fold and its end."""

from __future__ import annotations

import logging
import time

import lightning.pytorch as pl

log = logging.getLogger(__name__)

# what each epoch's line shows, from the metrics the classifier logs, in this order
SHOWN = {"train/loss_epoch": "train loss", "val/loss": "val loss", "val/acc": "val acc"}


class EpochLog(pl.Callback):
    """`epoch 3/14: train loss 1.234, val loss 1.111, val acc 0.456, lr 0.01, 41.2 s`, on rank 0."""

    def __init__(self):
        self.started = time.perf_counter()

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.started = time.perf_counter()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # validation has run by now (Lightning validates inside the training epoch), so its metrics are in
        if not trainer.is_global_zero:
            return
        metrics = trainer.callback_metrics
        parts = [f"{name} {float(metrics[key]):.4g}" for key, name in SHOWN.items() if key in metrics]
        parts += [f"lr {group['lr']:.4g}" for group in trainer.optimizers[0].param_groups[:1]]
        parts.append(f"{time.perf_counter() - self.started:.1f} s")
        log.info("epoch %d/%d: %s", trainer.current_epoch + 1, trainer.max_epochs, ", ".join(parts))

"""One log line per epoch, whatever the progress bar does: with enable_progress_bar=false (log files,
clusters) it is the only sign of progress between the start of a fold and its end. And the progress bar
itself, counting epochs as those lines do."""

from __future__ import annotations

import contextlib
import logging
import time

import lightning.pytorch as pl
from lightning.pytorch.callbacks import TQDMProgressBar
from tqdm.contrib.logging import logging_redirect_tqdm

log = logging.getLogger(__name__)

# what each epoch's line shows, from the metrics the classifier logs, in this order
SHOWN = {"train/loss": "train loss", "val/loss": "val loss", "val/acc": "val acc"}


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


class ProgressBar(TQDMProgressBar):
    """Lightning's tqdm bar with three changes: epochs counted as the log lines count them (`epoch 3/14`, not
    Lightning's zero-based `Epoch 2`), no `v_num` (the logger's version, here the fold folder's name cut to
    its last four characters), and log lines printed above the bar instead of onto its line.

    The training bar is redrawn every ``refresh_seconds`` (and at the epoch's last batch), not every batch: on
    a GPU that runs hundreds of batches a second, a redraw per batch costs the loop time.

    kfold.py leaves it out with trainer.enable_progress_bar=false (Lightning refuses a bar callback then).
    """

    def __init__(self, refresh_seconds: float = 0.5):
        super().__init__(refresh_rate=1)
        self.refresh_seconds = refresh_seconds
        self._drawn = 0.0
        self._redirect = contextlib.ExitStack()

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        # the console handlers of the root logger (Hydra's) write through tqdm.write while a bar is shown
        self._redirect.enter_context(logging_redirect_tqdm())

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._redirect.close()
        super().teardown(trainer, pl_module, stage)

    def on_train_epoch_start(self, trainer: pl.Trainer, *args) -> None:
        super().on_train_epoch_start(trainer, *args)
        total = f"/{trainer.max_epochs}" if trainer.max_epochs and trainer.max_epochs > 0 else ""
        self.train_progress_bar.set_description(f"epoch {trainer.current_epoch + 1}{total}")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        now = time.monotonic()
        last = batch_idx + 1 >= (self.total_train_batches or float("inf"))
        if last or now - self._drawn >= self.refresh_seconds:
            self._drawn = now
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)

    def init_validation_tqdm(self):
        # the validation and test runs after a fold's training: gone when done, the fold's line reports them
        bar = super().init_validation_tqdm()
        bar.leave = False
        return bar

    def init_test_tqdm(self):
        bar = super().init_test_tqdm()
        bar.leave = False
        return bar

    def get_metrics(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict:
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        return metrics

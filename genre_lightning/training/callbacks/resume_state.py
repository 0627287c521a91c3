"""What a stopped fold needs beyond Lightning's own checkpoint to continue as if it had never stopped: the
random generators' states, and the learning-rate step Lightning takes after the epoch's last.ckpt."""

from __future__ import annotations

import random

import lightning.pytorch as pl
import numpy as np
import torch


class RandomState(pl.Callback):
    """The random generators' states in every checkpoint. A fold continued from one gets them back before
    its training loop draws its first shuffle, so it draws the shuffles, crops and dropout masks the run
    would have drawn had it not stopped."""

    def __init__(self):
        self.restored: dict | None = None

    def state_dict(self) -> dict:
        # tensors, tuples and ints only, which torch.load reads with weights_only=True
        kind, keys, position, has_gauss, gauss = np.random.get_state()
        return {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, gauss),
            "python": random.getstate(),
        }

    def load_state_dict(self, state_dict: dict) -> None:
        self.restored = state_dict
        _set_random_state(state_dict)

    def on_sanity_check_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Lightning's sanity check runs between the restore and training, and draws from the generators
        if self.restored is not None:
            _set_random_state(self.restored)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.restored = None


class EpochEndStep(pl.Callback):
    """Lightning writes an epoch's last.ckpt before it steps the epoch's learning-rate schedulers
    (ReduceLROnPlateau on val/loss), and a fold continued from that checkpoint never takes the step. This
    keeps the metrics the step reads in the checkpoint, and takes the step when the fold continues."""

    def __init__(self):
        self.metrics: dict[str, float] = {}
        self.restored: dict[str, float] | None = None

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # before the checkpoint callbacks, which Lightning calls last
        self.metrics = {
            config.monitor: float(trainer.callback_metrics[config.monitor])
            for config in trainer.lr_scheduler_configs
            if config.reduce_on_plateau and config.monitor in trainer.callback_metrics
        }

    def state_dict(self) -> dict:
        return {"metrics": self.metrics}

    def load_state_dict(self, state_dict: dict) -> None:
        self.restored = state_dict["metrics"]

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.restored is None:
            return
        for config in trainer.lr_scheduler_configs:
            if config.interval == "epoch" and (trainer.current_epoch - 1) % config.frequency == 0:
                metric = self.restored.get(config.monitor) if config.reduce_on_plateau else None
                if not config.reduce_on_plateau or metric is not None:
                    pl_module.lr_scheduler_step(config.scheduler, metric)
        self.restored = None


def _set_random_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    kind, keys, position, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), position, has_gauss, gauss))
    random.setstate(state["python"])

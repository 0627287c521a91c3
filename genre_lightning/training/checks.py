"""Configuration mistakes that would surface only once a fold starts (or never), found before a run writes
anything: each is a one-line UserError naming the key.

The data module checks its own values when it is built, which is the first thing a run does; the values
checked here belong to objects built per fold: the model and the Trainer.
"""

from __future__ import annotations

import torch
from omegaconf import DictConfig

from genre_lightning.errors import UserError
from genre_lightning.models.classifier import optimization
from genre_lightning.models.resnet import check_arch


def check_config(cfg: DictConfig) -> None:
    check_arch(cfg.model.arch, cfg.model.weights)
    # built once on a stand-in parameter: the optimizer and scheduler check their own values
    interval = cfg.model.get("scheduler_interval", "epoch")
    stand_in = [torch.nn.Parameter(torch.zeros(1))]
    optimization(stand_in, cfg.model.optimizer, cfg.model.get("scheduler"), interval=interval, total_steps=1)
    epochs = cfg.trainer.get("max_epochs")
    if epochs is not None and (epochs == 0 or epochs < -1):
        raise UserError(
            f"trainer.max_epochs={epochs}: train at least 1 epoch (-1: until stopped); each fold keeps and "
            "tests the checkpoint of its best epoch"
        )

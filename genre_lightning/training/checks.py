"""Configuration mistakes that would surface only once a fold starts (or never), found before a run claims
its folder: each is a one-line UserError naming the key.

The data module, the callbacks, the model and the Trainer check their own values when they are built: they
are built here once (the data module is returned, for the run to use; the model, without pretrained
weights, and the Trainer, without logger or callbacks, are thrown away); what their code does not check
(an arch's weights, the optimizer and scheduler, max_epochs) is checked here.
"""

from __future__ import annotations

import logging

import torch
from lightning.fabric.utilities.exceptions import MisconfigurationException
from omegaconf import DictConfig

from genre_lightning.errors import UserError, build
from genre_lightning.models.classifier import optimization
from genre_lightning.models.resnet import BUNDLED, check_arch
from genre_lightning.training.library_noise import known_library_warnings


def check_config(cfg: DictConfig):
    """Raise a one-line UserError for the first value found wrong; return the data module it built (its
    transforms and batch augmentations; it has read no file yet)."""
    datamodule = build("data", cfg.data)
    for name, callback in cfg.get("callbacks", {}).items():
        build(f"callbacks.{name}", callback)
    check_arch(cfg.model.arch, cfg.model.weights)
    # built once on a stand-in parameter: the optimizer and scheduler check their own values
    interval = cfg.model.get("scheduler_interval", "epoch")
    stand_in = [torch.nn.Parameter(torch.zeros(1))]
    optimization(stand_in, cfg.model.optimizer, cfg.model.get("scheduler"), interval=interval, total_steps=1)
    # the model with its values, without ImageNet's weights (check_arch has found those); the bundled model's
    # are in the package, and building with them refuses an arch, width or in_channels that differ
    weights = cfg.model.weights if cfg.model.weights == BUNDLED else None
    build("model", cfg.model, class_names=["a", "b"], weights=weights)
    epochs = cfg.trainer.get("max_epochs")
    if epochs is not None and (
        not isinstance(epochs, int) or isinstance(epochs, bool) or epochs == 0 or epochs < -1
    ):
        raise UserError(
            f"trainer.max_epochs={epochs}: train at least 1 epoch (-1: until stopped); each fold keeps and "
            "tests the checkpoint of its best epoch"
        )
    # the Trainer's own checks (accelerator, devices, strategy, precision...), without logger or callbacks;
    # its start-up lines ("GPU available"...) are Lightning's INFO, which a Hydra run turns down only once
    # it has started, after ClaimRunFolder called this
    lightning_log = logging.getLogger("lightning.pytorch")
    level = lightning_log.level
    lightning_log.setLevel(logging.WARNING)
    try:
        with known_library_warnings(cfg.trainer):
            build("trainer", cfg.trainer, logger=False, callbacks=[], rejected=(MisconfigurationException,))
    finally:
        lightning_log.setLevel(level)
    return datamodule

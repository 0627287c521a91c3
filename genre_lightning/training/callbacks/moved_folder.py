"""A run folder that was moved or copied continues as if it had stayed where it started."""

from __future__ import annotations

import lightning.pytorch as pl
from lightning.pytorch.callbacks import ModelCheckpoint


class MovedRunFolder(pl.Callback):
    """Lightning's checkpoint callbacks save their folder (``dirpath``) and their best checkpoints' paths in
    last.ckpt, and a callback whose folder differs on resume drops its best score: the next epoch would then
    be kept as the best, and best_model_path would name the old folder. A fold continued in a moved or
    copied run folder gets its saved paths moved along with it first. Always on (train_fold adds it)."""

    def on_load_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict
    ) -> None:
        saved = checkpoint.get("callbacks", {})
        for callback in trainer.checkpoint_callbacks:
            state = saved.get(callback.state_key) if isinstance(callback, ModelCheckpoint) else None
            old = state.get("dirpath") if isinstance(state, dict) else None
            if isinstance(old, str) and callback.dirpath and old != callback.dirpath:
                saved[callback.state_key] = _moved(state, old, callback.dirpath)


def _moved(value, old: str, new: str):
    """``value`` with every path below the folder ``old`` put below ``new`` instead (dict keys too)."""
    if isinstance(value, dict):
        return {_moved(key, old, new): _moved(item, old, new) for key, item in value.items()}
    if isinstance(value, str) and (value == old or value.startswith(old.rstrip("/") + "/")):
        return new + value[len(old) :]
    return value

"""TensorBoard as a person reads it: every scalar plotted against the epoch, and a whole run's
cross-validation result in the run folder beside its folds."""

from __future__ import annotations

from pathlib import Path

from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import DictConfig, OmegaConf
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams


class EpochTensorBoardLogger(TensorBoardLogger):
    """Lightning's TensorBoardLogger with the epoch as the x axis of its scalars.

    The module logs per epoch only, and Lightning hands each epoch's metrics over with the global step and
    an `epoch` entry: they are plotted at that epoch (0 for the first), so the curves of runs with other batch
    sizes line up. The validation and test of the kept checkpoint after training land one past the last
    epoch, as do the `final/*` values. Callers that pass a step of their own (the callbacks in
    training/callbacks/tensorboard.py) pass the trainer's current epoch.
    """

    def log_metrics(self, metrics: dict, step: int | None = None) -> None:
        metrics = dict(metrics)
        epoch = metrics.pop("epoch", None)
        super().log_metrics(metrics, step if epoch is None else int(epoch))


def log_cross_validation(run_dir: Path, summary: dict, params: DictConfig | dict | None) -> None:
    """The run's folds side by side, in an event file of the run folder itself: `cv/<metric>` with one
    point per fold (the x axis is the fold), `cv/<metric>_mean` the folds' mean drawn across them, and an
    HPARAMS row of ``params`` (train.yaml's hparams) with every metric's mean, which compares the runs of a
    sweep."""
    folds = summary["folds"]
    means = {f"cv/{name}": value for name, value in summary["metrics"].items() if name.endswith("_mean")}
    if isinstance(params, DictConfig):
        params = OmegaConf.to_container(params, resolve=True)
    # TensorBoard's HPARAMS table takes numbers, strings and booleans
    row = {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in (params or {}).items()}
    with SummaryWriter(str(run_dir)) as writer:
        for result in folds:
            for name, value in result.items():
                if "/" in name:
                    writer.add_scalar(f"cv/{name}", value, result["fold"])
        for name, value in means.items():
            for result in folds:
                writer.add_scalar(name, value, result["fold"])
        for part in hparams(row, means):
            writer.file_writer.add_summary(part)

"""The run's loggers (configs/logger) and what goes to them beside the module's metrics.

Each fold gets its own loggers, named by the fold's folder in the way each logger takes a name, with the
run's tags where the logger keeps tags; TensorBoard plots every scalar against the epoch. Beside the
metrics: figures (the callbacks of callbacks/figures.py), each fold's HPARAMS row, and the whole run's
cross-validation result in the run folder beside its folds.
"""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
from hydra.utils import get_class
from lightning.pytorch.loggers import CSVLogger, Logger, MLFlowLogger, TensorBoardLogger
from matplotlib.figure import Figure
from omegaconf import DictConfig, OmegaConf
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams

from genre_lightning.errors import build, config_part


class EpochTensorBoardLogger(TensorBoardLogger):
    """Lightning's TensorBoardLogger with the epoch as the x axis of its scalars.

    The module logs per epoch only, and Lightning hands each epoch's metrics over with the global step and
    an `epoch` entry: they are plotted at that epoch (0 for the first), so the curves of runs with other batch
    sizes line up. The validation and test of the kept checkpoint after training land one past the last
    epoch, as do the `final/*` values. Callers that pass a step of their own (add_figure, log_hparams, the
    figure callbacks) pass the trainer's current epoch.
    """

    def log_metrics(self, metrics: dict, step: int | None = None) -> None:
        metrics = dict(metrics)
        epoch = metrics.pop("epoch", None)
        super().log_metrics(metrics, step if epoch is None else int(epoch))


def fold_loggers(cfg, fold_name: str) -> list[Logger]:
    """The loggers of ``cfg.logger`` (none for logger=null) for the fold whose folder is ``fold_name``."""
    tags = list(cfg.get("tags") or [])
    configs = cfg.get("logger") or {}
    return [fold_logger(f"logger.{name}", c, fold_name, tags) for name, c in configs.items()]


def fold_logger(key: str, cfg, fold_name: str, tags: list[str]) -> Logger:
    """The logger of config part ``key`` for the fold whose folder is ``fold_name``: TensorBoard and CSV
    write into <save_dir>/<name>/<fold_name>/ (their version), MLflow names its run ``fold_name`` and tags
    it with ``tags`` (MLflow tags are keys with values: each tag a key with an empty value). Any other
    logger is built as configured."""
    with config_part(key, cfg.get("_target_")):
        kind = get_class(cfg._target_)
    if issubclass(kind, (TensorBoardLogger, CSVLogger)):
        return build(key, cfg, version=fold_name)
    if issubclass(kind, MLFlowLogger):
        return build(key, cfg, run_name=fold_name, tags={tag: "" for tag in tags})
    return build(key, cfg)


def add_figure(trainer: pl.Trainer, tag: str, figure: Figure) -> None:
    """Log a matplotlib figure as an image to every TensorBoard logger, at the current epoch."""
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.experiment.add_figure(tag, figure, global_step=trainer.current_epoch)


def log_hparams(trainer: pl.Trainer, params: dict, metrics: dict) -> None:
    """TensorBoard's HPARAMS tab: a run's settings beside its final metrics, logged once at the end.

    The metrics go under `final/` so they do not add a point to the per-epoch curves; they are plotted one
    past the last epoch, where the validation and test of the kept checkpoint are.
    """
    final = {f"final/{name}": value for name, value in metrics.items()}
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.log_hyperparams(params, final, step=trainer.current_epoch)
        else:
            logger.log_hyperparams(params)
            logger.log_metrics(final, step=trainer.current_epoch)
        # the last validate/test already closed the logger: flush this again
        logger.finalize("success")


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

"""Each fold's loggers (configs/logger): one run per fold, named by the fold's folder in the way each
logger takes a name, and the run's tags where the logger keeps tags."""

from __future__ import annotations

from hydra.utils import get_class
from lightning.pytorch.loggers import CSVLogger, Logger, MLFlowLogger, TensorBoardLogger

from genre_lightning.errors import build, config_part


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

"""The training recipe: k-fold cross-validation, each fold's best checkpoint tested on the held-out split."""

from __future__ import annotations

import logging
from pathlib import Path

import lightning.pytorch as pl
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from lightning.pytorch.strategies.launchers.subprocess_script import _SubprocessScriptLauncher
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from genre_lightning.constants import SPLIT_FILE, SUMMARY_FILE
from genre_lightning.errors import UserError
from genre_lightning.files import write_json
from genre_lightning.performance import supported_precision
from genre_lightning.training.callbacks import log_hparams
from genre_lightning.training.checks import check_config
from genre_lightning.training.summary import format_summary, summarize

log = logging.getLogger(__name__)


def train(cfg: DictConfig) -> dict:
    """Train the configured folds in turn; write split.json and cv_summary.json into the run folder.

    Returns the summary (also written to disk); summary["metrics"] holds mean and std over folds.
    Under DDP every process runs this whole loop in step (Lightning starts the others at the first
    fit, with the same arguments and run folder) and all return the same synced metrics; only
    rank 0 writes files.
    """
    check_config(cfg)
    run_dir = Path(cfg.paths.output_dir)
    writer = rank_zero_only.rank == 0
    if writer and (run_dir / SPLIT_FILE).exists():
        raise UserError(
            f"{run_dir}: already holds a run; choose a new hydra.run.dir so it is not overwritten"
        )
    pl.seed_everything(cfg.seed, workers=True)
    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup()
    if writer:
        write_json(run_dir / SPLIT_FILE, datamodule.split.to_dict())

    results = [train_fold(cfg, datamodule, fold, run_dir) for fold in datamodule.selected_folds]
    summary = summarize(results, datamodule.class_names)
    if writer:
        write_json(run_dir / SUMMARY_FILE, summary)
    log.info("cross-validation summary (%s):\n%s", run_dir / SUMMARY_FILE, format_summary(summary))
    return summary


def train_fold(cfg: DictConfig, datamodule, fold: int, run_dir: Path) -> dict:
    """Fresh model and Trainer for one fold; returns its best checkpoint's val (and test) metrics."""
    # Seeded per fold, so a fold run alone (data.fold=k) matches the same fold in a full run.
    pl.seed_everything(cfg.seed + fold, workers=True)
    datamodule.use_fold(fold)
    model = instantiate(cfg.model, class_names=datamodule.class_names, preprocessing=datamodule.preprocessing)
    loggers = [instantiate(c, version=f"fold_{fold}") for c in cfg.get("logger", {}).values()]
    callbacks = [instantiate(c) for c in cfg.get("callbacks", {}).values()]
    precision = supported_precision(
        cfg.trainer.get("precision", "32-true"), cfg.trainer.get("accelerator", "auto")
    )
    trainer = instantiate(cfg.trainer, logger=loggers, callbacks=callbacks, precision=precision)
    refuse_respawn_in_multirun(trainer)
    log.info(
        "fold %d/%d: %d train, %d val images",
        fold,
        datamodule.num_folds,
        *map(len, datamodule.split.train_val(fold)),
    )
    trainer.fit(model, datamodule=datamodule)

    best = trainer.checkpoint_callback.best_model_path
    result = {
        "fold": fold,
        "checkpoint": str(Path(best).relative_to(run_dir)),
        "epochs": trainer.current_epoch,
    }
    result.update(trainer.validate(model, datamodule=datamodule, ckpt_path=best, verbose=False)[0])
    if cfg.test:
        result.update(trainer.test(model, datamodule=datamodule, ckpt_path=best, verbose=False)[0])
    params = OmegaConf.to_container(cfg.get("hparams") or {}, resolve=True)
    log_hparams(trainer, {**params, "fold": fold}, {k: v for k, v in result.items() if "/" in k})
    return result


def refuse_respawn_in_multirun(trainer: pl.Trainer) -> None:
    """Lightning's ddp starts `python train.py <these arguments>` again for each further device,
    which in a Hydra multirun would start the whole sweep again instead of this one job."""
    launcher = trainer.strategy.launcher
    if (
        HydraConfig.initialized()
        and HydraConfig.get().mode == RunMode.MULTIRUN
        and isinstance(launcher, _SubprocessScriptLauncher)
        and launcher.num_processes > 1
        and not launcher.cluster_environment.creates_processes_externally
    ):
        raise UserError(
            f"{type(trainer.strategy).__name__} on {launcher.num_processes} devices cannot run inside "
            "a multirun on one machine (each device would restart the sweep); use hydra/launcher=slurm, "
            "which starts one task per device, or run the DDP jobs one at a time without -m"
        )

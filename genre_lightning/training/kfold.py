"""The training recipe: k-fold cross-validation, each fold's best checkpoint tested on the held-out split."""

from __future__ import annotations

import logging
import math
import time
import warnings
from pathlib import Path

import lightning.pytorch as pl
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import ModelCheckpoint, WeightAveraging
from lightning.pytorch.strategies.launchers.subprocess_script import _SubprocessScriptLauncher
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from genre_lightning.data.drawing import DuplicateConflicts, split_sources
from genre_lightning.data.scan import BadImages
from genre_lightning.errors import UserError, build
from genre_lightning.files import write_text
from genre_lightning.performance import supported_precision
from genre_lightning.run_folder.layout import RunFolder
from genre_lightning.run_folder.lock import claimed
from genre_lightning.run_folder.records import (
    check_sources,
    keep_data_path,
    keep_split,
    last_checkpoint,
    write_bad_files,
    write_duplicates,
    write_image_hashes,
)
from genre_lightning.training.callbacks.finite_loss import FiniteLoss
from genre_lightning.training.callbacks.moved_folder import MovedRunFolder
from genre_lightning.training.callbacks.progress import ProgressBar
from genre_lightning.training.checks import check_config
from genre_lightning.training.evaluation import calibrate_fold
from genre_lightning.training.interrupt import hint_on_stop
from genre_lightning.training.library_noise import known_library_warnings
from genre_lightning.training.loggers import fold_loggers, log_cross_validation, log_hparams
from genre_lightning.training.saved_config import keep_config
from genre_lightning.training.summary import summarize_run, summary_text

log = logging.getLogger(__name__)


def train(cfg: DictConfig, checked: bool = False) -> dict:
    """Train the configured folds in turn into the run folder: split.json first, then each fold's
    result and the updated cv_summary.json as soon as the fold finishes. With ``cfg.resume`` set, the
    run in that folder is finished: finished folds are kept, a started one continues from its last.ckpt.

    ``checked``: check_config has passed ``cfg`` already (train.py's ClaimRunFolder callback checks a new
    run's values before Hydra writes its folder), so only the data module is built here.

    Returns the summary; summary["metrics"] holds mean and std over folds. Under DDP every process runs
    this whole loop in step (Lightning starts the others at the first fit, with the same arguments and
    run folder) and all return the same synced metrics; only rank 0 writes files.
    """
    # every value is checked before the run folder is claimed
    datamodule = build("data", cfg.data) if checked else check_config(cfg)
    run = RunFolder(cfg.paths.output_dir)
    resume = cfg.get("resume") is not None
    writer = rank_zero_only.rank == 0
    with (
        claimed(run.path, resume, writer),
        hint_on_stop(run.path, writer),
        known_library_warnings(cfg.trainer),
    ):
        if writer and not resume:
            keep_config(run, cfg)
        pl.seed_everything(cfg.seed, workers=True, verbose=False)
        split_data(datamodule, run, resume, writer)
        done = run.fold_results() if resume else {}
        folds = datamodule.selected_folds
        results = []
        for fold in folds:
            if fold in done:
                log.info("fold %d: finished before, kept (%s)", fold, run.fold_dir(fold))
                results.append(done[fold])
            else:
                results.append(train_fold(cfg, datamodule, fold, run))
                if writer:
                    run.write_fold_result(results[-1])
            summary = summarize_run(
                run,
                results,
                datamodule.class_names,
                complete=len(results) == len(folds),
                bad_files_left_out=len(datamodule.left_out),
                split_report=datamodule.drawn.report,
                write=writer,
            )
            if writer and summary["complete"]:
                log_cross_validation(run.path, summary, cfg.get("hparams"))
    log.info(summary_text(run, summary))
    return summary


def split_data(datamodule, run: RunFolder, resume: bool, writer: bool) -> None:
    """The datamodule's images scanned and split; split.json (with the files a given split came from),
    image_hashes.json, trim.txt, and bad_files.txt and duplicates.txt when there are any, in the run
    folder."""
    if resume:
        check_sources(run, lambda: split_sources(datamodule.settings))
    try:
        datamodule.prepare_data()
        datamodule.setup()
    except BadImages as err:
        raise UserError(err.summary(write_bad_files(run, err.files) if writer else None)) from None
    except DuplicateConflicts as err:
        listed = f"; all listed in {write_duplicates(run, err.drawn)}" if writer else ""
        raise UserError(f"{err}{listed}") from None
    drawn = datamodule.drawn
    found = drawn.report["duplicates"]
    if writer:
        if datamodule.left_out:
            write_bad_files(run, datamodule.left_out)
        if drawn.duplicates:
            write_duplicates(run, drawn)
        sources = drawn.report["sources"]
        split = {**datamodule.split.to_dict(), **({"source": sources} if sources else {})}
        write_image_hashes(run, split, datamodule.scanned)
        write_text(run.trim, datamodule.trim_report)
        keep_split(run, split, resume)
    log.info(
        "duplicates: %d group(s) of %d images (%d exact, %d near), each kept in one part%s",
        found["groups"],
        found["files"],
        found["exact_groups"],
        found["near_groups"],
        f"; listed in {run.duplicates}" if drawn.duplicates else "",
    )


def train_fold(cfg: DictConfig, datamodule, fold: int, run: RunFolder) -> dict:
    """Fresh model and Trainer for one fold, or the fold continued from its last.ckpt; returns its best
    checkpoint's val (and test) metrics."""
    started = time.perf_counter()
    # Seeded per fold, so a fold run alone (data.fold=k) matches the same fold in a full run.
    pl.seed_everything(cfg.seed + fold, workers=True, verbose=False)
    datamodule.use_fold(fold)
    model = build(
        "model", cfg.model, class_names=datamodule.class_names, preprocessing=datamodule.preprocessing
    )
    trainer = fold_trainer(cfg, run, fold)
    check_fold(cfg, datamodule, model, trainer, fold)
    keep_data_path(run, datamodule, trainer, cfg.get("resume") is not None, rank_zero_only.rank == 0)
    fit_fold(trainer, model, datamodule, last_checkpoint(run, fold), fold)
    result = score_best_checkpoint(cfg, trainer, model, datamodule, run, fold)
    log_fold_result(cfg, trainer, result, fold, started)
    return result


def fold_trainer(cfg: DictConfig, run: RunFolder, fold: int) -> pl.Trainer:
    """The fold's Trainer, with the fold's loggers and callbacks, at a precision this machine runs."""
    loggers = fold_loggers(cfg, run.fold_dir(fold).name)
    callbacks = fold_callbacks(cfg, run, fold)
    precision = supported_precision(
        cfg.trainer.get("precision", "32-true"), cfg.trainer.get("accelerator", "auto")
    )
    trainer = build(
        "trainer",
        cfg.trainer,
        logger=loggers,
        callbacks=callbacks,
        precision=precision,
        rejected=(MisconfigurationException,),
    )
    refuse_respawn_in_multirun(trainer)
    return trainer


def fold_callbacks(cfg: DictConfig, run: RunFolder, fold: int) -> list[pl.Callback]:
    """The configured callbacks and the ones every fold has; checkpoints written into the fold's folder."""
    callbacks = [build(f"callbacks.{name}", c) for name, c in cfg.get("callbacks", {}).items()]
    # not config choices: a diverged fold is never kept, and a moved run folder continues, whatever
    # callbacks the run has
    callbacks = [FiniteLoss(fold), MovedRunFolder(), *callbacks]
    for callback in callbacks:
        if isinstance(callback, ModelCheckpoint) and callback.dirpath is None:
            callback.dirpath = str(run.checkpoint_dir(fold))
    if not cfg.trainer.get("enable_progress_bar", True):
        callbacks = [c for c in callbacks if not isinstance(c, ProgressBar)]  # Lightning refuses one then
    return callbacks


def check_fold(cfg: DictConfig, datamodule, model, trainer: pl.Trainer, fold: int) -> None:
    """Refuse a fold that would train on no batch, fit the logging interval to the fold, and say what the
    fold trains: its images, the model, the device and the precision."""
    train_files, val_files = datamodule.split.train_val(fold)
    refuse_empty_batches(len(train_files), trainer.world_size, datamodule.settings.batch_size, fold)
    # a fold of fewer batches than the logging interval would log no training loss (and Lightning warns)
    batches = max(1, len(train_files) // (datamodule.settings.batch_size * trainer.world_size))
    trainer.log_every_n_steps = min(trainer.log_every_n_steps, batches)
    log.info(
        "fold %d/%d: %d train, %d val images; %s, %.1f M parameters, %s, %s",
        fold,
        len(datamodule.split.folds),
        len(train_files),
        len(val_files),
        cfg.model.get("arch", type(model).__name__),
        sum(p.numel() for p in model.parameters()) / 1e6,
        trainer.strategy.root_device,
        trainer.precision,
    )


def fit_fold(trainer: pl.Trainer, model, datamodule, resume_from: Path | None, fold: int) -> None:
    """Train the fold, from its start or (``resume_from``) from the last.ckpt of a stopped attempt."""
    if resume_from is not None:
        log.info("fold %d: continuing from %s", fold, resume_from)
    with warnings.catch_warnings():
        if resume_from is not None:
            # checkpoints/ holds the stopped attempt's files, which is what a resume continues from; Lightning
            # warns of any checkpoint folder that is not empty (ModelCheckpoint.__warn_if_dir_not_empty)
            warnings.filterwarnings("ignore", message="Checkpoint directory .* exists and is not empty")
        trainer.fit(model, datamodule=datamodule, ckpt_path=resume_from)


def score_best_checkpoint(
    cfg: DictConfig, trainer: pl.Trainer, model, datamodule, run: RunFolder, fold: int
) -> dict:
    """The fold's result: its best checkpoint validated (and tested), then calibrated."""
    # none with trainer.fast_dev_run (Lightning's smoke test saves nothing): the weights as they are then
    best = trainer.checkpoint_callback.best_model_path or None
    result = {
        "fold": fold,
        "checkpoint": str(Path(best).relative_to(run.path)) if best else None,
        "epochs": trainer.current_epoch,
    }
    # With weight averaging (callbacks=ema) a checkpoint's state_dict holds the averaged weights, the ones
    # predict.py loads, and loading it with the callback attached puts the raw weights back: evaluate and
    # calibrate what prediction will use (Lightning then warns that the callback is missing)
    trainer.callbacks = [c for c in trainer.callbacks if not isinstance(c, WeightAveraging)]
    # data.test_fraction=0 (the test set scored apart, by eval.py): no test set to score
    test = cfg.test and bool(datamodule.split.test)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*callbacks used to create the checkpoint")
        result.update(trainer.validate(model, datamodule=datamodule, ckpt_path=best, verbose=False)[0])
        if test:
            # validate has loaded the checkpoint into the model: test it as it is
            result.update(trainer.test(model, datamodule=datamodule, verbose=False)[0])
    # every process computes the same calibration (the whole validation and test sets, no sharding), so
    # all return the same summary; only rank 0 writes the temperature and the test probabilities
    bf16 = str(trainer.precision).startswith("bf16")
    result.update(
        calibrate_fold(
            model,
            datamodule,
            run.test_probabilities(fold),
            Path(best) if best else None,
            bf16,
            test=test,
            write=trainer.is_global_zero,
        )
    )
    return result


def log_fold_result(cfg: DictConfig, trainer: pl.Trainer, result: dict, fold: int, started: float) -> None:
    """The fold's settings and final metrics to its loggers (TensorBoard's HPARAMS), and its accuracies and
    time since ``started`` (time.perf_counter) in the log."""
    params = OmegaConf.to_container(cfg.get("hparams") or {}, resolve=True)
    log_hparams(trainer, {**params, "fold": fold}, {k: v for k, v in result.items() if "/" in k})
    scores = ", ".join(f"{k} {v:.3f}" for k, v in result.items() if k.endswith("/acc"))
    log.info("fold %d finished in %.0f s: %s", fold, time.perf_counter() - started, scores)


def refuse_empty_batches(train_images: int, processes: int, batch_size: int, fold: int) -> None:
    """Under DDP each process trains on its share of the images, in full batches only: a share below
    one batch would train on nothing."""
    share = math.ceil(train_images / processes)
    if processes > 1 and share < batch_size:
        raise UserError(
            f"fold {fold}: {train_images} training images over {processes} processes is {share} per process, "
            f"less than one batch (data.batch_size={batch_size}); set data.batch_size={share} or lower, "
            "or train on fewer devices"
        )


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

"""Finishing a stopped run: ``python train.py resume=<run folder>``.

The run continues in its own folder with the config it was started with (its ``.hydra/config.yaml``,
left as it is, checked against run_config.json by saved_config.py): finished folds are kept, the
interrupted fold continues from its ``last.ckpt`` (weights, optimizer, scheduler, epoch and, through
RandomState and EpochEndStep, the random generators and the learning-rate step taken after the
checkpoint), and the data must still give the run's split. A run stopped by Ctrl-C or SIGTERM says
so and prints this command.
"""

from __future__ import annotations

import contextlib
import logging
import random
import signal
from collections.abc import Iterator
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import torch
from hydra import compose
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from genre_lightning.errors import UserError
from genre_lightning.training.saved_config import check_same_config, check_targets, flatten, project_targets

log = logging.getLogger(__name__)

SAVED_CONFIG = Path(".hydra") / "config.yaml"
SAVED_OVERRIDES = Path(".hydra") / "overrides.yaml"


def hydra_overrides(argv: list[str]) -> list[str]:
    """What ``resume=<run folder>`` on the command line adds for Hydra: run in that folder, and write no
    .hydra/ of this command there (the run's own is its config). Nothing without resume=."""
    given = [arg.partition("=")[2] for arg in argv if arg.startswith("resume=")]
    if not given or given[-1] in ("", "null"):
        return []
    run_dir = Path(given[-1])
    if "-m" in argv or "--multirun" in argv:
        raise UserError("resume= finishes one run; drop -m (each job folder of a sweep is a run folder)")
    if not (run_dir / SAVED_CONFIG).is_file():
        raise UserError(
            f"resume={run_dir}: not a run folder (no {SAVED_CONFIG}); pass a folder of logs/train/runs/"
        )
    return [f'hydra.run.dir="{run_dir}"', "hydra.output_subdir=null"]


def run_config(cfg: DictConfig) -> DictConfig:
    """The config the run ``cfg.resume`` was started with, ``resume`` set; refuses settings on this
    command line that would change it, naming them."""
    run_dir = Path(cfg.resume)
    overrides = [item for item in HydraConfig.get().overrides.task if not item.startswith("resume=")]
    changed = changed_keys(list(OmegaConf.load(run_dir / SAVED_OVERRIDES)), overrides) if overrides else []
    if changed:
        raise UserError(
            f"resume={run_dir}: {', '.join(changed)} would differ from the run's config "
            f"({run_dir / SAVED_CONFIG}); resume without them, or start a new run"
        )
    saved = OmegaConf.load(run_dir / SAVED_CONFIG)
    command_line = {item.partition("=")[2] for item in overrides if _key(item).endswith("_target_")}
    check_targets(saved, project_targets(_config_dir()) | command_line, run_dir / SAVED_CONFIG)
    with open_dict(saved):
        saved.resume = str(run_dir)
    try:
        check_same_config(run_dir, saved)
    except OmegaConfBaseException as err:
        raise UserError(f"{run_dir / SAVED_CONFIG}: {' '.join(str(err).split())}; restore the file") from None
    log.info("resuming %s with its saved config", run_dir)
    return saved


def _config_dir() -> Path:
    """The folder of train.py's own configs (configs/)."""
    main = [s for s in HydraConfig.get().runtime.config_sources if s.provider == "main"]
    return Path(main[0].path.removeprefix("file://"))


def changed_keys(saved_overrides: list[str], overrides: list[str]) -> list[str]:
    """The config keys that ``overrides`` on top of ``saved_overrides`` change (``trainer.max_epochs``...)."""
    given = {_key(item) for item in overrides}
    try:
        before = compose(HydraConfig.get().job.config_name, overrides=saved_overrides)
        after = compose(
            HydraConfig.get().job.config_name,
            overrides=[item for item in saved_overrides if _key(item) not in given] + overrides,
        )
    except (HydraException, OmegaConfBaseException) as err:
        raise UserError(f"resume: {overrides} do not apply to the run's config ({err})") from None
    before, after = flatten(OmegaConf.to_container(before)), flatten(OmegaConf.to_container(after))
    return sorted(key for key in before.keys() | after.keys() if before.get(key) != after.get(key))


def _key(override: str) -> str:
    return override.partition("=")[0].lstrip("+~")


@contextlib.contextmanager
def hint_on_stop(run_dir: Path, writer: bool) -> Iterator[None]:
    """Ctrl-C or SIGTERM ends the run with the command that finishes it, exit status 130 or 143.

    SIGTERM (a cluster's time limit, ``kill``) is turned into the KeyboardInterrupt of Ctrl-C, which
    Lightning answers by stopping its processes and exiting; either way the exit passes through here.
    """
    signals = []

    def terminate(signum, frame):
        signals.append(signum)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    except (KeyboardInterrupt, SystemExit):
        if writer:
            log.warning("stopped; finish this run with: python train.py resume=%s", run_dir)
        raise SystemExit(143 if signals else 130) from None
    finally:
        signal.signal(signal.SIGTERM, previous)


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

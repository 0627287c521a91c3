"""Hydra's callbacks (configs/hydra/default.yaml): each run's folder claimed before Hydra writes there, and
each multirun summarised when it ends."""

from __future__ import annotations

from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from omegaconf import DictConfig

from genre_lightning.errors import UserError, exit_on_user_error
from genre_lightning.run_folder.lock import claim, release
from genre_lightning.training.checks import check_config
from genre_lightning.training.sweeps import (
    FOLD_KEY,
    aggregate_folds,
    load_jobs,
    sweep_direction,
    varying_keys,
    write_sweep_summary,
)


class ClaimRunFolder(Callback):
    """Hydra callback: check the config's values, then claim each run's folder before Hydra writes its
    config and log there, so a mistake leaves no folder behind, and a second run given the same folder stops
    with one line and leaves the first one's files alone. Under DDP only rank 0 claims: Lightning starts
    the other processes in the same folder."""

    @exit_on_user_error
    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        # Hydra sets HydraConfig only after this callback, in run_job, and the default hydra.run.dir needs it
        # (${hydra:runtime.cwd}); ${now:...} is cached in `config`, so run_job resolves the same folder
        HydraConfig.instance().set_config(config)
        self._check_and_claim(config, config.hydra.run.dir)

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        # Hydra sets HydraConfig only in each job's run_job, and the sweeper and launcher read the default
        # hydra.sweep.dir (${hydra:runtime.cwd}) before the first job; ${now:...} is cached in `config`
        HydraConfig.instance().set_config(config)

    @exit_on_user_error
    def on_job_start(self, config: DictConfig, **kwargs) -> None:
        # a multirun job's folder (a run's was claimed above): Hydra has written its config already
        self._check_and_claim(config, config.hydra.runtime.output_dir)

    @staticmethod
    def _check_and_claim(config: DictConfig, run_dir: str) -> None:
        resume = config.get("resume") is not None
        if not resume:  # a resume is checked against its run's own config, by train()
            check_config(config)
        if rank_zero_only.rank == 0:
            claim(run_dir, resume=resume)

    def on_job_end(self, config: DictConfig, **kwargs) -> None:
        release(config.hydra.runtime.output_dir)


class SweepSummary(Callback):
    """Hydra callback: at the end of a multirun, write the sweep summary; if the jobs differ only in
    data.fold, merge them into one cv_summary.json too."""

    def __init__(self, direction: str | None = None):
        self.direction = direction

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            write_sweep_summary(
                sweep_dir, config.optimized_metric, sweep_direction(config.hydra, self.direction)
            )
            jobs = load_jobs(sweep_dir)
            if varying_keys(jobs) == [FOLD_KEY]:
                aggregate_folds(sweep_dir)
        except UserError as err:
            # Hydra would turn an exception here into a warning with a class name: say it plainly
            print(f"error: {err}")

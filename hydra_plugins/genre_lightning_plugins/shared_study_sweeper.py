"""hparams_search=optuna: our Hydra sweeper on Optuna (4 or later), one study shared by every process given
its storage (configs/hydra/sweeper/optuna.yaml).

Each batch asks the study for n_jobs trials, samples hydra.sweeper.params (search_space.py's syntax; a value
given on the command line is held fixed) and launches them as jobs through the configured launcher (in
turn here, or as SLURM jobs); each job's return value (train.py's optimized_metric) is told to the study.
Batches go on only while the study holds fewer than n_trials trials that are finished or running, whichever
process runs them. So any number of processes, on any machines that reach the storage (optuna_storage.py),
share the n_trials, and a sweep stopped (Ctrl-C, SIGTERM) and started again with the same command runs only
what is missing: the trials it was running are marked FAIL, as Optuna marks a trial whose objective raised,
and are not counted. A sweep started again in the same hydra.sweep.dir numbers its jobs on from the job
folders already there.

Two processes may ask for the last trials at the same moment: the study numbers trials in the order it
creates them, so the one whose trial comes after the first n_trials marks it FAIL (never run) and stops. At
the end each process reports: the study's best trial, where it finds no trial running (the last process to
finish, or each of two that end at the same moment); the number of trials still running, from the others.
Each process writes its own sweep folder (its sweep_summary.csv ranks its own jobs) and
optimization_results.yaml (the study's best when it ended).

Hydra imports every module under hydra_plugins for every command: Optuna is imported only when a sweep
starts, so that a plain install (no sweeps extra) imports this module quietly.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from genre_lightning.errors import UserError, exit_on_user_error
from genre_lightning.files import write_text
from genre_lightning.training.interrupt import stop_signals
from hydra_plugins.genre_lightning_plugins.optuna_storage import open_storage
from hydra_plugins.genre_lightning_plugins.search_space import parse

log = logging.getLogger(__name__)

RESULTS_FILE = "optimization_results.yaml"


class SharedStudySweeper(Sweeper):
    def __init__(
        self,
        sampler: DictConfig,
        direction: str,
        n_trials: int,
        n_jobs: int,
        storage: str | None = None,
        study_name: str | None = None,
        params: DictConfig | None = None,
    ) -> None:
        # the sampler is built when a sweep starts (configs/hydra/sweeper/optuna.yaml: _recursive_: false)
        self.sampler, self.direction, self.n_trials, self.n_jobs = sampler, direction, n_trials, n_jobs
        self.storage, self.study_name = storage, study_name
        self.params = dict(params or {})

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            config=config, hydra_context=hydra_context, task_function=task_function
        )

    @exit_on_user_error
    def sweep(self, arguments: list[str]) -> None:
        try:
            import optuna
        except ModuleNotFoundError:
            raise UserError("hparams_search needs Optuna: pip install -e '.[sweeps]'") from None
        if self.n_trials < 1 or self.n_jobs < 1:
            raise UserError(
                f"hydra.sweeper.n_trials={self.n_trials}, n_jobs={self.n_jobs}: both must be at least 1; fix "
                "hydra.sweeper.n_trials or hydra.sweeper.n_jobs"
            )
        space, fixed = parse([f"{key}={value}" for key, value in self.params.items()] + list(arguments))
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # a line per trial: the jobs log their own
        storage, sampler = open_storage(self.storage), instantiate(self.sampler)
        try:
            study = optuna.create_study(
                study_name=self.study_name, storage=storage, sampler=sampler, direction=self.direction
            )
        except optuna.exceptions.DuplicatedStudyError:
            # Another process made the study (it may be drawing its first trials this moment, before any
            # is stored), or this search is started again: with the same seed the sampler would draw that
            # process's values once more (Optuna's first trials are random). Only the study's maker keeps it.
            study = optuna.load_study(study_name=self.study_name, storage=storage, sampler=sampler)
            study.sampler.reseed_rng()
        sweep_dir = Path(self.config.hydra.sweep.dir)
        job = next_job(sweep_dir)
        ran = 0
        with stop_signals() as stops:
            try:
                while (room := self.n_trials - len(counted(study))) > 0:
                    trials = self._within_n_trials(
                        study, [study.ask() for _ in range(min(self.n_jobs, room))]
                    )
                    if not trials:
                        continue
                    overrides = [self._sample(trial, space, fixed) for trial in trials]
                    try:
                        returns = self.launcher.launch(overrides, initial_job_idx=job)
                    except BaseException:
                        # stopped: the unfinished trials leave the count, so a restart runs them again
                        fail_running(study, trials)
                        raise
                    job += len(returns)
                    ran += len(trials)
                    tell(study, trials, returns)
            except KeyboardInterrupt:
                # Ctrl-C or SIGTERM between two jobs (inside a job, train.py exits with 130 or 143 itself)
                raise SystemExit(143 if stops else 130) from None
        self._report(study, ran, sweep_dir)

    def _within_n_trials(self, study, trials: list) -> list:
        """The trials numbered within the study's first n_trials (failed ones left out); the others, asked
        for by another process at the same moment, are marked FAIL (never run)."""
        from optuna.trial import TrialState

        states = {t.number: t.state for t in study.get_trials(deepcopy=False)}
        kept = []
        for trial in trials:
            before = [n for n, state in states.items() if n < trial.number and state != TrialState.FAIL]
            if len(before) < self.n_trials:
                kept.append(trial)
            else:
                study.tell(trial, state=TrialState.FAIL)
        return kept

    @staticmethod
    def _sample(trial, space: dict[str, Any], fixed: dict[str, str]) -> list[str]:
        """The trial's job overrides: a value drawn for each key of the search space, the fixed ones as given
        (kept in the study as the trial's user attributes)."""
        from optuna.distributions import CategoricalDistribution, IntDistribution

        for name, dist in space.items():
            if isinstance(dist, CategoricalDistribution):
                trial.suggest_categorical(name, dist.choices)
            elif isinstance(dist, IntDistribution):
                trial.suggest_int(name, dist.low, dist.high, step=dist.step, log=dist.log)
            else:
                trial.suggest_float(name, dist.low, dist.high, step=dist.step, log=dist.log)
        for name, value in fixed.items():
            trial.set_user_attr(name, value)
        return [f"{name}={value}" for name, value in {**trial.params, **fixed}.items()]

    def _report(self, study, ran: int, sweep_dir: Path) -> None:
        from optuna.trial import TrialState

        finished = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        # not the storage: its URL may hold a password
        name = f"study {study.study_name!r}"
        if running:
            log.info(
                "%s: %d trial(s) run here, %d finished, %d still running elsewhere; the process that "
                "finishes last reports the best trial",
                name,
                ran,
                len(finished),
                len(running),
            )
        if not finished:
            return
        best = study.best_trial
        if not running:
            log.info(
                "%s: %d trial(s) run here, %d finished; best trial #%d: value %s, %s",
                name,
                ran,
                len(finished),
                best.number,
                best.value,
                best.params,
            )
        results = {"name": "optuna", "best_params": best.params, "best_value": best.value}
        write_text(sweep_dir / RESULTS_FILE, OmegaConf.to_yaml(OmegaConf.create(results)))


def counted(study) -> list:
    """The trials that count towards n_trials: finished, or running (here or in another process)."""
    from optuna.trial import TrialState

    states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)
    return study.get_trials(deepcopy=False, states=states)


def next_job(sweep_dir: Path) -> int:
    """The number of the sweep's next job: after the job folders a sweep before left in sweep_dir."""
    numbers = (
        [int(path.name) for path in sweep_dir.glob("*") if path.name.isdigit()] if sweep_dir.is_dir() else []
    )
    return max(numbers, default=-1) + 1


def fail_running(study, trials: list) -> None:
    """Those of ``trials`` still running in the study, marked FAIL."""
    from optuna.trial import TrialState

    states = {t.number: t.state for t in study.get_trials(deepcopy=False)}
    for trial in trials:
        if states[trial.number] == TrialState.RUNNING:
            study.tell(trial, state=TrialState.FAIL)


def tell(study, trials: list, returns: Sequence[JobReturn]) -> None:
    """Each job's value told to its trial; a job that failed marks its trial FAIL, and its error, raised once
    every trial is told, stops the sweep (a bug would fail every trial alike)."""
    from optuna.trial import TrialState

    failed = None
    for trial, result in zip(trials, returns, strict=True):
        try:
            study.tell(trial, float(result.return_value))
        except Exception as err:  # the job's own error, raised by return_value, or a value that is no number
            study.tell(trial, state=TrialState.FAIL)
            failed = failed or err
    if failed is not None:
        raise failed

"""hparams_search=optuna: hydra-optuna-sweeper's Optuna sweeper, for one study shared by several processes.

hydra-optuna-sweeper runs n_trials trials in each process: two processes on one storage would make a study of
twice n_trials, and a sweep started again after it stopped would run n_trials more. This sweeper runs the
same trials (the same sampling, launcher and files), n_jobs at a time, only while the study holds fewer than
n_trials trials that are finished or running, whichever process runs them. So any number of processes, on
any machines that reach the storage, share the n_trials, and a sweep stopped (Ctrl-C, SIGTERM) and started
again with the same command runs only what is missing: the trial it was running is marked FAIL, as Optuna
marks a trial whose objective raised, and is not counted.

Two processes may ask for the last trials at the same moment: the study numbers trials in the order it
creates them, so the one whose trial comes after the first n_trials marks it FAIL (never run) and stops. At
the end each process reports: the study's best trial, from the last process to finish (no trial running);
the number of trials still running, from the others. Each process writes its own sweep folder (its
sweep_summary.csv ranks its own jobs) and optimization_results.yaml (the study's best when it ended).

Without a storage (or a study_name) the study lives in this process only: the sweeper is
hydra-optuna-sweeper's, as it is.
"""

from __future__ import annotations

import logging
import time
from typing import Any

try:
    from hydra_plugins.hydra_optuna_sweeper.optuna_sweeper import OptunaSweeper
except ModuleNotFoundError:
    # Hydra imports every module under hydra_plugins for every command: without the sweeps extra this
    # module still imports, quietly, and SharedStudySweeper is a plain class that Hydra does not register
    OptunaSweeper = object

log = logging.getLogger(__name__)


def open_storage(url: str):
    """Optuna's storage at url. Processes started at once on a new database all create its tables, and on
    PostgreSQL all but one fail (a type or table that another created a moment before): they connect again,
    and find the tables made."""
    import optuna
    from sqlalchemy.exc import IntegrityError, ProgrammingError

    try:
        return optuna.storages.RDBStorage(url)
    except (IntegrityError, ProgrammingError):
        time.sleep(1)
        return optuna.storages.RDBStorage(url)


class StudyFull(Exception):
    """Trials asked for when the study already had its n_trials: they are marked FAIL, never run."""


class SharedStudySweeper(OptunaSweeper):
    def __init__(self, **params: Any) -> None:
        # Hydra imports every plugin module at start-up: Optuna only when a sweep is made
        from hydra_plugins.hydra_optuna_sweeper._impl import OptunaSweeperImpl
        from optuna.trial import TrialState

        owner = self

        class Impl(OptunaSweeperImpl):
            def _configure_trials(self, trials, *args, **kwargs):
                """Between asking for trials and launching them: none beyond the study's n_trials."""
                if owner.n_trials is not None and not owner.asked_before and trials[0].number > 0:
                    # Another process started the study, or this one is started again: the sampler's seed
                    # would draw that process's values (Optuna's first trials are random) once more
                    self.sampler.reseed_rng()
                owner.asked_before = owner.asked_before or bool(trials)
                owner.asked.extend(trials)
                if owner.n_trials is not None:
                    states = {t.number: t.state for t in trials[0].study.get_trials(deepcopy=False)}
                    for trial in trials:
                        before = [
                            n for n, state in states.items() if n < trial.number and state != TrialState.FAIL
                        ]
                        if len(before) >= owner.n_trials:
                            raise StudyFull
                return super()._configure_trials(trials, *args, **kwargs)

        self.asked: list = []
        self.asked_before = False
        # the study's n_trials, while a shared study is swept
        self.n_trials: int | None = None
        self.sweeper = Impl(**params)

    def sweep(self, arguments: list[str]) -> None:
        impl = self.sweeper
        if impl.storage is None or impl.study_name is None:
            return impl.sweep(arguments)
        import optuna
        from optuna.trial import TrialState

        # one storage for every batch (hydra-optuna-sweeper would connect anew for each)
        if isinstance(impl.storage, str):
            impl.storage = open_storage(impl.storage)
        study = optuna.create_study(
            study_name=impl.study_name,
            storage=impl.storage,
            directions=impl._get_directions(),
            load_if_exists=True,
        )
        self.n_trials = n_trials = impl.n_trials
        counted = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)
        ran = 0
        # the sweeper's own lines (study, storage, best value) would repeat for each batch: said once below
        quiet = logging.getLogger(impl.__module__)
        level = quiet.level
        quiet.setLevel(logging.WARNING)
        try:
            while (remaining := n_trials - len(study.get_trials(deepcopy=False, states=counted))) > 0:
                impl.n_trials = min(impl.n_jobs, remaining)
                self.asked.clear()
                try:
                    impl.sweep(arguments)
                    ran += len(self.asked)
                except StudyFull:
                    self.fail_unfinished(study)
                except BaseException:
                    # stopped: this batch's unfinished trials leave the count, so a restart runs them again
                    self.fail_unfinished(study)
                    raise
        finally:
            quiet.setLevel(level)
            impl.n_trials, self.n_trials = n_trials, None
        self.report(study, ran)

    def fail_unfinished(self, study) -> None:
        """This batch's trials that have not finished, marked FAIL."""
        from optuna.trial import TrialState

        states = {t.number: t.state for t in study.get_trials(deepcopy=False)}
        for trial in self.asked:
            if states[trial.number] == TrialState.RUNNING:
                study.tell(trial.number, state=TrialState.FAIL)

    def report(self, study, ran: int) -> None:
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
        elif finished:
            best = study.best_trial
            log.info(
                "%s: %d trial(s) run here, %d finished; best trial #%d: value %s, %s",
                name,
                ran,
                len(finished),
                best.number,
                best.value,
                best.params,
            )

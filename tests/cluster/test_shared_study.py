"""One Optuna study from several processes (hparams_search=optuna with a storage): two sweeps, the second
started while the first trains, share the study's n_trials, on SQLite, a journal file and a live PostgreSQL
server (tests/cluster/conftest.py); SLURM jobs share one through a journal file; a sweep stopped and started
again with the same command in the same sweep folder finishes its study."""

import json
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from conftest import ROOT, TINY
from omegaconf import OmegaConf

from cluster.processes import finish, start_train
from hydra_plugins.genre_lightning_plugins.optuna_storage import open_storage

pytestmark = pytest.mark.cluster

# 8 images per genre, one fold: a trial trains in seconds. Ranked by the validation loss: accuracies on
# 21 images tie too often to tell a best trial.
SMALL = [
    *TINY,
    "data.max_per_class=8",
    "data.fold=0",
    "optimized_metric=val/loss_mean",
    "hydra.sweeper.direction=minimize",
]


@pytest.fixture(params=["sqlite", "journal", "postgresql"])
def storage(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/optuna.db"
    if request.param == "journal":
        return f"journal:{tmp_path}/optuna.journal"
    return request.getfixturevalue("postgres")


def arguments(log_dir: Path, demo_root, storage: str, study: str, n_trials: int) -> list[str]:
    """train.py's arguments for a search on the storage; its sweep folder is its own (logs/multiruns/<time>)
    under log_dir."""
    return [
        "hparams_search=optuna", *SMALL, f"data.root={demo_root}", f"hydra.sweeper.n_trials={n_trials}",
        f"hydra.sweeper.storage='{storage}'", f"hydra.sweeper.study_name={study}", f"paths.log_dir={log_dir}",
    ]  # fmt: skip


def search(log_dir: Path, demo_root, storage: str, study: str, n_trials: int, *more: str) -> subprocess.Popen:
    """`python train.py hparams_search=optuna ...` on the storage, started."""
    return start_train(*arguments(log_dir, demo_root, storage, study, n_trials), *more)


def search_here(entry, log_dir: Path, demo_root, storage: str, study: str, n_trials: int, *more: str) -> str:
    """The same search in this process (conftest's entry runs train.py as its command line does: one
    start-up fewer), once it has exited 0: what it printed."""
    result = entry("train.py", *arguments(log_dir, demo_root, storage, study, n_trials), *more)
    assert result.code == 0, result.out[-3000:] + result.err[-3000:]
    return result.out + result.err


def started(proc: subprocess.Popen, job: Path) -> None:
    """Wait until the process has begun the job (the study is made and its first trial drawn)."""
    deadline = time.monotonic() + 240
    while not job.exists():
        assert proc.poll() is None and time.monotonic() < deadline, finish(proc)
        time.sleep(0.1)


def jobs(log_dir: Path) -> list[Path]:
    """The job folders of every sweep under log_dir."""
    return sorted(path.parent.parent for path in (log_dir / "multiruns").glob("*/*/.hydra/overrides.yaml"))


def check_study(storage: str, study: str, n_trials: int, log_dir: Path) -> list[optuna.trial.FrozenTrial]:
    """The study holds n_trials finished trials, numbered once each, each run once in a job folder of its
    own with the sampled values; any other trial failed (stopped, or asked after the study was full)."""
    trials = optuna.load_study(study_name=study, storage=open_storage(storage)).trials
    assert [trial.number for trial in trials] == list(range(len(trials)))
    finished = [trial for trial in trials if trial.state.name == "COMPLETE"]
    assert len(finished) == n_trials
    assert {trial.state.name for trial in trials} <= {"COMPLETE", "FAIL"}
    ran = {}
    for job in jobs(log_dir):
        lr = OmegaConf.load(job / ".hydra" / "config.yaml").model.optimizer.lr
        summary = (
            json.loads((job / "cv_summary.json").read_text()) if (job / "cv_summary.json").exists() else None
        )
        ran[lr] = summary and summary["metrics"]["val/loss_mean"]
    assert len(ran) == len(jobs(log_dir))
    for trial in finished:
        assert ran[trial.params["model.optimizer.lr"]] == pytest.approx(trial.value)
    return finished


def check_reports(outs: list[str], finished: list[optuna.trial.FrozenTrial]) -> optuna.trial.FrozenTrial:
    """Each process ends with one line: the study's best trial where it finds no trial running (the last to
    finish, or both when they end at the same moment), else that trials are still running elsewhere; the
    best is reported at least once. Returns the best trial."""
    best = min(finished, key=lambda trial: trial.value)
    for out in outs:
        [line] = [
            line for line in out.splitlines() if "best trial #" in line or "still running elsewhere" in line
        ]
        assert f"best trial #{best.number}: value {best.value}" in line or (
            "still running elsewhere; the process that finishes last reports the best trial" in line
        ), line
    assert any("best trial #" in out for out in outs), outs
    return best


def test_two_processes_share_one_study(storage, demo_root, tmp_path, entry):
    study = f"shared_{tmp_path.name}"
    # another process starts the search, and this one joins it while the other trains its first trial
    sweep = tmp_path / "multiruns" / "other"
    other = search(tmp_path, demo_root, storage, study, 3, f"hydra.sweep.dir={sweep}")
    started(other, sweep / "0")
    here = search_here(entry, tmp_path, demo_root, storage, study, 3)
    outs = [finish(other), here]
    finished = check_study(storage, study, 3, tmp_path)
    assert len(jobs(tmp_path)) == 3
    # two sweep folders, each ranking its own jobs: no run wrote over another's
    sweeps = sorted((tmp_path / "multiruns").iterdir())
    assert len(sweeps) == 2 and all((sweep / "sweep_summary.csv").is_file() for sweep in sweeps)

    best = check_reports(outs, finished)
    assert OmegaConf.load(sweeps[0] / "optimization_results.yaml").best_value >= best.value


def test_a_stopped_search_started_again_finishes_its_study(demo_root, tmp_path, entry):
    storage, study = f"sqlite:///{tmp_path}/optuna.db", "restarted"
    # one sweep folder for both: the restart numbers its jobs on from those there
    sweep = tmp_path / "multiruns" / "search"
    proc = search(tmp_path, demo_root, storage, study, 2, f"hydra.sweep.dir={sweep}")
    # stopped (SIGTERM, as a cluster's time limit) while its second trial trains
    started(proc, sweep / "1" / "split.json")
    proc.send_signal(signal.SIGTERM)
    out = finish(proc, code=143)
    assert "Exception ignored" not in out and "Traceback" not in out, out[-3000:]
    trials = optuna.load_study(study_name=study, storage=storage).trials
    assert [trial.state.name for trial in trials] == ["COMPLETE", "FAIL"]

    # the same command again (in this process): the study's first trial is kept, and one more, job 2, makes
    # its two
    out = search_here(entry, tmp_path, demo_root, storage, study, 2, f"hydra.sweep.dir={sweep}")
    finished = check_study(storage, study, 2, tmp_path)
    assert [trial.number for trial in finished] == [0, 2]
    assert "1 trial(s) run here, 2 finished; best trial #" in out
    assert (sweep / "2" / "cv_summary.json").is_file() and not (sweep / "1" / "cv_summary.json").exists()


def test_slurm_jobs_share_one_study_through_a_journal_file(slurm, demo_root, tmp_path):
    # two searches as one SLURM job array, sharing a study through a file on the filesystem they both see
    storage, study = f"journal:{tmp_path}/optuna.journal", "on_slurm"
    command = shlex.join([sys.executable, "train.py", *arguments(tmp_path, demo_root, storage, study, 3)])
    script = tmp_path / "search.sh"
    script.write_text(
        "#!/bin/bash\n"
        f"#SBATCH --array=0-1 --cpus-per-task=1 --mem=1G --output={tmp_path}/job_%a.out\n"
        f"cd {ROOT} && exec {command}\n"
    )
    array = slurm.run("sbatch", "--parsable", str(script)).strip()
    deadline = time.monotonic() + 300
    # until no task of the array is pending, running or ending (squeue names no ended job)
    while slurm.run("squeue", "-h", "-j", array, "-t", "PD,CF,R,CG").strip():
        assert time.monotonic() < deadline, slurm.run("squeue", "-j", array)
        time.sleep(0.5)
    outs = [(tmp_path / f"job_{task}.out").read_text() for task in (0, 1)]
    finished = check_study(storage, study, 3, tmp_path)
    assert len(jobs(tmp_path)) == 3
    check_reports(outs, finished)

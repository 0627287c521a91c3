"""Sweeps on a live one-node SLURM cluster (tests/cluster/conftest.py): fold jobs as a job array give the
run folders, sweep_summary.csv and merged cv_summary.json of the local launcher; a job cancelled with
scancel is reported and finished with resume=."""

import csv
import json
import runpy
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
from conftest import FOLD_SWEEP

from cluster.processes import finish, start_train
from genre_lightning.run_folder.layout import SWEEP_SUMMARY_FILE

pytestmark = pytest.mark.cluster

# conftest.py's fold sweep (8 images per genre: a fold trains in seconds), run on the cluster here and, as
# the reference, on submitit's local executor by the fold_sweep fixture
# what a user asks of a node of 2 cores: one core and a gigabyte per job, no GPU
ON_SLURM = ["hydra/launcher=slurm_cpu", "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=1"]


def sweep(sweep_dir: Path, *args: str, env=None) -> subprocess.Popen:
    """`python train.py -m ... hydra.sweep.dir=sweep_dir`, started."""
    return start_train(
        "-m", *args, f"hydra.sweep.dir={sweep_dir}", f"paths.log_dir={sweep_dir.parent}", env=env
    )


def layout(sweep_dir: Path) -> list[str]:
    """The sweep folder's files, less submitit's own (job ids, logs) and with TensorBoard's event file
    names (host, pid, time) as one name."""
    return sorted(
        str(path.relative_to(sweep_dir)).rsplit("events.out.tfevents", 1)[0]
        for path in sweep_dir.rglob("*")
        if path.is_file() and ".submitit" not in path.parts
    )


def rows(sweep_dir: Path) -> list[dict]:
    """sweep_summary.csv's rows, less the folder each sweep was given (paths.log_dir)."""
    with open(sweep_dir / SWEEP_SUMMARY_FILE, newline="") as f:
        return [{k: v for k, v in row.items() if k != "paths.log_dir"} for row in csv.DictReader(f)]


def same_summary(a: dict, b: dict) -> None:
    """Two cv_summary.json alike: the same keys, checkpoints and classes, metrics to float precision."""
    assert a.keys() == b.keys() and a["classes"] == b["classes"]
    for one, other in zip(a["folds"], b["folds"], strict=True):
        assert one.keys() == other.keys() and one["checkpoint"] == other["checkpoint"]
        numbers = [key for key, value in one.items() if isinstance(value, float)]
        assert [one[k] for k in numbers] == pytest.approx([other[k] for k in numbers], rel=1e-4, abs=1e-6)
    assert a["metrics"] == pytest.approx(b["metrics"], rel=1e-4, abs=1e-6)


def sweep_cli(*args: str) -> None:
    """`python -m genre_lightning.training.sweep_cli ARGS` in this process, as its command line runs it."""
    argv = sys.argv
    sys.argv = ["sweep_cli", *args]
    try:
        with warnings.catch_warnings():  # the module is imported already: runpy says so
            warnings.simplefilter("ignore", RuntimeWarning)
            runpy.run_module("genre_lightning.training.sweep_cli", run_name="__main__")
    finally:
        sys.argv = argv


def test_fold_jobs_run_as_a_job_array_like_the_local_launcher(slurm, fold_sweep, demo_root, tmp_path):
    local_sweep, _ = fold_sweep
    sweep_dir = tmp_path / "sweep"
    out = finish(sweep(sweep_dir, *FOLD_SWEEP, f"data.root={demo_root}", *ON_SLURM, env=slurm.env))
    # one array of two tasks, run by the cluster (submitit names their files <array>_<task>)
    submitted = sorted(path.name for path in (sweep_dir / ".submitit").glob("*_*/*_submitted.pkl"))
    array = submitted[0].split("_")[0]
    assert submitted == [f"{array}_0_submitted.pkl", f"{array}_1_submitted.pkl"]
    script = next((sweep_dir / ".submitit").glob(f"{array}/*_submission.sh")).read_text()
    assert "#SBATCH --array=0-1" in script and "--gpus-per-node" not in script
    assert "#SBATCH --cpus-per-task=1" in script
    # the jobs ran the project's Python, the one that submitted them (its virtual environment)
    assert sys.executable in script
    assert "sweep summary, best val/loss_mean first" in out

    assert layout(sweep_dir) == layout(local_sweep)
    # the rows rank the jobs by the sweep's metric (FOLD_SWEEP: val/loss_mean)
    assert [{**row, "val/loss_mean": float(row["val/loss_mean"])} for row in rows(sweep_dir)] == [
        {**row, "val/loss_mean": pytest.approx(float(row["val/loss_mean"]), rel=1e-4)}
        for row in rows(local_sweep)
    ]
    same_summary(
        json.loads((sweep_dir / "cv_summary.json").read_text()),
        json.loads((local_sweep / "cv_summary.json").read_text()),
    )


def test_a_cancelled_job_is_reported_and_finished_with_resume(slurm, fold_sweep, demo_root, tmp_path, entry):
    local_sweep, _ = fold_sweep
    sweep_dir = tmp_path / "sweep"
    proc = sweep(sweep_dir, *FOLD_SWEEP, f"data.root={demo_root}", *ON_SLURM, env=slurm.env)
    # job 1 is training once its run folder has the split (written inside train(), which stops on SIGTERM)
    deadline = time.monotonic() + 240
    while not (sweep_dir / "1" / "split.json").exists():
        assert proc.poll() is None and time.monotonic() < deadline, finish(proc)
        time.sleep(0.1)
    array = next((sweep_dir / ".submitit").glob("*_1")).name.split("_")[0]
    slurm.run("scancel", f"{array}_1")
    out = finish(proc, code=2)
    assert out.strip().splitlines()[-1] == (
        f"error: job(s) ['{sweep_dir}/1'] were stopped (scancel, time limit or node failure); finish each "
        "with python train.py resume=<job folder>; then rank and merge the jobs with "
        f"python -m genre_lightning.training.sweep_cli summary|aggregate {sweep_dir}"
    )
    # the job said so in its own log too
    assert (
        f"stopped; finish this run with: python train.py resume={sweep_dir}/1"
        in (sweep_dir / "1" / "train.log").read_text()
    )
    assert not (sweep_dir / "1" / "cv_summary.json").exists()

    # the commands it names, as a user types them (in this process: no start-up of their own)
    resumed = entry("train.py", f"resume={sweep_dir}/1")
    assert resumed.code == 0, resumed.out[-3000:] + resumed.err[-3000:]
    for command in ("summary", "aggregate"):
        sweep_cli(command, str(sweep_dir))
    same_summary(
        json.loads((sweep_dir / "cv_summary.json").read_text()),
        json.loads((local_sweep / "cv_summary.json").read_text()),
    )
    assert [row["job"] for row in rows(sweep_dir)] == [row["job"] for row in rows(local_sweep)]


def test_a_gpu_asked_of_a_cluster_without_gpus_is_refused_in_one_line(
    slurm, demo_root, tmp_path, entry, monkeypatch
):
    # hydra/launcher=slurm asks for one GPU per trainer device; this cluster has none. Refused before any
    # job runs: in this process, whose sbatch finds the cluster by SLURM_CONF
    monkeypatch.setenv("SLURM_CONF", slurm.env["SLURM_CONF"])
    sweep_dir = tmp_path / "sweep"
    result = entry(
        "train.py", "-m", *FOLD_SWEEP, f"data.root={demo_root}", "hydra/launcher=slurm",
        f"hydra.sweep.dir={sweep_dir}", f"paths.log_dir={tmp_path}",
    )  # fmt: skip
    assert result.code == 2, result.out[-3000:] + result.err[-3000:]
    assert result.err.strip().splitlines()[-1] == (
        "error: sbatch refused the jobs (Invalid generic resource (gres) specification); "
        "set hydra.launcher.* to what the partition has (sinfo -o '%P %c %m %G': cores, memory in MB, "
        "GPUs), e.g. hydra/launcher=slurm_cpu on a partition without GPUs"
    )

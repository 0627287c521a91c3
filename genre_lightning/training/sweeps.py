"""Hydra multiruns: a best-first summary of a sweep's jobs, and fold jobs merged into one run.

The Hydra callback SweepSummary (callbacks/hydra.py) does both when a multirun ends, whatever the sweeper
(grid, Optuna) or launcher (local, submitit); sweep_cli.py does them by hand.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from genre_lightning.errors import UserError
from genre_lightning.files import write_text
from genre_lightning.run_folder.layout import RunFolder
from genre_lightning.tables import align
from genre_lightning.training.summary import summarize_run, summary_text

FOLD_KEY = "data.fold"


@dataclass(frozen=True)
class Job:
    """One job folder of a sweep: its command-line overrides and, once finished, its cv_summary.json."""

    run: RunFolder
    overrides: dict[str, str]
    summary: dict | None

    def metric(self, name: str) -> float:
        return self.summary["metrics"].get(name, math.nan) if self.summary else math.nan


def load_jobs(sweep_dir: str | Path) -> list[Job]:
    """Every job folder under sweep_dir (those holding .hydra/overrides.yaml), in job-number order; a job's
    summary is None until all its folds have finished."""
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise UserError(f"{sweep_dir}: sweep folder not found; pass a folder of logs/multiruns/")
    runs = RunFolder.below(sweep_dir)
    if not runs:
        raise UserError(
            f"{sweep_dir}: no job folders (*/.hydra/overrides.yaml); pass the folder of one multirun"
        )
    jobs = []
    # job folders are numbers: order 2 before 10
    for run in sorted(
        runs, key=lambda r: [(len(part), part) for part in r.path.relative_to(sweep_dir).parts]
    ):
        pairs = (item.partition("=")[::2] for item in OmegaConf.load(run.saved_overrides))
        summary = json.loads(run.summary.read_text()) if run.summary.is_file() else None
        # a job stopped between folds has a summary of the folds so far, marked not complete (as
        # predict's read_summary, a summary without the flag is not taken as finished)
        finished = summary is not None and summary.get("complete") is True
        jobs.append(Job(run, dict(pairs), summary if finished else None))
    return jobs


def varying_keys(jobs: list[Job]) -> list[str]:
    """The override keys whose values are not the same in every job (the swept parameters)."""
    keys = list(dict.fromkeys(key for job in jobs for key in job.overrides))
    return [key for key in keys if len({job.overrides.get(key) for job in jobs}) > 1]


def write_sweep_summary(sweep_dir: str | Path, metric: str, direction: str = "maximize") -> Path:
    """sweep_summary.csv: one row per job (metric, its std over folds, every override), best first;
    jobs without a cv_summary.json (failed or still running) come last with no value. Prints the
    swept parameters and the metric as a table."""
    if direction not in ("maximize", "minimize"):
        raise UserError(f"direction={direction!r}: must be maximize or minimize")
    sweep_dir = Path(sweep_dir)
    jobs = load_jobs(sweep_dir)
    finished = [job for job in jobs if job.summary]
    if finished and metric not in finished[0].summary["metrics"]:
        raise UserError(
            f"{metric!r} is not a summary metric; choose one of {sorted(finished[0].summary['metrics'])}"
        )
    sign = -1 if direction == "maximize" else 1
    jobs.sort(key=lambda job: (job.summary is None, sign * job.metric(metric) if job.summary else 0))
    std = metric.removesuffix("_mean") + "_std"
    keys = list(dict.fromkeys(key for job in jobs for key in job.overrides))
    table = io.StringIO()
    csv.writer(table, lineterminator="\n").writerows(
        [["job", metric, std, *keys]]
        + [
            [
                job.run.path.relative_to(sweep_dir),
                *((job.metric(metric), job.metric(std)) if job.summary else ("", "")),
            ]
            + [job.overrides.get(key, "") for key in keys]
            for job in jobs
        ]
    )
    path = write_text(RunFolder(sweep_dir).sweep_summary, table.getvalue())

    swept = varying_keys(jobs)
    rows = [["job", metric, *swept]]
    for job in jobs:
        value = f"{job.metric(metric):.4f}±{job.metric(std):.4f}" if job.summary else "no result"
        rows.append(
            [
                str(job.run.path.relative_to(sweep_dir)),
                value,
                *(_short(job.overrides.get(key, "")) for key in swept),
            ]
        )
    print(f"sweep summary, best {metric} first ({path}):\n{align(rows)}")
    return path


def _short(value: str) -> str:
    """A sampled float such as Optuna's 0.0013793103797 as 0.001379; anything else unchanged."""
    try:
        return value if float(value).is_integer() else f"{float(value):.4g}"
    except ValueError:
        return value


def aggregate_folds(sweep_dir: str | Path) -> dict:
    """Merge the jobs of a sweep over data.fold into one cv_summary.json (and split.json) in
    sweep_dir, as a sequential run of those folds writes them; checkpoint paths are relative to
    sweep_dir, so predict.py ckpt=<sweep_dir> ensembles the folds."""
    sweep_dir = Path(sweep_dir)
    merged = RunFolder(sweep_dir)
    jobs = load_jobs(sweep_dir)
    others = [key for key in varying_keys(jobs) if key != FOLD_KEY]
    if others:
        raise UserError(
            f"{sweep_dir}: jobs differ in {others}, not only in {FOLD_KEY}; aggregate a sweep over folds only"
        )
    unfinished = [str(job.run.path.relative_to(sweep_dir)) for job in jobs if job.summary is None]
    if unfinished:
        raise UserError(
            f"{sweep_dir}: job(s) {unfinished} have not finished (failed, stopped or still running); finish "
            f"each with python train.py resume={sweep_dir}/<job>, then aggregate again"
        )
    splits = {job.run.split.read_text() for job in jobs}
    if len(splits) > 1:
        raise UserError(
            f"{sweep_dir}: the jobs' {merged.split.name} differ, so their folds are not one split; "
            "rerun with one seed and data"
        )
    # each fold as the job that trained it wrote it, its checkpoint path made relative to sweep_dir
    folds = sorted(
        ((fold, job.run) for job in jobs for fold in job.summary["folds"]),
        key=lambda pair: pair[0]["fold"],
    )
    numbers = [fold["fold"] for fold, _ in folds]
    if len(set(numbers)) < len(numbers):
        raise UserError(
            f"{sweep_dir}: fold(s) trained more than once ({numbers}); aggregate one job per fold"
        )
    write_text(merged.split, splits.pop())
    summary = summarize_run(
        merged,
        [
            {**fold, "checkpoint": str((run.path / fold["checkpoint"]).relative_to(sweep_dir))}
            for fold, run in folds
        ],
        jobs[0].summary["classes"],
        complete=True,
        # one split, so the same bad images were left out of every job
        bad_files_left_out=jobs[0].summary.get("bad_files_left_out", 0),
        split_report=jobs[0].summary.get("split"),
        homes=[run for _, run in folds],
    )
    print(summary_text(merged, summary))
    return summary


def sweep_direction(hydra_cfg: DictConfig, chosen: str | None = None) -> str:
    """Which end of the metric is best: chosen, else the sweeper's direction (Optuna's), else maximize."""
    direction = chosen or OmegaConf.select(hydra_cfg, "sweeper.direction") or "maximize"
    # Optuna's direction is an enum, or a list of them for several objectives
    if isinstance(direction, list | tuple) or OmegaConf.is_list(direction):
        direction = direction[0]
    return getattr(direction, "name", str(direction))

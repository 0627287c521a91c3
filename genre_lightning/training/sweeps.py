"""Hydra multiruns: a best-first summary of a sweep's jobs, and fold jobs merged into one run.

A Hydra callback (configs/hydra/default.yaml) does both when a multirun ends, whatever the sweeper
(grid, Optuna) or launcher (local, submitit). The same can be done by hand, e.g. after SLURM jobs
that outlived the process that submitted them:

    python -m genre_lightning.training.sweeps summary logs/multiruns/<sweep>
    python -m genre_lightning.training.sweeps aggregate logs/multiruns/<sweep>   # jobs data.fold=0,1,...
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from genre_lightning.constants import SPLIT_FILE, SUMMARY_FILE
from genre_lightning.errors import UserError, exit_on_user_error
from genre_lightning.files import write_json, write_text
from genre_lightning.tables import align
from genre_lightning.training.summary import format_summary, summarize

SWEEP_SUMMARY_FILE = "sweep_summary.csv"
FOLD_KEY = "data.fold"


@dataclass(frozen=True)
class Job:
    """One job folder of a sweep: its command-line overrides and, once finished, its cv_summary.json."""

    dir: Path
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
    dirs = [path.parent.parent for path in sweep_dir.rglob(".hydra/overrides.yaml")]
    if not dirs:
        raise UserError(
            f"{sweep_dir}: no job folders (*/.hydra/overrides.yaml); pass the folder of one multirun"
        )
    jobs = []
    # job folders are numbers: order 2 before 10
    for job_dir in sorted(dirs, key=lambda d: [(len(part), part) for part in d.relative_to(sweep_dir).parts]):
        pairs = (item.partition("=")[::2] for item in OmegaConf.load(job_dir / ".hydra" / "overrides.yaml"))
        summary_file = job_dir / SUMMARY_FILE
        summary = json.loads(summary_file.read_text()) if summary_file.is_file() else None
        # a job stopped between folds has a summary of the folds so far (old summaries lack the flag)
        finished = summary is not None and summary.get("complete", True)
        jobs.append(Job(job_dir, dict(pairs), summary if finished else None))
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
                job.dir.relative_to(sweep_dir),
                *((job.metric(metric), job.metric(std)) if job.summary else ("", "")),
            ]
            + [job.overrides.get(key, "") for key in keys]
            for job in jobs
        ]
    )
    path = write_text(sweep_dir / SWEEP_SUMMARY_FILE, table.getvalue())

    swept = varying_keys(jobs)
    rows = [["job", metric, *swept]]
    for job in jobs:
        value = f"{job.metric(metric):.4f}±{job.metric(std):.4f}" if job.summary else "no result"
        rows.append(
            [
                str(job.dir.relative_to(sweep_dir)),
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
    jobs = load_jobs(sweep_dir)
    others = [key for key in varying_keys(jobs) if key != FOLD_KEY]
    if others:
        raise UserError(
            f"{sweep_dir}: jobs differ in {others}, not only in {FOLD_KEY}; aggregate a sweep over folds only"
        )
    unfinished = [str(job.dir.relative_to(sweep_dir)) for job in jobs if job.summary is None]
    if unfinished:
        raise UserError(
            f"{sweep_dir}: job(s) {unfinished} have not finished (failed, stopped or still running); finish "
            f"each with python train.py resume={sweep_dir}/<job>, then aggregate again"
        )
    splits = {(job.dir / SPLIT_FILE).read_text() for job in jobs}
    if len(splits) > 1:
        raise UserError(
            f"{sweep_dir}: the jobs' {SPLIT_FILE} differ, so their folds are not one split; "
            "rerun with one seed and data"
        )
    results = [
        {**fold, "checkpoint": str((job.dir / fold["checkpoint"]).relative_to(sweep_dir))}
        for job in jobs
        for fold in job.summary["folds"]
    ]
    folds = [result["fold"] for result in results]
    if len(set(folds)) < len(folds):
        raise UserError(
            f"{sweep_dir}: fold(s) trained more than once ({sorted(folds)}); aggregate one job per fold"
        )
    summary = summarize(
        sorted(results, key=lambda result: result["fold"]),
        jobs[0].summary["classes"],
        complete=True,
        # one split, so the same bad images were left out of every job
        bad_files_left_out=jobs[0].summary.get("bad_files_left_out", 0),
    )
    write_text(sweep_dir / SPLIT_FILE, splits.pop())
    write_json(sweep_dir / SUMMARY_FILE, summary)
    print(f"cross-validation summary ({sweep_dir / SUMMARY_FILE}):\n{format_summary(summary)}")
    return summary


def sweep_direction(hydra_cfg: DictConfig, chosen: str | None = None) -> str:
    """Which end of the metric is best: chosen, else the sweeper's direction (Optuna's), else maximize."""
    direction = chosen or OmegaConf.select(hydra_cfg, "sweeper.direction") or "maximize"
    # Optuna's direction is an enum, or a list of them for several objectives
    if isinstance(direction, list | tuple) or OmegaConf.is_list(direction):
        direction = direction[0]
    return getattr(direction, "name", str(direction))


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


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m genre_lightning.training.sweeps", description=__doc__.splitlines()[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    summary = commands.add_parser("summary", help=f"write {SWEEP_SUMMARY_FILE}: one row per job, best first")
    summary.add_argument("sweep_dir", type=Path)
    summary.add_argument(
        "--metric", default=None, help="a cv_summary.json metric (default: the jobs' optimized_metric)"
    )
    summary.add_argument(
        "--direction", choices=["maximize", "minimize"], help="default: as at the end of the sweep"
    )
    aggregate = commands.add_parser(
        "aggregate", help=f"merge the jobs of a sweep over {FOLD_KEY} into one {SUMMARY_FILE}"
    )
    aggregate.add_argument("sweep_dir", type=Path)
    args = parser.parse_args(argv)
    if args.command == "aggregate":
        aggregate_folds(args.sweep_dir)
        return
    # by default the same ranking as at the end of the sweep, from the first job's saved configs
    saved = load_jobs(args.sweep_dir)[0].dir / ".hydra"
    metric = args.metric or OmegaConf.load(saved / "config.yaml").optimized_metric
    hydra_cfg = OmegaConf.load(saved / "hydra.yaml").hydra
    direction = sweep_direction(
        hydra_cfg, args.direction or OmegaConf.select(hydra_cfg, "callbacks.sweep_summary.direction")
    )
    write_sweep_summary(args.sweep_dir, metric, direction)


if __name__ == "__main__":
    main()

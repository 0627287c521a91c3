"""What the Hydra callback SweepSummary does when a multirun ends, by hand: e.g. after SLURM jobs that
outlived the process that submitted them.

    python -m genre_lightning.training.sweep_cli summary logs/multiruns/<sweep>
    python -m genre_lightning.training.sweep_cli aggregate logs/multiruns/<sweep>   # jobs data.fold=0,1,...
"""

from __future__ import annotations

import argparse
from pathlib import Path

from omegaconf import OmegaConf

from genre_lightning.errors import exit_on_user_error
from genre_lightning.run_folder.layout import SUMMARY_FILE, SWEEP_SUMMARY_FILE
from genre_lightning.training.sweeps import (
    FOLD_KEY,
    aggregate_folds,
    load_jobs,
    sweep_direction,
    write_sweep_summary,
)


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m genre_lightning.training.sweep_cli", description=__doc__.splitlines()[0]
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
    first = load_jobs(args.sweep_dir)[0].run
    metric = args.metric or OmegaConf.load(first.saved_config).optimized_metric
    hydra_cfg = OmegaConf.load(first.saved_hydra).hydra
    direction = sweep_direction(
        hydra_cfg, args.direction or OmegaConf.select(hydra_cfg, "callbacks.sweep_summary.direction")
    )
    write_sweep_summary(args.sweep_dir, metric, direction)


if __name__ == "__main__":
    main()

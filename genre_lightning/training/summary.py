"""The cross-validation summary (cv_summary.json): per-fold results, mean and std, and the swept metric."""

from __future__ import annotations

import statistics

from omegaconf import DictConfig

from genre_lightning.errors import UserError
from genre_lightning.tables import align


def summarize(results: list[dict], class_names: list[str], complete: bool, bad_files_left_out: int) -> dict:
    """Per-fold results plus mean and std of every metric across folds; ``complete`` once every fold of
    the run is in, and the number of bad images data.bad_files=skip left out of the split."""
    names = [k for k in results[0] if "/" in k]
    metrics = {}
    for name in names:
        values = [r[name] for r in results]
        metrics[f"{name}_mean"] = statistics.fmean(values)
        metrics[f"{name}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
    return {
        "classes": class_names,
        "complete": complete,
        "bad_files_left_out": bad_files_left_out,
        "folds": results,
        "metrics": metrics,
    }


def format_summary(summary: dict) -> str:
    """The per-fold metrics and their mean±std as a table (losses left out)."""
    names = [k for k in summary["folds"][0] if "/" in k and not k.endswith("loss")]
    rows = [["fold", *names]]
    rows += [[str(r["fold"]), *(f"{r[n]:.3f}" for n in names)] for r in summary["folds"]]
    m = summary["metrics"]
    rows.append(["mean±std", *(f"{m[n + '_mean']:.3f}±{m[n + '_std']:.3f}" for n in names)])
    return align(rows)


def optimized_value(cfg: DictConfig, summary: dict) -> float:
    """The metric a sweeper optimises, named by cfg.optimized_metric."""
    name = cfg.get("optimized_metric")
    if name not in summary["metrics"]:
        raise UserError(
            f"optimized_metric={name!r} is not a summary metric; choose one of {sorted(summary['metrics'])}"
        )
    return summary["metrics"][name]

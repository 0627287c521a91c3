"""The cross-validation summary (cv_summary.json): per-fold results, mean and std, and the swept metric."""

from __future__ import annotations

import statistics

from omegaconf import DictConfig

from genre_lightning.errors import UserError
from genre_lightning.tables import align

# the fold columns that the ensemble's test scores (of calibrated probabilities) line up with
ENSEMBLE_COLUMNS = {"test/acc": "test/acc", "test/f1": "test/f1", "test/ece_calibrated": "test/ece"}


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
    """Per-fold metrics, their mean±std and the fold ensemble's test scores as a table (no losses)."""
    names = [k for k in summary["folds"][0] if "/" in k and not k.endswith(("loss", "nll_calibrated"))]
    rows = [["fold", *names]]
    rows += [[str(r["fold"]), *(f"{r[n]:.3f}" for n in names)] for r in summary["folds"]]
    m = summary["metrics"]
    rows.append(["mean±std", *(f"{m[n + '_mean']:.3f}±{m[n + '_std']:.3f}" for n in names)])
    ensemble = summary.get("ensemble")
    if ensemble and ensemble["folds"] > 1:
        # the mean of the folds' calibrated probabilities, on the same test set
        row = [_cell(ensemble.get(ENSEMBLE_COLUMNS.get(n, ""))) for n in names]
        rows.append([f"ensemble of {ensemble['folds']}", *row])
    return align(rows)


def _cell(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def optimized_value(cfg: DictConfig, summary: dict) -> float:
    """The metric a sweeper optimises, named by cfg.optimized_metric."""
    name = cfg.get("optimized_metric")
    if name not in summary["metrics"]:
        raise UserError(
            f"optimized_metric={name!r} is not a summary metric; choose one of {sorted(summary['metrics'])}"
        )
    return summary["metrics"][name]

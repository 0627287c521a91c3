"""The cross-validation summary (cv_summary.json): per-fold results, mean and std, the fold ensemble, and the
swept metric."""

from __future__ import annotations

import statistics

from omegaconf import DictConfig

from genre_lightning.errors import UserError
from genre_lightning.run_folder.layout import RunFolder
from genre_lightning.tables import align
from genre_lightning.training.evaluation import ensemble_report

# the fold columns that the ensemble's test scores (of calibrated probabilities) line up with
ENSEMBLE_COLUMNS = {"test/acc": "test/acc", "test/f1": "test/f1", "test/ece_calibrated": "test/ece"}


def summarize(
    results: list[dict],
    class_names: list[str],
    complete: bool,
    bad_files_left_out: int,
    split_report: dict | None = None,
) -> dict:
    """Per-fold results plus mean and std of every metric across folds; ``complete`` once every fold of
    the run is in, the number of bad images data.bad_files=skip left out of the split, and what drawing the
    split found (duplicates, groups, the given split's counts, and the check that no file or group is in two
    parts: drawing.py's report)."""
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
        **({"split": split_report} if split_report is not None else {}),
        "folds": results,
        "metrics": metrics,
    }


def summarize_run(
    run: RunFolder,
    results: list[dict],
    class_names: list[str],
    *,
    complete: bool,
    bad_files_left_out: int,
    split_report: dict | None = None,
    homes: list[RunFolder] | None = None,
    write: bool = True,
) -> dict:
    """The run's summary of ``results`` (summarize). With ``write`` (the process that writes files): once
    every fold is in, the fold ensemble's test scores from the folds' saved probabilities too (its confusion
    matrix and per-genre scores written into ``run``), and the summary written as ``run``'s cv_summary.json.

    ``homes``: the run folder each result's fold was trained in, when not ``run`` (a sweep's folds merged
    into its own folder live in its jobs' folders)."""
    summary = summarize(results, class_names, complete, bad_files_left_out, split_report)
    if write:
        if complete:
            homes = homes or [run] * len(results)
            saved = [home.test_probabilities(result["fold"]) for home, result in zip(homes, results)]
            summary["ensemble"] = ensemble_report(run, saved, class_names)
        run.write_summary(summary)
    return summary


def summary_text(run: RunFolder, summary: dict) -> str:
    return f"cross-validation summary ({run.summary}):\n{format_summary(summary)}"


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

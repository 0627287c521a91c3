"""Train a recipe on a folder of genre spectrograms and print its accuracy as a markdown table.

    python benchmarks/accuracy.py --folder ../shared/fma_small_dev                     # experiment=fma_small
    python benchmarks/accuracy.py --folder data/spectrograms --experiment published trainer=gpu
    python benchmarks/accuracy.py --folder ../shared/fma_small_dev data.fold=0 trainer.max_epochs=5

Runs `python train.py experiment=<experiment> data.root=<folder> [overrides]` into a new run folder
(under --runs, default logs/benchmarks/), then reads its cv_summary.json and per_genre.csv: per fold
and for the fold ensemble the test accuracy, macro-F1 and expected calibration error (after temperature
scaling), the per-genre F1 of the ensemble, the wall time, the hardware and the load average (other
programs on the machine slow a run down, they do not change its accuracy).
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch
from hardware import machine

from genre_lightning.run_folder.layout import PER_GENRE_FILE, SUMMARY_FILE
from genre_lightning.tables import align

ROOT = Path(__file__).resolve().parents[1]


def table(summary: dict) -> str:
    rows = [["fold", "test acc", "test macro-F1", "test ECE (raw)", "test ECE (calibrated)", "temperature"]]
    for f in summary["folds"]:
        rows.append(
            [str(f["fold"])]
            + [f"{f[key]:.3f}" for key in ("test/acc", "test/f1", "test/ece", "test/ece_calibrated")]
            + [f"{f['val/temperature']:.2f}"]
        )
    m = summary["metrics"]
    rows.append(
        [
            "mean ± std",
            f"{m['test/acc_mean']:.3f} ± {m['test/acc_std']:.3f}",
            f"{m['test/f1_mean']:.3f} ± {m['test/f1_std']:.3f}",
            f"{m['test/ece_mean']:.3f}",
            f"{m['test/ece_calibrated_mean']:.3f}",
            "",
        ]
    )
    e = summary.get("ensemble")
    if e and e["folds"] > 1:
        rows.append(
            [
                f"ensemble of {e['folds']}",
                f"{e['test/acc']:.3f}",
                f"{e['test/f1']:.3f}",
                "",
                f"{e['test/ece']:.3f}",
                "",
            ]
        )
    return align(rows, left=1, markdown=True)


def genre_table(run_dir: Path) -> str:
    with open(run_dir / PER_GENRE_FILE, newline="") as f:
        rows = [
            [r["genre"], *(f"{float(r[key]):.3f}" for key in ("precision", "recall", "f1")), r["support"]]
            for r in csv.DictReader(f)
        ]
    return align([["genre", "precision", "recall", "F1", "test images"], *rows], left=1, markdown=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", type=Path, required=True, help="genre folders of spectrogram images")
    parser.add_argument(
        "--experiment", default="fma_small", help="configs/experiment/<name>.yaml (default: fma_small)"
    )
    parser.add_argument(
        "--runs", type=Path, default=ROOT / "logs" / "benchmarks", help="where the run folder goes"
    )
    parser.add_argument("overrides", nargs="*", help="more train.py overrides, e.g. trainer=gpu data.fold=0")
    args = parser.parse_args(argv)
    stamp = datetime.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    run_dir = args.runs.resolve() / f"{args.experiment}_{stamp}"
    command = [
        sys.executable, str(ROOT / "train.py"), f"experiment={args.experiment}",
        f"data.root={args.folder.resolve()}", f"hydra.run.dir={run_dir}", "trainer.enable_progress_bar=false",
        *args.overrides,
    ]  # fmt: skip
    print("$", " ".join(command[1:]), flush=True)
    load_start, start = os.getloadavg()[0], time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT)
    minutes = (time.perf_counter() - start) / 60
    summary = json.loads((run_dir / SUMMARY_FILE).read_text())
    print()
    overrides = " ".join(args.overrides) or "none"
    print(
        f"**{args.experiment}** on `{args.folder}` ({len(summary['classes'])} genres), overrides: {overrides}"
    )
    print()
    print(table(summary))
    print()
    if (run_dir / PER_GENRE_FILE).is_file():
        print("Per genre (fold ensemble on the test set):")
        print()
        print(genre_table(run_dir))
        print()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    print(
        f"Wall time {minutes:.1f} min on {machine(device)} (torch {torch.__version__}); load average "
        f"{load_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end. Run folder: {run_dir}"
    )


if __name__ == "__main__":
    main()

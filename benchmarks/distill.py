"""A finished k-fold run's fold ensemble as a teacher: its calibrated probabilities of every image outside
the run's test split, written as a data.soft_labels file that a single student network trains on.

    python benchmarks/distill.py --run logs/benchmarks/<run> --out soft_labels.json
    python train.py experiment=fma_small data.root=<the run's data.root> data.soft_labels=soft_labels.json \\
        data.num_folds=10 data.fold=0 [the run's other overrides]

The probabilities are the ones predict.py gives (the mean over the folds of softmax(logits / temperature),
on the eval transform: the whole clip). The test split's images are left out, and the student's
datamodule refuses a file that names any of its own test images, so the student is scored on the same
held-out images as the teacher without having seen them. Any data.num_folds keeps the test split (it is
drawn first, from data.seed and data.test_fraction alone): num_folds=10 trains the student on 90% of the
teacher's training images and keeps 10% to pick and calibrate it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from tqdm import tqdm

from genre_lightning.data.soft_labels import soft_label_file
from genre_lightning.files import write_json
from genre_lightning.predict.ensemble import Ensemble, find_checkpoints
from genre_lightning.run_folder.layout import RunFolder


def teacher_probabilities(run: RunFolder, batch_size: int = 64) -> dict:
    """The soft-labels file's content for every image of the run's folds (none of its test split)."""
    root = Path(json.loads(run.run_config.read_text())["config"]["data"]["root"])
    split = json.loads(run.split.read_text())
    files = [path for fold in split["folds"] for path, _ in fold]
    ensemble = Ensemble(find_checkpoints(run.path, run.path.parent))
    if ensemble.class_names != split["classes"]:
        raise SystemExit(f"{run.path}: the checkpoints' classes differ from split.json's")
    probabilities = {}
    for start in tqdm(range(0, len(files), batch_size), unit="batch"):
        batch = files[start : start + batch_size]
        rows = ensemble.probabilities(torch.stack([ensemble.preprocess(path) for path in batch]))
        for path, row in zip(batch, rows.tolist()):
            probabilities[Path(path).relative_to(root).as_posix()] = [round(p, 6) for p in row]
    return soft_label_file(
        split["classes"], probabilities, f"{len(ensemble.models)}-fold ensemble of {run.path}"
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, required=True, help="a finished train.py run folder")
    parser.add_argument("--out", type=Path, required=True, help="the soft-labels JSON file to write")
    args = parser.parse_args(argv)
    table = teacher_probabilities(RunFolder(args.run))
    print(f"wrote {write_json(args.out, table)}: {len(table['probabilities'])} images, {table['teacher']}")


if __name__ == "__main__":
    main()

"""Where each file of a run folder lives: the one place that knows the layout, for the training loop that
writes it, and for resume, the sweep tools and prediction that read it back.

    <run>/                    a train.py run (or a sweep over data.fold, merged into one)
      run.lock                who claimed the folder (locked while the run is running)
      run_config.json         the config the run started with, resolved, with a digest
      .hydra/                 Hydra's record of the command: config.yaml, overrides.yaml, hydra.yaml
      split.json              the split every fold was drawn from
      data_path.json          whether the images were kept decoded on the device (data.resident)
      bad_files.txt           the images the scan found unreadable
      duplicates.txt          the duplicate pictures the scan found (when it found any)
      image_hashes.json       the fingerprints of the images the folds trained on
      trim.txt                the boxes images were cut to (data.trim), with their counts
      cv_summary.json         the cross-validation summary, rewritten after every fold
      confusion_matrix.png    the fold ensemble's test-set confusion matrix (once every fold is in)
      per_genre.csv           and its per-genre scores
      fold_<k>/               the fold's TensorBoard run (the logger's version), result.json,
                              test_probabilities.pt (its calibrated test-set probabilities)
        checkpoints/          best.ckpt and last.ckpt (what a stopped fold continues from)

A leaf (it imports only files.py), so that training and prediction both use it; the names of the files
are here too, beside the paths made of them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from genre_lightning.files import write_json

# the run's own files: who claimed the folder (locked while the run is running), the split every fold was
# drawn from, the config the run started with (resolved, with a digest), which way the images reached the
# model (data.resident's choice), the images the scan found unreadable
RUN_LOCK = "run.lock"
SPLIT_FILE = "split.json"
RUN_CONFIG = "run_config.json"
DATA_PATH = "data_path.json"
BAD_FILES = "bad_files.txt"
# the duplicate pictures the scan found (a CSV, one row per file), and the fingerprints of the images the
# folds trained on (eval.py warns of an evaluation image that duplicates one)
DUPLICATES_FILE = "duplicates.txt"
IMAGE_HASHES_FILE = "image_hashes.json"
# the boxes the images were cut to (data.trim)
TRIM_FILE = "trim.txt"
# the cross-validation summary (rewritten after every fold; "complete": true once the last has finished),
# and beside it the fold ensemble's test-set confusion matrix and per-genre scores (eval.py writes the same
# two files into its own output folder)
SUMMARY_FILE = "cv_summary.json"
CONFUSION_FILE = "confusion_matrix.png"
PER_GENRE_FILE = "per_genre.csv"
# in each fold's folder: its result (fold_<k>/result.json) and its calibrated test-set probabilities (the
# ensemble averages them)
FOLD_RESULT = "result.json"
TEST_PROBABILITIES_FILE = "test_probabilities.pt"
# Hydra's output subdirectory (hydra.output_subdir), with the files it writes there
HYDRA_DIR = ".hydra"
SAVED_CONFIG = "config.yaml"
SAVED_OVERRIDES = "overrides.yaml"
SAVED_HYDRA = "hydra.yaml"
# the name the last-epoch checkpoint callback is given (configs/callbacks/last_checkpoint.yaml)
LAST_CHECKPOINT = "last.ckpt"
# in a multirun's folder: one row per job, best first
SWEEP_SUMMARY_FILE = "sweep_summary.csv"


class RunFolder:
    """One run folder's files by name; nothing is read or written until asked."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    @classmethod
    def below(cls, folder: str | os.PathLike) -> list[RunFolder]:
        """Every run folder below ``folder`` (the jobs of a multirun): those Hydra recorded a command in."""
        return [cls(path.parent.parent) for path in Path(folder).rglob(f"{HYDRA_DIR}/{SAVED_OVERRIDES}")]

    @classmethod
    def inside(cls, folder: str | os.PathLike) -> list[RunFolder]:
        """The folders directly inside ``folder`` (logs/train/runs/), by name: oldest first, as the names are
        start times."""
        return [cls(path) for path in sorted(Path(folder).glob("*/"))]

    # the run's own files
    @property
    def lock(self) -> Path:
        return self.path / RUN_LOCK

    @property
    def split(self) -> Path:
        return self.path / SPLIT_FILE

    @property
    def data_path(self) -> Path:
        """Which way the run's images reached the model (data.resident's choice), which a resume keeps."""
        return self.path / DATA_PATH

    @property
    def bad_files(self) -> Path:
        return self.path / BAD_FILES

    @property
    def duplicates(self) -> Path:
        return self.path / DUPLICATES_FILE

    @property
    def image_hashes(self) -> Path:
        return self.path / IMAGE_HASHES_FILE

    @property
    def trim(self) -> Path:
        return self.path / TRIM_FILE

    @property
    def run_config(self) -> Path:
        return self.path / RUN_CONFIG

    @property
    def hydra_dir(self) -> Path:
        return self.path / HYDRA_DIR

    @property
    def saved_config(self) -> Path:
        """The config Hydra composed for the run: what a resume builds from."""
        return self.hydra_dir / SAVED_CONFIG

    @property
    def saved_overrides(self) -> Path:
        """The command-line overrides the run was started with."""
        return self.hydra_dir / SAVED_OVERRIDES

    @property
    def saved_hydra(self) -> Path:
        """Hydra's own config for the run (its sweeper, its callbacks)."""
        return self.hydra_dir / SAVED_HYDRA

    @property
    def summary(self) -> Path:
        return self.path / SUMMARY_FILE

    @property
    def confusion_matrix(self) -> Path:
        return self.path / CONFUSION_FILE

    @property
    def per_genre(self) -> Path:
        return self.path / PER_GENRE_FILE

    @property
    def sweep_summary(self) -> Path:
        return self.path / SWEEP_SUMMARY_FILE

    # each fold's files
    def fold_dir(self, fold: int) -> Path:
        """fold_<k>/: the fold's TensorBoard run, its checkpoints/ and its result."""
        return self.path / f"fold_{fold}"

    def checkpoint_dir(self, fold: int) -> Path:
        """Where Lightning's checkpoint callbacks write (train_fold gives them this folder: Lightning's own
        choice, the first logger's folder, is an MLflow run's id, or one folder for every fold)."""
        return self.fold_dir(fold) / "checkpoints"

    def last(self, fold: int) -> Path:
        return self.checkpoint_dir(fold) / LAST_CHECKPOINT

    def result(self, fold: int) -> Path:
        return self.fold_dir(fold) / FOLD_RESULT

    def test_probabilities(self, fold: int) -> Path:
        return self.fold_dir(fold) / TEST_PROBABILITIES_FILE

    # what the training loop writes and a resume reads back
    def write_fold_result(self, result: dict) -> Path:
        return write_json(self.result(result["fold"]), result)

    def fold_results(self) -> dict[int, dict]:
        """The results of the folds that finished, by fold."""
        results = (json.loads(path.read_text()) for path in self.path.glob(f"fold_*/{FOLD_RESULT}"))
        return {result["fold"]: result for result in results}

    def write_summary(self, summary: dict) -> Path:
        return write_json(self.summary, summary)

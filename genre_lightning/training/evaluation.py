"""What a run's numbers mean: each fold calibrated on its validation set and scored on the test set,
then the fold ensemble (the mean of the folds' calibrated probabilities) on the same test set."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import torch
from torchmetrics.functional.classification import multiclass_confusion_matrix

from genre_lightning.constants import CONFUSION_FILE, PER_GENRE_FILE, TEST_PROBABILITIES_FILE
from genre_lightning.files import atomic_path, write_text
from genre_lightning.performance import inference_autocast
from genre_lightning.training.calibration import fit_temperature, scores
from genre_lightning.training.confusion import confusion_figure, per_class_scores


@torch.inference_mode()
def logits_and_labels(model, loader) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's logits (float32, on the CPU) and the labels of every batch of ``loader``, in order."""
    model.eval()
    logits, labels = [], []
    with inference_autocast(model.device):
        for images, targets in loader:
            logits.append(model(images.to(model.device)).float().cpu())
            labels.append(targets)
    return torch.cat(logits), torch.cat(labels)


def calibrate_fold(model, datamodule, checkpoint: Path, test: bool = True, write: bool = True) -> dict:
    """Fit the temperature on the fold's validation set and store it in ``checkpoint`` (and the model);
    with ``test``, score the test set before and after, and save its calibrated probabilities beside the
    checkpoint's folder for the ensemble (files only with ``write``). Returns the fold's summary metrics."""
    val_logits, val_labels = logits_and_labels(model, datamodule.val_dataloader())
    temperature = fit_temperature(val_logits, val_labels)
    model.temperature.fill_(temperature)
    if write:
        store_temperature(checkpoint, temperature)
    result = {
        "val/temperature": temperature,
        "val/ece": scores(val_logits.softmax(dim=-1), val_labels)["ece"],
        "val/ece_calibrated": scores((val_logits / temperature).softmax(dim=-1), val_labels)["ece"],
    }
    if test:
        test_logits, test_labels = logits_and_labels(model, datamodule.test_dataloader())
        calibrated = (test_logits / temperature).softmax(dim=-1)
        after = scores(calibrated, test_labels)
        result.update(
            {
                "test/ece": scores(test_logits.softmax(dim=-1), test_labels)["ece"],
                "test/ece_calibrated": after["ece"],
                "test/nll_calibrated": after["nll"],
            }
        )
        if write:
            files = [path for path, _ in datamodule.split.test]
            saved = {"files": files, "labels": test_labels, "probabilities": calibrated}
            with atomic_path(checkpoint.parent.parent / TEST_PROBABILITIES_FILE) as tmp:
                torch.save(saved, tmp)
    return result


def store_temperature(checkpoint: Path, temperature: float) -> None:
    """Write the fitted temperature into the checkpoint's weights, replacing the file atomically."""
    # the run's own file, yet read as data like any checkpoint: Lightning writes only tensors and containers
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    state["state_dict"]["temperature"] = torch.tensor(temperature)
    with atomic_path(checkpoint) as tmp:
        torch.save(state, tmp)


def ensemble_report(run_dir: Path, fold_dirs: list[Path], class_names: list[str]) -> dict | None:
    """Score the mean of the folds' calibrated test probabilities; write the confusion matrix (PNG) and
    per-genre precision/recall/F1 (CSV) into ``run_dir``. None when no fold saved test probabilities."""
    saved = [d / TEST_PROBABILITIES_FILE for d in fold_dirs]
    parts = [torch.load(path, weights_only=True) for path in saved if path.is_file()]
    if not parts:
        return None
    probabilities = torch.stack([part["probabilities"] for part in parts]).mean(dim=0)
    labels = parts[0]["labels"]
    matrix = multiclass_confusion_matrix(probabilities, labels, len(class_names))
    with atomic_path(run_dir / CONFUSION_FILE) as tmp:
        confusion_figure(matrix.double(), class_names).savefig(tmp, format="png", dpi=100)
    per_class = per_class_scores(matrix)
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(["genre", "precision", "recall", "f1", "support"])
    for i, name in enumerate(class_names):
        row = [f"{per_class[score][i]:.4f}" for score in ("precision", "recall", "f1")]
        writer.writerow([name, *row, int(matrix[i].sum())])
    write_text(run_dir / PER_GENRE_FILE, table.getvalue())
    test = {f"test/{name}": value for name, value in scores(probabilities, labels).items()}
    return {"folds": len(parts), **test}

"""What a run's numbers mean: each fold calibrated on its validation set and scored on the test set,
then the fold ensemble (the mean of the folds' calibrated probabilities) on the same test set."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from genre_lightning.files import atomic_path
from genre_lightning.metrics import scores, write_report
from genre_lightning.performance import inference_autocast
from genre_lightning.run_folder.layout import RunFolder
from genre_lightning.training.calibration import checked_temperature

log = logging.getLogger(__name__)


@torch.inference_mode()
def logits_and_labels(model, loader, bf16: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's logits (float32, on the CPU) and the labels of every batch of ``loader``, in order;
    computed in bf16 autocast with ``bf16``."""
    model.eval()
    logits, labels = [], []
    with inference_autocast(model.device, "bf16" if bf16 else "32"):
        for images, targets in loader:
            logits.append(model(images.to(model.device)).float().cpu())
            labels.append(targets)
    return torch.cat(logits), torch.cat(labels)


def calibrate_fold(
    model,
    datamodule,
    probabilities: Path,
    checkpoint: Path | None,
    bf16: bool,
    test: bool = True,
    write: bool = True,
) -> dict:
    """Fit the temperature on the fold's validation set (checked_temperature: bounded, or 1 where it would not
    lower the calibration error, with a warning) and store it in ``checkpoint`` (if the fold kept one) and
    the model; with ``test``, score the test set before and after, and save its calibrated probabilities as
    ``probabilities`` for the ensemble (files only with ``write``). Returns the fold's summary metrics.

    ``bf16``: whether the Trainer computed in bf16; the logits are computed as it did, so the temperature
    fits the numbers validation and test reported, and a run in 32-true saves fp32 probabilities."""
    val_logits, val_labels = logits_and_labels(model, datamodule.val_dataloader(), bf16)
    temperature, doubt = checked_temperature(val_logits, val_labels)
    if doubt:
        log.warning("fold %d: %s", datamodule.fold, doubt)
    model.temperature.fill_(temperature)
    if write and checkpoint is not None:
        store_temperature(checkpoint, temperature)
    result = {
        "val/temperature": temperature,
        # why the temperature is doubtful or was kept at 1, for cv_summary.json; None when the fit is sound
        "temperature_warning": doubt,
        "val/ece": scores(val_logits.softmax(dim=-1), val_labels)["ece"],
        "val/ece_calibrated": scores((val_logits / temperature).softmax(dim=-1), val_labels)["ece"],
    }
    if test:
        test_logits, test_labels = logits_and_labels(model, datamodule.test_dataloader(), bf16)
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
            with atomic_path(probabilities) as tmp:
                torch.save(saved, tmp)
    return result


def store_temperature(checkpoint: Path, temperature: float) -> None:
    """Write the fitted temperature into the checkpoint's weights, replacing the file atomically."""
    # the run's own file, yet read as data like any checkpoint: Lightning writes only tensors and containers
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    state["state_dict"]["temperature"] = torch.tensor(temperature)
    with atomic_path(checkpoint) as tmp:
        torch.save(state, tmp)


def ensemble_report(run: RunFolder, saved: list[Path], class_names: list[str]) -> dict | None:
    """Score the mean of the folds' calibrated test probabilities (the files ``saved``, where they exist);
    write the confusion matrix (PNG) and per-genre precision/recall/F1 (CSV) into ``run``. None when no
    fold saved test probabilities."""
    parts = [torch.load(path, weights_only=True) for path in saved if path.is_file()]
    if not parts:
        return None
    probabilities = torch.stack([part["probabilities"] for part in parts]).mean(dim=0)
    labels = parts[0]["labels"]
    models = f"the ensemble of {len(parts)} folds" if len(parts) > 1 else "the one fold's model"
    what = f"{models} on {len(labels)} test images"
    result = write_report(probabilities, labels, class_names, what, run.confusion_matrix, run.per_genre)
    return {"folds": len(parts), **{f"test/{name}": value for name, value in result.items()}}

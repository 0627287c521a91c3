"""Temperature scaling, the fold ensemble and the run folder's evaluation files."""

import csv
import json
from pathlib import Path

import pytest
import torch

from genre_lightning.metrics import scores
from genre_lightning.performance import cpu_has_fast_bf16
from genre_lightning.predict.ensemble import Ensemble, find_checkpoints
from genre_lightning.run_folder.layout import CONFUSION_FILE, PER_GENRE_FILE, SUMMARY_FILE, RunFolder
from genre_lightning.training.calibration import fit_temperature


def overconfident(n: int = 4000, classes: int = 5, temperature: float = 2.0, seed: int = 0):
    """Logits whose labels are drawn from softmax(logits / temperature): calibrated only after dividing."""
    generator = torch.Generator().manual_seed(seed)
    logits = 3 * torch.randn(n, classes, generator=generator)
    labels = torch.multinomial((logits / temperature).softmax(-1), 1, generator=generator).squeeze(1)
    return logits, labels


def test_fitted_temperature_recovers_the_true_one_and_lowers_the_calibration_error():
    logits, labels = overconfident(temperature=2.0)
    fitted = fit_temperature(logits, labels)
    assert fitted == pytest.approx(2.0, rel=0.1)
    before, after = scores(logits.softmax(-1), labels), scores((logits / fitted).softmax(-1), labels)
    assert after["ece"] < 0.03 < before["ece"]
    assert after["acc"] == before["acc"] and after["nll"] < before["nll"]


def test_scores_are_accuracy_f1_nll_and_ece():
    probabilities = torch.tensor([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.8, 0.2]])
    labels = torch.tensor([0, 1, 1, 0])
    result = scores(probabilities, labels)
    assert result["acc"] == pytest.approx(0.75)
    assert result["nll"] == pytest.approx(-sum(map(torch.log, torch.tensor([0.9, 0.4, 0.7, 0.8]))).item() / 4)
    # 15 bins: 0.9 (right), 0.6 (wrong), 0.7 (right), 0.8 (right) each alone in its bin
    assert result["ece"] == pytest.approx((0.1 + 0.6 + 0.3 + 0.2) / 4)


def test_a_run_is_calibrated_per_fold_and_scored_as_an_ensemble(trained_run):
    summary = json.loads((trained_run / SUMMARY_FILE).read_text())
    parts = []
    for fold in summary["folds"]:
        checkpoint = trained_run / fold["checkpoint"]
        stored = torch.load(checkpoint, map_location="cpu", weights_only=False)["state_dict"]["temperature"]
        assert float(stored) == pytest.approx(fold["val/temperature"]) and float(stored) != 1.0
        parts.append(torch.load(RunFolder(trained_run).test_probabilities(fold["fold"])))
        # the calibrated test scores are those of the probabilities saved for the ensemble
        calibrated = scores(parts[-1]["probabilities"], parts[-1]["labels"])
        assert fold["test/ece_calibrated"] == pytest.approx(calibrated["ece"])
        assert fold["test/nll_calibrated"] == pytest.approx(calibrated["nll"])
        # the temperature (not 1, above) is used only where it lowers the validation ECE (checked_temperature)
        assert fold["val/ece_calibrated"] < fold["val/ece"]

    # the ensemble row is the mean of the folds' calibrated test probabilities
    probabilities = torch.stack([p["probabilities"] for p in parts]).mean(0)
    labels = parts[0]["labels"]
    expected = scores(probabilities, labels)
    ensemble = summary["ensemble"]
    assert ensemble["folds"] == 2
    assert ensemble["test/acc"] == pytest.approx(expected["acc"]) and ensemble["test/ece"] == pytest.approx(
        expected["ece"]
    )

    # per-genre scores agree with the ensemble's predictions
    with open(trained_run / PER_GENRE_FILE, newline="") as f:
        *rows, macro, weighted = list(csv.DictReader(f))
    assert [row["genre"] for row in rows] == summary["classes"]
    predicted = probabilities.argmax(1)
    for index, row in enumerate(rows):
        hits = int(((predicted == index) & (labels == index)).sum())
        assert float(row["recall"]) == pytest.approx(hits / int((labels == index).sum()), abs=1e-4)
        assert int(row["support"]) == int((labels == index).sum())
    # the averages: every genre once, and weighted by its test images (weighted recall is the accuracy)
    assert (macro["genre"], weighted["genre"]) == ("macro avg", "weighted avg")
    assert int(macro["support"]) == int(weighted["support"]) == len(labels)
    for score in ("precision", "recall", "f1"):
        mean = sum(float(row[score]) for row in rows) / len(rows)
        assert float(macro[score]) == pytest.approx(mean, abs=1e-3)
    assert float(macro["f1"]) == pytest.approx(ensemble["test/f1"], abs=1e-3)
    assert float(weighted["recall"]) == pytest.approx(ensemble["test/acc"], abs=1e-4)
    assert (trained_run / CONFUSION_FILE).read_bytes()[:4] == b"\x89PNG"

    # prediction applies each fold's temperature: the ensemble gives the saved test probabilities, when it
    # computes in the precision the run did (trainer=cpu: bf16 where the CPU has it). In bf16 one rounding
    # of a layer's output can go the other way in another batch: bf16's resolution, not fp32's
    bf16 = cpu_has_fast_bf16()
    ensemble_model = Ensemble(
        find_checkpoints(trained_run, trained_run.parent), precision="bf16" if bf16 else "32"
    )
    files = parts[0]["files"][:4]
    images = torch.stack([ensemble_model.preprocess(path) for path in files])
    atol = 2e-2 if bf16 else 1e-5
    assert torch.allclose(ensemble_model.probabilities(images), probabilities[:4], atol=atol)


def test_with_weight_averaging_the_run_scores_and_calibrates_the_weights_prediction_loads(tiny_cfg):
    from genre_lightning.training.kfold import train

    # decay 0.9 over a dozen steps: the average is far from the last step's weights; fp32, so that the
    # saved probabilities and predict.py's in fp32 are the same numbers on any CPU
    cfg = tiny_cfg(
        "callbacks=ema",
        "callbacks.ema.decay=0.9",
        "data.fold=0",
        "trainer.max_epochs=3",
        "trainer.precision=32-true",
    )
    train(cfg)
    run = Path(cfg.paths.output_dir)
    summary = json.loads((run / SUMMARY_FILE).read_text())
    fold = summary["folds"][0]
    checkpoint = torch.load(run / fold["checkpoint"], map_location="cpu", weights_only=False)
    averaged, raw = checkpoint["state_dict"], checkpoint["current_model_state"]
    assert not torch.allclose(averaged["net.fc.1.weight"], raw["net.fc.1.weight"])

    saved = torch.load(RunFolder(run).test_probabilities(0))
    assert fold["test/acc"] == pytest.approx(
        float((saved["probabilities"].argmax(1) == saved["labels"]).float().mean())
    )
    # predict.py loads the averaged weights and the temperature fitted on them: the saved probabilities
    ensemble_model = Ensemble(find_checkpoints(run, run.parent), precision="32")
    images = torch.stack([ensemble_model.preprocess(path) for path in saved["files"][:8]])
    assert torch.allclose(ensemble_model.probabilities(images), saved["probabilities"][:8], atol=1e-5)

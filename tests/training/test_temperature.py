"""Temperatures that make sense: bounded, and T=1 where the fit would not make the probabilities better,
each time with a warning the run summary keeps."""

import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from genre_lightning.metrics import scores
from genre_lightning.training.calibration import TEMPERATURE_RANGE, checked_temperature
from genre_lightning.training.evaluation import calibrate_fold

# six validation images, three genres: the NLL's temperature (2.09) would raise the ECE from 0.278 to 0.344
SMALL_LOGITS = torch.tensor(
    [
        [1.8, -0.4, 1.9],
        [-1.7, 0.5, 3.0],
        [2.1, 0.9, -0.7],
        [-1.6, -1.3, -2.8],
        [-0.1, -1.0, -2.5],
        [-0.2, -0.9, 0.1],
    ]
)
SMALL_LABELS = torch.tensor([1, 2, 1, 1, 0, 2])


def near_chance(n: int = 500, classes: int = 7):
    """Confident logits of a model at chance: labels drawn independently of them."""
    generator = torch.Generator().manual_seed(0)
    return 3 * torch.randn(n, classes, generator=generator), torch.randint(
        0, classes, (n,), generator=generator
    )


def test_a_model_at_chance_gets_the_upper_bound_and_a_warning():
    logits, labels = near_chance()
    temperature, warning = checked_temperature(logits, labels)
    assert temperature == TEMPERATURE_RANGE[1] == 10
    assert "reached its bound of 10 on 500 validation images at 1" in warning and "using 10" in warning
    # bounded, it still calibrates better than the model's own probabilities
    assert (
        scores((logits / temperature).softmax(-1), labels)["ece"] < scores(logits.softmax(-1), labels)["ece"]
    )


def test_a_fit_that_would_raise_the_calibration_error_keeps_t_1():
    before = scores(SMALL_LOGITS.softmax(-1), SMALL_LABELS)["ece"]
    assert scores((SMALL_LOGITS / 2.09).softmax(-1), SMALL_LABELS)["ece"] > before
    temperature, warning = checked_temperature(SMALL_LOGITS, SMALL_LABELS)
    assert temperature == 1.0
    assert warning.startswith("T=2.09 would not lower the calibration error (ECE 0.278 -> 0.344")
    assert "on 6 validation images" in warning and warning.endswith("keeping T=1")


def test_non_finite_logits_keep_t_1():
    logits = SMALL_LOGITS.clone()
    logits[2, 1] = float("nan")
    assert checked_temperature(logits, SMALL_LABELS) == (
        1.0,
        "the validation logits are not all finite (a model that diverged?); keeping T=1",
    )


def test_a_sound_fit_has_no_warning():
    generator = torch.Generator().manual_seed(0)
    logits = 3 * torch.randn(4000, 5, generator=generator)
    labels = torch.multinomial((logits / 2).softmax(-1), 1, generator=generator).squeeze(1)
    temperature, warning = checked_temperature(logits, labels)
    assert temperature == pytest.approx(2.0, rel=0.1) and warning is None


class Logits(torch.nn.Module):
    """A model whose 'images' are its logits."""

    device = torch.device("cpu")

    def __init__(self):
        super().__init__()
        self.register_buffer("temperature", torch.ones(()))

    def forward(self, images):
        return images


def test_calibrate_fold_uses_the_checked_temperature_and_records_why(caplog):
    logits, labels = near_chance(60)
    model = Logits()
    datamodule = SimpleNamespace(
        fold=1, val_dataloader=lambda: [(logits[:32], labels[:32]), (logits[32:], labels[32:])]
    )
    with caplog.at_level(logging.WARNING):
        result = calibrate_fold(model, datamodule, Path("unused"), None, bf16=False, test=False, write=False)
    assert result["val/temperature"] == 10 and float(model.temperature) == 10
    assert result["temperature_warning"].startswith("the fitted temperature reached its bound of 10 on 60")
    assert f"fold 1: {result['temperature_warning']}" in caplog.text
    assert result["val/ece_calibrated"] < result["val/ece"]

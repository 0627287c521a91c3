"""Probabilities that mean what they say: temperature scaling (Guo et al., 2017) and its scores."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torchmetrics.functional.classification import (
    multiclass_accuracy,
    multiclass_calibration_error,
    multiclass_f1_score,
)

# equal-width confidence bins of the expected calibration error, as in Guo et al.
ECE_BINS = 15


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor, steps: int = 100) -> float:
    """The T > 0 that minimises the negative log-likelihood of softmax(logits / T) on (logits, labels).

    One parameter, so it cannot change which class wins: accuracy stays, confidence is corrected.
    """
    # clones: the logits usually come from inference mode, whose tensors autograd cannot record
    logits, labels = logits.detach().float().clone(), labels.detach().clone()
    log_t = torch.zeros((), requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.1, max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(logits / log_t.exp(), labels)
        loss.backward()
        return loss

    optimizer.step(closure)
    return float(log_t.detach().exp())


def scores(probabilities: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """Accuracy, macro F1, negative log-likelihood and expected calibration error of class probabilities."""
    classes = probabilities.shape[1]
    return {
        "acc": float(multiclass_accuracy(probabilities, labels, classes, average="micro")),
        "f1": float(multiclass_f1_score(probabilities, labels, classes, average="macro")),
        "nll": float(F.nll_loss(probabilities.clamp_min(1e-12).log(), labels)),
        "ece": float(multiclass_calibration_error(probabilities, labels, classes, ECE_BINS, norm="l1")),
    }

"""Classification scores that accumulate on the training device without a host sync per batch.

torchmetrics' own classification metrics count through torch.bincount, which on a GPU reads the largest
label back to the host to size its output: one sync per batch. Comparing against the class indices costs a
C x C matrix product instead, and nothing leaves the device until the epoch's end.
"""

from __future__ import annotations

import torch
from torchmetrics import Metric


class ConfusionCounts(Metric):
    """A confusion matrix (rows: true class, columns: predicted) summed over the batches of an epoch, and
    over every process under DDP when computed."""

    full_state_update = False

    def __init__(self, num_classes: int):
        super().__init__()
        self.num_classes = num_classes
        self.add_state("counts", torch.zeros(num_classes, num_classes), dist_reduce_fx="sum")

    def update(self, logits: torch.Tensor, labels: torch.Tensor) -> None:
        classes = torch.arange(self.num_classes, device=labels.device)
        truth = (labels.view(-1, 1) == classes).float()
        predicted = (logits.argmax(dim=-1).view(-1, 1) == classes).float()
        # a sum of products, not a matrix product: autocast would run that in bf16, which counts exactly
        # only up to 256
        self.counts += (truth.unsqueeze(2) * predicted.unsqueeze(1)).sum(dim=0)

    def compute(self) -> torch.Tensor:
        return self.counts


def per_class_scores(matrix: torch.Tensor) -> dict[str, torch.Tensor]:
    """Precision, recall and F1 of each class from a confusion matrix (rows: true, columns: predicted)."""
    matrix = matrix.double()
    hits = matrix.diag()
    precision = hits / matrix.sum(dim=0).clamp(min=1)
    recall = hits / matrix.sum(dim=1).clamp(min=1)
    f1 = 2 * precision * recall / (precision + recall).clamp(min=1e-12)
    return {"precision": precision, "recall": recall, "f1": f1}


def summary_scores(matrix: torch.Tensor) -> dict[str, torch.Tensor]:
    """Accuracy and macro F1 from a confusion matrix, as torchmetrics defines them: the macro mean leaves
    out classes that are neither in the targets nor predicted."""
    matrix = matrix.double()
    present = (matrix.sum(dim=0) + matrix.sum(dim=1)) > 0
    f1 = per_class_scores(matrix)["f1"]
    return {
        "acc": matrix.diag().sum() / matrix.sum().clamp(min=1),
        "f1": (f1 * present).sum() / present.sum().clamp(min=1),
    }

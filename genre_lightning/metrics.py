"""How good class probabilities are: accuracy, macro F1, negative log-likelihood and calibration error; the
confusion matrix with per-genre precision, recall and F1; and the two files a person reads, the confusion
matrix as a picture and the per-genre table (what train.py writes for its fold ensemble, and eval.py for
any labelled folder). ConfusionCounts is the one metric training accumulates per step: torchmetrics' own
classification metrics count through torch.bincount, which on a GPU reads the largest label back to the
host to size its output, one sync per batch; ConfusionCounts compares against the class indices instead,
and nothing leaves the device until the epoch's end."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torchmetrics import Metric
from torchmetrics.functional.classification import (
    multiclass_accuracy,
    multiclass_calibration_error,
    multiclass_confusion_matrix,
    multiclass_f1_score,
)

from genre_lightning.files import atomic_path, write_text

# equal-width confidence bins of the expected calibration error, as in Guo et al. (2017)
ECE_BINS = 15


def scores(probabilities: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """Accuracy, macro F1, negative log-likelihood and expected calibration error of class probabilities."""
    classes = probabilities.shape[1]
    return {
        "acc": float(multiclass_accuracy(probabilities, labels, classes, average="micro")),
        "f1": float(multiclass_f1_score(probabilities, labels, classes, average="macro")),
        "nll": float(F.nll_loss(probabilities.clamp_min(1e-12).log(), labels)),
        "ece": float(multiclass_calibration_error(probabilities, labels, classes, ECE_BINS, norm="l1")),
    }


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


def confusion_figure(matrix: torch.Tensor, names: list[str], title: str | None = None) -> Figure:
    """Counts, shaded by each true genre's share (the colour bar), with the genre names on both axes."""
    shares = matrix / matrix.sum(dim=1, keepdim=True).clamp(min=1)
    size = 1.2 + 0.7 * len(names)
    figure = Figure(figsize=(size + 1.2, size + (0.5 if title else 0)), layout="constrained")
    ax = figure.subplots()
    shading = ax.imshow(shares.numpy(), cmap="Blues", vmin=0, vmax=1)
    figure.colorbar(shading, ax=ax, shrink=0.8, label="share of the true genre's images")
    ticks = range(len(names))
    ax.set_xticks(ticks, names, rotation=45, ha="right")
    ax.set_yticks(ticks, names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title, fontsize=10)
    for row in ticks:
        for col in ticks:
            color = "white" if shares[row, col] > 0.5 else "black"
            ax.text(col, row, f"{matrix[row, col]:.0f}", ha="center", va="center", color=color)
    return figure


def per_genre_table(matrix: torch.Tensor, names: list[str]) -> str:
    """CSV: each genre's precision, recall, F1 and support (its true images), then their plain mean
    ("macro avg", every genre counts once) and their mean weighted by support ("weighted avg")."""
    per_class = per_class_scores(matrix)
    support = matrix.double().sum(dim=1)
    columns = ("precision", "recall", "f1")
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(["genre", *columns, "support"])
    for i, name in enumerate(names):
        writer.writerow([name, *(f"{per_class[c][i]:.4f}" for c in columns), int(support[i])])
    weights = {"macro avg": torch.ones_like(support), "weighted avg": support}
    for name, weight in weights.items():
        means = [float((per_class[c] * weight).sum() / weight.sum().clamp(min=1e-12)) for c in columns]
        writer.writerow([name, *(f"{mean:.4f}" for mean in means), int(support.sum())])
    return table.getvalue()


def write_report(
    probabilities: torch.Tensor,
    labels: torch.Tensor,
    names: list[str],
    what: str,
    confusion_file: Path,
    per_genre_file: Path,
    exclusive: bool = False,
) -> dict[str, float]:
    """Score the probabilities, and write the confusion matrix (PNG, titled ``what`` and the scores) and the
    per-genre table (CSV), with ``exclusive`` only where no such file is (FileExistsError otherwise); returns
    the scores."""
    result = scores(probabilities, labels)
    matrix = multiclass_confusion_matrix(probabilities, labels, len(names)).double()
    title = f"{what[:1].upper()}{what[1:]}\naccuracy {result['acc']:.1%}, macro F1 {result['f1']:.3f}"
    with atomic_path(confusion_file, exclusive) as tmp:
        confusion_figure(matrix, names, title).savefig(tmp, format="png", dpi=100)
    write_text(per_genre_file, per_genre_table(matrix, names), exclusive)
    return result

"""Confusion matrices: per-class precision, recall and F1, and the matrix as a figure."""

from __future__ import annotations

import torch
from matplotlib.figure import Figure


def per_class_scores(matrix: torch.Tensor) -> dict[str, torch.Tensor]:
    """Precision, recall and F1 of each class from a confusion matrix (rows: true, columns: predicted)."""
    matrix = matrix.double()
    hits = matrix.diag()
    precision = hits / matrix.sum(dim=0).clamp(min=1)
    recall = hits / matrix.sum(dim=1).clamp(min=1)
    f1 = 2 * precision * recall / (precision + recall).clamp(min=1e-12)
    return {"precision": precision, "recall": recall, "f1": f1}


def confusion_figure(matrix: torch.Tensor, names: list[str]) -> Figure:
    """Counts, shaded by each true genre's share, with the genre names on both axes."""
    shares = matrix / matrix.sum(dim=1, keepdim=True).clamp(min=1)
    size = 1.2 + 0.7 * len(names)
    figure = Figure(figsize=(size, size), layout="constrained")
    ax = figure.subplots()
    ax.imshow(shares.numpy(), cmap="Blues", vmin=0, vmax=1)
    ticks = range(len(names))
    ax.set_xticks(ticks, names, rotation=45, ha="right")
    ax.set_yticks(ticks, names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for row in ticks:
        for col in ticks:
            color = "white" if shares[row, col] > 0.5 else "black"
            ax.text(col, row, f"{matrix[row, col]:.0f}", ha="center", va="center", color=color)
    return figure

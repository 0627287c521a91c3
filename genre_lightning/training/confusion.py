"""A confusion matrix as a figure (its per-class scores: genre_lightning/models/metrics.py)."""

from __future__ import annotations

import torch
from matplotlib.figure import Figure


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

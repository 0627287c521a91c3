"""The bundled model: a genre classifier trained on FMA-small's spectrograms (docs/model_card.md), shipped
in the package as checkpoint files (fp16 weights, read as data like any checkpoint). predict.py, eval.py
and app.py use it when given no ckpt; model.weights=fma_small starts a training from its network.

A leaf module (it imports nothing of the package): prediction and the models both find the files here.
"""

from __future__ import annotations

from pathlib import Path

NAME = "fma_small"
FOLDER = Path(__file__).resolve().parent
# what the one line printed when it is used says it is
DESCRIPTION = f"the bundled model {NAME} (five ResNet-18s trained on FMA-small's clips; docs/model_card.md)"


def bundled_checkpoints() -> list[Path]:
    """The bundled model's checkpoint files (more than one: a fold ensemble, averaged as a run's folds)."""
    return sorted(FOLDER.glob(f"{NAME}*.ckpt"))

"""data.soft_labels: a teacher's class probabilities per training image, the targets a student trains on
(knowledge distillation: benchmarks/distill.py writes the file from a finished run's fold ensemble).

Only the training batches take them; validation, calibration and the test keep the true labels, so the
student's scores are comparable with the teacher's. The file lists images by their path below data.root
and must name none of the student's test images: probabilities from a teacher that was trained on the
student's test set would leak it.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import torch

from genre_lightning.errors import UserError

FORMAT = "genre-lightning soft labels"


def soft_label_file(classes: list[str], probabilities: dict[str, list[float]], teacher: str) -> dict:
    """What a soft-labels file holds: the classes in order, and each image's (its path below data.root)
    class probabilities."""
    return {"format": FORMAT, "teacher": teacher, "classes": classes, "probabilities": probabilities}


def soft_targets(
    path: str | os.PathLike,
    root: str | os.PathLike,
    classes: list[str],
    train: list[str],
    test: list[str],
) -> torch.Tensor:
    """The teacher's probabilities of the ``train`` files, in their order (N x classes, float32); a
    one-line UserError for a file that is not a soft-labels file for these classes, a training image it
    lacks, or a test image it names."""
    path, root = Path(path), Path(root)
    fix = (
        "make it with benchmarks/distill.py from a run on the same data.root, data.seed and "
        "data.test_fraction"
    )
    try:
        table = json.loads(path.read_text())
        if not isinstance(table, dict) or table.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} file")
        probabilities = table["probabilities"]
        if table["classes"] != classes:
            raise ValueError(f"its classes {table['classes']} are not the data's {classes}")
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise UserError(f"{path}: unusable data.soft_labels ({err}); {fix}") from None
    relative = {name: Path(name).relative_to(root).as_posix() for name in [*train, *test]}
    seen = [relative[name] for name in test if relative[name] in probabilities]
    if seen:
        raise UserError(
            f"{path}: names {len(seen)} image(s) of the test split (first {seen[0]}): its teacher did not "
            f"hold out this run's test set; {fix}"
        )
    missing = [relative[name] for name in train if relative[name] not in probabilities]
    if missing:
        raise UserError(
            f"{path}: no probabilities for {len(missing)} training image(s), first {missing[0]}; {fix}"
        )
    rows = [probabilities[relative[name]] for name in train]
    bad = next((row for row in rows if not _distribution(row, len(classes))), None)
    if bad is not None:
        raise UserError(f"{path}: {str(bad)[:80]} is not a probability per class summing to 1; {fix}")
    return torch.tensor(rows, dtype=torch.float32)


def _distribution(row, size: int) -> bool:
    return (
        isinstance(row, list)
        and len(row) == size
        and all(isinstance(p, (int, float)) and not isinstance(p, bool) and 0 <= p <= 1 for p in row)
        and math.isclose(sum(row), 1.0, abs_tol=1e-3)
    )

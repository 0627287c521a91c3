"""data.soft_labels: the training batches carry a teacher's probabilities; a file that would leak the test
split, lacks a training image or has other classes is refused in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from genre_lightning.data.soft_labels import soft_label_file
from genre_lightning.errors import UserError, build
from genre_lightning.files import write_json


def teacher_file(datamodule, path: Path, files: list[str], classes=None) -> str:
    generator = torch.Generator().manual_seed(0)
    rows = torch.rand(len(files), len(datamodule.class_names), generator=generator).softmax(dim=-1)
    probabilities = {Path(f).relative_to(datamodule.root).as_posix(): r.tolist() for f, r in zip(files, rows)}
    return str(write_json(path, soft_label_file(classes or datamodule.class_names, probabilities, "test")))


def test_training_batches_carry_the_teachers_probabilities_and_evaluation_the_labels(tiny_cfg, tmp_path):
    cfg = tiny_cfg()
    plain = build("data", cfg.data)
    plain.setup()
    folds = [path for fold in plain.split.folds for path, _ in fold]
    datamodule = build("data", cfg.data, soft_labels=teacher_file(plain, tmp_path / "soft.json", folds))
    datamodule.setup()
    train = {path for path, _ in datamodule.split.train_val(0)[0]}
    teacher = torch.stack([datamodule.teacher[path] for path in sorted(train)])
    seen = 0
    for _, targets in datamodule.train_dataloader():
        assert targets.ndim == 2
        # every row is the teacher's row of one of the fold's training images
        assert (targets[:, None] - teacher[None]).abs().amax(dim=-1).min(dim=1).values.max() < 1e-6
        seen += len(targets)
    assert seen >= len(train) - datamodule.settings.batch_size
    assert next(iter(datamodule.val_dataloader()))[1].ndim == 1


@pytest.mark.parametrize("mistake", ["test image", "missing image", "classes"])
def test_a_soft_labels_file_that_does_not_fit_the_split_is_refused(tiny_cfg, tmp_path, mistake):
    cfg = tiny_cfg()
    plain = build("data", cfg.data)
    plain.setup()
    folds = [path for fold in plain.split.folds for path, _ in fold]
    test = [path for path, _ in plain.split.test]
    files = {"test image": folds + test[:1], "missing image": folds[1:], "classes": folds}[mistake]
    classes = list(reversed(plain.class_names)) if mistake == "classes" else None
    soft = teacher_file(plain, tmp_path / "soft.json", files, classes)
    with pytest.raises(UserError) as err:
        build("data", cfg.data, soft_labels=soft).setup()
    message = str(err.value)
    assert "\n" not in message and message.startswith(soft)
    assert {"test image": "of the test split", "missing image": "no probabilities for", "classes": "classes"}[
        mistake
    ] in message

"""Genre folders -> the seeded, stratified held-out test split and k folds, drawn per song."""

from __future__ import annotations

import os
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from genre_lightning.constants import IMAGE_EXTENSIONS
from genre_lightning.errors import UserError
from genre_lightning.files import files_below

_WINDOW_SUFFIX = re.compile(r"-\d{3}$")


def discover(root: str | os.PathLike, classes: list[str] | None) -> tuple[list[str], dict[str, list[str]]]:
    """Return the class names and each class's image files (sorted, sub-folders included, hidden files and
    folders left out), checking the layout."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(
            f"{root}: dataset folder not found; expected {root}/<Genre>/*.jpg "
            "(set data.root=..., or run experiment=demo for the synthetic demo set)"
        )
    found = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if classes is not None and len(classes) < 2:
        raise UserError(
            f"data.classes={list(classes)}: name at least two genres, or null for every one of {found}"
        )
    if classes is None:
        classes = found
    unknown = [c for c in classes if c not in found]
    if unknown:
        raise UserError(f"{root}: no folder for genre(s) {unknown}; found {found or 'no genre folders'}")
    if len(classes) < 2:
        raise UserError(f"{root}: need at least two genre folders, found {found}")
    # sub-folders of a genre folder are the genre's too (an export by album or artist)
    files = {name: [str(p) for p in files_below(root / name, IMAGE_EXTENSIONS)] for name in classes}
    empty = [name for name, paths in files.items() if not paths]
    if empty:
        counts = {name: len(paths) for name, paths in files.items()}
        raise UserError(f"{root}: genre folder(s) {empty} hold no .jpg/.jpeg/.png images; counts: {counts}")
    return list(classes), files


@dataclass(frozen=True)
class Split:
    """File lists of the held-out test set and the k folds (labels are class indices)."""

    classes: list[str]
    test: list[tuple[str, int]]
    folds: list[list[tuple[str, int]]]

    def train_val(self, fold: int) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
        train = [item for k, part in enumerate(self.folds) if k != fold for item in part]
        return train, self.folds[fold]

    @property
    def items(self) -> list[tuple[str, int]]:
        """Every (file, label) pair: the test set, then the folds."""
        return [item for part in [self.test, *self.folds] for item in part]

    def to_dict(self) -> dict:
        return {"classes": self.classes, "test": self.test, "folds": self.folds}


def make_split(
    files: dict[str, list[str]],
    test_fraction: float,
    num_folds: int,
    seed: int,
    max_per_class: int | None = None,
    group: Callable[[str], str] | None = None,
) -> Split:
    """Stratified, seeded split: per genre, a test share, then the rest dealt round-robin into folds.

    `group` maps a file to its song: the windows of one song then stay together in one part, so no
    song is both trained on and evaluated. Shares and `max_per_class` count songs.
    """
    rng = random.Random(seed)
    classes = list(files)
    test, folds = [], [[] for _ in range(num_folds)]
    for label, name in enumerate(classes):
        songs: dict[str, list[str]] = {}
        for path in files[name]:
            songs.setdefault(group(path) if group else path, []).append(path)
        members = list(songs.values())
        rng.shuffle(members)
        if max_per_class is not None:
            members = members[:max_per_class]
        n_test = round(len(members) * test_fraction)
        if len(members) - n_test < num_folds:
            raise UserError(
                f"genre {name!r} has {len(members)} {'songs' if group else 'images'}: too few for a "
                f"{test_fraction:.0%} test split and {num_folds} folds; add images or lower data.num_folds"
            )
        test += [(p, label) for song in members[:n_test] for p in song]
        for i, song in enumerate(members[n_test:]):
            folds[i % num_folds] += [(p, label) for p in song]
    return Split(classes, test, folds)


def song_of(path: str) -> str:
    """The song a window image belongs to: build_dataset names windows <song>-000.jpg, <song>-001.jpg..."""
    stem = Path(path).with_suffix("").as_posix()
    return _WINDOW_SUFFIX.sub("", stem)

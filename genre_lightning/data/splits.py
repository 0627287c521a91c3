"""Genre folders -> the seeded, stratified held-out test split and k folds, drawn per song (make_split) or
per group (make_grouped_split), and the check that no file, song or group lies in two parts."""

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
    """File lists of the held-out test set and the k folds (labels are class indices). ``train``: the
    training files of a given split (data.folds=given), whose one fold is its validation part; None when
    each fold trains on the other folds."""

    classes: list[str]
    test: list[tuple[str, int]]
    folds: list[list[tuple[str, int]]]
    train: list[tuple[str, int]] | None = None

    def train_val(self, fold: int) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
        if self.train is not None:
            return self.train, self.folds[fold]
        train = [item for k, part in enumerate(self.folds) if k != fold for item in part]
        return train, self.folds[fold]

    @property
    def parts(self) -> dict[str, list[tuple[str, int]]]:
        """Every part by name: test, train (a given split's), fold 0, fold 1..."""
        named = {"test": self.test, **({"train": self.train} if self.train is not None else {})}
        return {**named, **{f"fold {k}": fold for k, fold in enumerate(self.folds)}}

    @property
    def items(self) -> list[tuple[str, int]]:
        """Every (file, label) pair: the test set, then the given training part, then the folds."""
        return [item for part in self.parts.values() for item in part]

    def to_dict(self) -> dict:
        given = {"train": self.train} if self.train is not None else {}
        return {"classes": self.classes, "test": self.test, "folds": self.folds, **given}


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
                f"genre {name!r} has {len(members)} {'songs (or duplicate groups)' if group else 'images'}: "
                f"too few for a {test_fraction:.0%} test split and {num_folds} folds; add images or lower "
                "data.num_folds"
            )
        test += [(p, label) for song in members[:n_test] for p in song]
        for i, song in enumerate(members[n_test:]):
            folds[i % num_folds] += [(p, label) for p in song]
    return Split(classes, test, folds)


def components(nodes: list, links) -> dict:
    """Each node's representative: nodes joined by ``links`` (pairs of nodes; a pair may bring new nodes)
    share one, the first of them in ``nodes``' order."""
    parent = {node: node for node in nodes}

    def root(node):
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    rank = {node: i for i, node in enumerate(nodes)}
    for a, b in links:
        a, b = root(a), root(b)
        if a != b:
            low, high = sorted((a, b), key=lambda n: rank.get(n, len(rank)))
            parent[high] = low
    return {node: root(node) for node in nodes}


def song_of(path: str) -> str:
    """The song a window image belongs to: build_dataset names windows <song>-000.jpg, <song>-001.jpg..."""
    stem = Path(path).with_suffix("").as_posix()
    return _WINDOW_SUFFIX.sub("", stem)


def make_grouped_split(
    units: list[list[tuple[str, int]]], num_classes: int, test_fraction: float, num_folds: int, seed: int
) -> tuple[list[tuple[str, int]], list[list[tuple[str, int]]]]:
    """The test set and k folds of ``units`` (each a group's (file, label) pairs, which stay together),
    stratified by genre as well as the groups allow; seeded.

    A greedy version of scikit-learn's StratifiedGroupKFold (not a dependency for one function): the units,
    largest first (in seeded random order among equals), each go to the part whose share of the unit's
    genres is filled least, relative to the part's target (test_fraction of each genre for the test, an
    equal share of the rest for each fold). Big groups make the shares uneven: one artist of 40 songs can
    only be in one part. With test_fraction 0 there is no test part.
    """
    rng = random.Random(seed)
    order = list(range(len(units)))
    rng.shuffle(order)
    order.sort(key=lambda u: -len(units[u]))  # stable: equal sizes keep the shuffled order
    totals = [0] * num_classes
    for unit in units:
        for _, label in unit:
            totals[label] += 1
    shares = [test_fraction] + [(1 - test_fraction) / num_folds] * num_folds
    filled = [[0] * num_classes for _ in shares]
    parts: list[list[tuple[str, int]]] = [[] for _ in shares]

    def fill(p: int, counts: list[int]) -> float:
        """How full part p's targets for the unit's genres would be with the unit in it."""
        return sum(n * (filled[p][g] + n) / (shares[p] * totals[g]) for g, n in enumerate(counts) if n)

    for u in order:
        counts = [0] * num_classes
        for _, label in units[u]:
            counts[label] += 1
        best = min((p for p, share in enumerate(shares) if share > 0), key=lambda p: fill(p, counts))
        parts[best] += units[u]
        filled[best] = [a + b for a, b in zip(filled[best], counts)]
    test, folds = parts[0], parts[1:]
    if any(not fold for fold in folds) or (test_fraction > 0 and not test):
        raise UserError(
            f"{len(units)} groups are too few for a {test_fraction:.0%} test split and {num_folds} folds "
            "(a part would be empty); lower data.num_folds or data.test_fraction"
        )
    return test, folds


class SplitLeak(AssertionError):
    """A file or a group in two parts of a split drawn to keep them apart: a bug, never the data's."""


def check_disjoint(split: Split, groupings: dict[str, dict[str, str]]) -> dict[str, int]:
    """Assert that no file, and no group of any of ``groupings`` (name -> {file: group}), lies in two parts
    of ``split``, and return the counts checked (all 0), for cv_summary.json. Raises SplitLeak otherwise."""
    owners: dict[str, dict[str, set[str]]] = {"files": {}, **{name: {} for name in groupings}}
    for part, items in split.parts.items():
        for path, _ in items:
            owners["files"].setdefault(path, set()).add(part)
            for name, group_of in groupings.items():
                if path in group_of:
                    owners[name].setdefault(group_of[path], set()).add(part)
    checked = {
        f"{name}_in_two_parts": sum(len(parts) > 1 for parts in found.values())
        for name, found in owners.items()
    }
    # a file listed twice in one part counts too
    checked["files_in_two_parts"] += sum(
        len(items) - len({p for p, _ in items}) for items in split.parts.values()
    )
    leaks = {name: count for name, count in checked.items() if count}
    if leaks:
        raise SplitLeak(f"the drawn split breaks its own rule: {leaks} (a bug; please report it)")
    return checked

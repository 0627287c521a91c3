"""The split a run trains on, from the scanned images and the split settings: duplicate pictures found and
kept in one part, a given split read (data.split), data groups kept together (data.groups), the split
drawn, then checked: no file, song, duplicate group or data group in two parts.

With no duplicates, no data.groups and no data.split, the split is make_split's, file for file the one
earlier versions drew with the same seed (published figures stay reproducible).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from genre_lightning.data import duplicates
from genre_lightning.data.duplicates import DuplicateGroup, duplicate_groups
from genre_lightning.data.settings import DataSettings
from genre_lightning.data.split_files import NameIndex, read_groups, read_split, source_digest
from genre_lightning.data.splits import (
    Split,
    check_disjoint,
    components,
    discover,
    make_grouped_split,
    make_split,
)
from genre_lightning.errors import UserError

log = logging.getLogger(__name__)


def split_sources(settings: DataSettings) -> dict[str, dict]:
    """The given files the split depends on (data.split, data.groups), with their sha256: split.json records
    them, and a resume refuses changed ones."""
    given = {"split": settings.split, "groups": settings.groups}
    return {key: {"file": path, "sha256": source_digest(Path(path))} for key, path in given.items() if path}


@dataclass
class Drawn:
    """The split, and what was found on the way (for the run folder and cv_summary.json)."""

    split: Split
    duplicates: list[DuplicateGroup] = field(default_factory=list)
    genre_of: dict[str, str] = field(default_factory=dict)
    # the duplicates data.duplicates=first|drop left out
    left_out: set[str] = field(default_factory=set)
    report: dict = field(default_factory=dict)


class DuplicateConflicts(UserError):
    """Duplicate groups across genres (or a given split's parts) under data.duplicates=error."""

    def __init__(self, message: str, drawn: Drawn):
        self.drawn = drawn
        super().__init__(message)


def draw_split(
    root: Path, found: dict[str, list[str]], records: dict[str, dict], settings: DataSettings, song=None
) -> Drawn:
    """The split of the images of ``found`` (genre -> files) that the scan passed (``records``: file ->
    fingerprints). ``song`` names the song a file is a window of (build_dataset's folders: song_of); None:
    each file is its own."""
    unit_of = song or str
    classes = list(found)
    genre_of = {path: name for name in classes for path in found[name] if path in records}
    label = {path: classes.index(name) for path, name in genre_of.items()}
    every = list(genre_of)
    report: dict = {}
    given = None
    if settings.split is not None:
        given = _given_parts(Path(settings.split), root, found, every, unit_of, report)
        every = [path for path in every if path in given]
    fixed = _fixed_parts(given, settings.folds)
    groups = duplicate_groups(every, records)
    drawn = Drawn(Split(classes, [], []), groups, genre_of, report=report)
    drawn.left_out = _resolve(groups, genre_of, fixed, settings.duplicates, drawn)
    every = [path for path in every if path not in drawn.left_out]
    kept_set = set(every)
    data_group = {}
    if settings.groups:
        data_group = _data_groups(Path(settings.groups), root, every, genre_of, unit_of, settings, report)
    links = [(path, ("song", unit_of(path))) for path in every]
    in_group = {path: n for n, group in enumerate(groups) for path in group.files if path in kept_set}
    links += [(path, ("duplicate", n)) for path, n in in_group.items()]
    links += [(path, ("group", group)) for path, group in data_group.items()]
    unit = components(every, links)
    _refuse_units_across(unit, fixed, settings.split)
    kept = {name: [path for path in found[name] if path in kept_set] for name in classes}
    drawn.split = _draw(classes, kept, every, label, unit, song, given, bool(data_group), settings)
    songs = {path: unit_of(path) for path in every}
    groupings = {"songs": songs, "duplicate_groups": in_group, "data_groups": data_group}
    report["checked"] = check_disjoint(drawn.split, groupings)
    report["sources"] = split_sources(settings)
    report["duplicates"] = {
        "policy": settings.duplicates,
        "groups": len(groups),
        "exact_groups": sum(group.exact for group in groups),
        "near_groups": sum(not group.exact for group in groups),
        "files": sum(len(group.files) for group in groups),
        "left_out": len(drawn.left_out),
        "near_rms": duplicates.NEAR_RMS,
    }
    return drawn


def _given_parts(path: Path, root: Path, found, every, unit_of, report) -> dict[str, str | int]:
    """Each image's part in the split file; a UserError for names that match no image."""
    parts = read_split(path)
    index = NameIndex(root, [p for paths in found.values() for p in paths], unit_of)
    given, missing = {}, []
    for name, part in parts.items():
        files = index.find(name, f"data.split={path}")
        if files is None:
            missing.append(name)
        given.update({file: part for file in files or []})
    if missing:
        # a name of a genre data.classes leaves out is no mistake
        _, everything = discover(root, None)
        others = NameIndex(root, [p for paths in everything.values() for p in paths], unit_of)
        missing = [name for name in missing if others.find(name, f"data.split={path}") is None]
    if missing:
        raise UserError(
            f"data.split={path}: {len(missing)} named image(s) not found below {root}, e.g. "
            f"{', '.join(missing[:3])}; names match images by stem, extension dropped, lowercased, "
            "letters and digits only (docs/training.md); fix the split or data.root"
        )
    outside = [p for p in every if p not in given]
    if outside:
        log.info("data.split: %d image(s) it does not name left out, e.g. %s", len(outside), outside[0])
    report["split_file"] = {"named": len(parts), "images_not_named": len(outside)}
    return given


def _fixed_parts(given, folds: str) -> dict[str, str | int]:
    """The part each file must stay in: a given split's test, and with data.folds=given its folds too."""
    if given is None:
        return {}
    if folds == "given":
        return dict(given)
    return {path: "test" if part == "test" else "folds" for path, part in given.items()}


def _resolve(groups: list[DuplicateGroup], genre_of, fixed, policy: str, drawn: Drawn) -> set[str]:
    """The files left out of duplicate groups that cross genres or a given split's parts, by policy."""
    conflicts = [
        group
        for group in groups
        if len({genre_of[p] for p in group.files}) > 1 or len({fixed.get(p) for p in group.files}) > 1
    ]
    if conflicts and policy == "error":
        example = " = ".join(f"{p} ({genre_of[p]}{_part_of(fixed, p)})" for p in conflicts[0].files)
        raise DuplicateConflicts(
            f"{len(conflicts)} duplicate group(s) cross genres or the split's parts, e.g. {example}: one "
            "picture cannot have two labels or be on both sides; fix the folders, or set "
            "data.duplicates=first (keep each group's first file) or drop (leave such groups out)",
            drawn,
        )
    if conflicts:
        log.warning("data.duplicates=%s: %d duplicate group(s) cross genres or parts", policy, len(conflicts))
    keep_first = policy == "first"
    return {path for group in conflicts for path in group.files[1 if keep_first else 0 :]}


def _part_of(fixed, path) -> str:
    return f", {fixed[path]}" if path in fixed else ""


def _data_groups(path: Path, root, every, genre_of, unit_of, settings, report) -> dict[str, str]:
    """Each image's group from the groups file; images it does not name: an error, or their own group."""
    key = f"data.groups={path}"
    index = NameIndex(root, every, unit_of)
    group_of, not_found = {}, 0
    for name, group in read_groups(path).items():
        files = index.find(name, key)
        not_found += files is None
        group_of.update({file: group for file in files or []})
    missing = [p for p in every if p not in group_of]
    if missing and settings.groups_missing == "error":
        raise UserError(
            f"{key}: {len(missing)} image(s) are in no group, e.g. {', '.join(missing[:3])}; add them, or "
            "set data.groups_missing=own (each its own group)"
        )
    group_of.update({p: f"own:{unit_of(p)}" for p in missing})
    genres: dict[str, set[str]] = {}
    for p, group in group_of.items():
        genres.setdefault(group, set()).add(genre_of[p])
    across = {group: sorted(names) for group, names in genres.items() if len(names) > 1}
    if across:
        group, names = next(iter(across.items()))
        log.info(
            "data.groups: %d group(s) hold images of several genres (e.g. %s: %s); each stays in one part",
            len(across),
            group,
            ", ".join(names),
        )
    report["data_groups"] = {
        "groups": len(genres),
        "across_genres": len(across),
        "images_in_own_groups": len(missing),
        "names_not_found": not_found,
    }
    return group_of


def _refuse_units_across(unit: dict[str, str], fixed, split_file) -> None:
    """A song or data group the given split puts in two parts: the split file and the groups disagree."""
    parts: dict[str, dict] = {}
    for path, first in unit.items():
        parts.setdefault(first, {}).setdefault(fixed.get(path), path)
    crossing = [found for found in parts.values() if len(found) > 1]
    if crossing:
        example = ", ".join(f"{path} in {part}" for part, path in crossing[0].items())
        raise UserError(
            f"data.split={split_file}: {len(crossing)} song(s) or data group(s) lie in two of its parts, "
            f"e.g. {example}; fix the split or the groups file"
        )


def _draw(classes, kept, every, label, unit, song, given, grouped: bool, settings: DataSettings) -> Split:
    """The test set and folds: given ones as given, the rest drawn by unit (with data groups), or by song
    as make_split always drew them, then each duplicate group moved to its first file's part."""
    k, seed = settings.num_folds, settings.seed
    if given is None and not grouped:
        drawn = make_split(kept, settings.test_fraction, k, seed, settings.max_per_class, song)
        return _together(drawn, unit)
    if given is None:
        units = _units(every, unit, label)
        test, folds = make_grouped_split(units, len(classes), settings.test_fraction, k, seed)
        return Split(classes, test, folds)
    test = [(path, label[path]) for path in every if given[path] == "test"]
    rest = [path for path in every if given[path] != "test"]
    if settings.folds == "given":
        return _given_folds(classes, test, rest, given, label, settings.split)
    if grouped:
        _, folds = make_grouped_split(_units(rest, unit, label), len(classes), 0.0, k, seed)
    else:
        rest_set = set(rest)
        rest_files = {name: [p for p in kept[name] if p in rest_set] for name in classes}
        folds = _together(make_split(rest_files, 0.0, k, seed, group=song), unit).folds
    return Split(classes, test, folds)


def _together(split: Split, unit: dict[str, str]) -> Split:
    """``split`` with each unit's files (a duplicate group with the songs it touches) moved into the part of
    the unit's first file: the split differs from make_split's only where duplicates are (and a folder
    without duplicates gets make_split's split, file for file)."""
    parts = [split.test, *split.folds]
    part_of = {path: k for k, items in enumerate(parts) for path, _ in items}
    home: dict[
        str, int
    ] = {}  # each unit's part: its first file's (or first drawn, if max_per_class left it out)
    moved: list[list[tuple[str, int]]] = [[] for _ in parts]
    for items in parts:
        for path, label in items:
            moved[home.setdefault(unit[path], part_of.get(unit[path], part_of[path]))].append((path, label))
    return Split(split.classes, moved[0], moved[1:])


def _given_folds(classes, test, rest, given, label, split_file) -> Split:
    """data.folds=given: train and val as the split file has them, or its numbered folds."""
    numbers = sorted({given[path] for path in rest if isinstance(given[path], int)})
    if numbers:
        if numbers != list(range(len(numbers))):
            raise UserError(f"data.split={split_file}: folds {numbers} are not numbered from 0 without gaps")
        return Split(classes, test, [[(p, label[p]) for p in rest if given[p] == n] for n in numbers])
    train = [(p, label[p]) for p in rest if given[p] == "train"]
    val = [(p, label[p]) for p in rest if given[p] == "val"]
    if not train or not val:
        raise UserError(
            f"data.split={split_file}: data.folds=given needs a train and a val part, found {len(train)} and "
            f"{len(val)} images; set data.folds=drawn to draw folds from train+val"
        )
    return Split(classes, test, [val], train=train)


def _units(files: list[str], unit: dict[str, str], label) -> list[list[tuple[str, int]]]:
    members: dict[str, list[tuple[str, int]]] = {}
    for path in files:
        members.setdefault(unit[path], []).append((path, label[path]))
    return list(members.values())

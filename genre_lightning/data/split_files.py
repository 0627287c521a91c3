"""Splits and groups that someone else made, read from files (data.split, data.groups) and matched to the
images by name.

A name in those files is matched to an image by its key (name_key): the last part of the name, without its
extension, lowercased, with every character but letters and digits dropped, so GTZAN's
``blues/blues.00012.wav`` names the image ``blues/blues00012.png``, ``blues.00012.png`` or
``blues.00012.jpg``. Where two images share a key, the name's folders decide (``Rock/001`` against
``Pop/001``). In a folder build_dataset.py made, a name is a song: it names all of the song's windows.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
from collections.abc import Callable
from pathlib import Path

from genre_lightning.errors import UserError

# the part names a split may use, and the part each stands for
PART_NAMES = {
    "train": "train",
    "training": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "test": "test",
}
FILE_COLUMNS = ("path", "file", "filename", "stem", "name", "track_id")
PART_COLUMNS = ("part", "split", "set", "fold")
GROUP_COLUMNS = ("group", "artist", "artist_id", "album", "song")
# a list file of a split folder: train.txt, valid_filtered.txt, test-v2.txt...
_LIST_FILE = re.compile(r"^(train|training|valid|validation|val|test)([_.-].*)?\.txt$", re.IGNORECASE)
_NOT_KEY = re.compile(r"[^0-9a-z]")


def name_key(name: str) -> str:
    """The key a name is matched by: its last part, without the extension (the last dot-part, unless it is
    all digits: ``blues.00012`` keeps its number), lowercased, letters and digits only."""
    last = name.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    stem, dot, extension = last.rpartition(".")
    if dot and stem and not extension.isdigit():
        last = stem
    return _NOT_KEY.sub("", last.lower())


def _folder_keys(name: str) -> tuple[str, ...]:
    parts = name.replace("\\", "/").strip("/").split("/")[:-1]
    return tuple(_NOT_KEY.sub("", part.lower()) for part in parts)


class NameIndex:
    """The images below ``root`` by key: each name's images (a unit: a file, or a song's windows)."""

    def __init__(self, root: Path, files: list[str], unit_of: Callable[[str], str]):
        self.root = root
        self.by_key: dict[str, dict[str, list[str]]] = {}  # key -> unit -> files
        for path in files:
            self.by_key.setdefault(name_key(unit_of(path)), {}).setdefault(unit_of(path), []).append(path)

    def find(self, name: str, source: str) -> list[str] | None:
        """The files ``name`` names, None when none; a UserError when it could name several units."""
        units = self.by_key.get(name_key(name))
        if not units:
            return None
        if len(units) > 1:
            # the name's folders, matched against the end of each candidate's folders below root
            folders = _folder_keys(name)
            fitting = [
                unit
                for unit in units
                if folders and _folder_keys(os.path.relpath(unit, self.root))[-len(folders) :] == folders
            ]
            if len(fitting) != 1:
                raise UserError(
                    f"{source}: {name!r} could name any of {sorted(units)[:3]}; name the file with its "
                    "folders below data.root"
                )
            units = {fitting[0]: units[fitting[0]]}
        return next(iter(units.values()))


def source_digest(path: Path) -> str:
    """The sha256 of a split or groups file, or of a split folder's list files (names and contents)."""
    digest = hashlib.sha256()
    for file in _list_files(path) if path.is_dir() else [path]:
        digest.update(file.name.encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()


def _list_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and _LIST_FILE.match(p.name))


def read_split(path: Path) -> dict[str, str | int]:
    """Name -> part ("train", "val", "test", or a fold number) from a split CSV, or from a folder of list
    files (train.txt, valid.txt, test.txt; a suffix such as _filtered is allowed)."""
    key = f"data.split={path}"
    if path.is_dir():
        lists = _list_files(path)
        if not lists:
            raise UserError(
                f"{key}: no train.txt, valid.txt or test.txt in the folder; point data.split at a split CSV "
                "or a folder of those lists"
            )
        rows = []
        for file in lists:
            part = _LIST_FILE.match(file.name).group(1)
            rows += [(line.strip(), part, f"{file}:{n}") for n, line in enumerate(_read_lines(file, key), 1)]
        rows = [row for row in rows if row[0] and not row[0].startswith("#")]
    elif path.is_file():
        rows = _read_columns(path, key, PART_COLUMNS, "part")
    else:
        raise UserError(f"{key}: no such file or folder; fix data.split")
    parts: dict[str, str | int] = {}
    for name, value, where in rows:
        part = _part(value, f"{key}: {where}")
        if parts.setdefault(name, part) != part:
            raise UserError(
                f"{key}: {where}: {name!r} is in two parts ({parts[name]}, {part}); fix the split"
            )
    kinds = {isinstance(part, int) for part in parts.values() if part != "test"}
    if len(kinds) > 1:
        raise UserError(f"{key}: mixes fold numbers with train/val parts; use one or the other")
    return parts


def read_groups(path: Path) -> dict[str, str]:
    """Name -> group from a groups CSV (a file column and a group column)."""
    key = f"data.groups={path}"
    if not path.is_file():
        raise UserError(f"{key}: no such file; fix data.groups")
    return {name: group for name, group, _ in _read_columns(path, key, GROUP_COLUMNS, "group")}


def _part(value: str, where: str) -> str | int:
    word = value.strip().lower()
    if word.isdigit():
        return int(word)
    if word not in PART_NAMES:
        raise UserError(
            f"{where}: part {value!r} is not train, val, valid, validation, test or a fold number"
        )
    return PART_NAMES[word]


def _read_lines(path: Path, key: str) -> list[str]:
    try:
        return path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"{key}: cannot read {path} ({err}); fix the file") from None


def _read_columns(path: Path, key: str, columns: tuple[str, ...], what: str) -> list[tuple[str, str, str]]:
    """(name, value, "file:line") of every row of a CSV with a file column and a ``what`` column."""
    lines = _read_lines(path, key)
    reader = csv.reader(lines)
    header = [cell.strip().lower() for cell in next(reader, [])]
    name_at = next((header.index(c) for c in FILE_COLUMNS if c in header), None)
    value_at = next((header.index(c) for c in columns if c in header), None)
    if name_at is None or value_at is None:
        raise UserError(
            f"{key}: the first row must name a file column ({', '.join(FILE_COLUMNS)}) and a {what} column "
            f"({', '.join(columns)}); found {header}"
        )
    rows = []
    for n, row in enumerate(reader, 2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) <= max(name_at, value_at) or not row[name_at].strip() or not row[value_at].strip():
            raise UserError(f"{key}: line {n} has no file or no {what}; fix the file")
        rows.append((row[name_at].strip(), row[value_at].strip(), f"line {n}"))
    return rows

"""The scan before training: every image opened and checked, so a bad file stops the run before any fold
trains (data.bad_files=error) or is left out of the split (skip), instead of failing when first read.

Every image is decoded small: JPEGs at libjpeg's DCT scale with a short side of at least 128 px (1/8 for
a real 1984x1478 spectrogram), which reads every byte of the entropy-coded data, so a truncated file shows,
for a small share of a full decode's cost; PNGs are verified (every chunk and its checksum) and decoded.
The decode gives each file's fingerprints for the duplicate search (duplicates.py). Results are cached per
file by path, size and modification time under data.cache_dir, so a later run re-checks only new and
changed files. With data.trim=auto each image's plot area is found too
(genre_lightning/data/trim.py).
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import time
from pathlib import Path

from genre_lightning.data.duplicates import SOURCE_SIDE, fingerprint
from genre_lightning.data.images import load_image, open_image
from genre_lightning.data.parallel import cache_key, parallel_map
from genre_lightning.data.trim import image_box
from genre_lightning.errors import UserError
from genre_lightning.files import write_json
from genre_lightning.tables import shown

log = logging.getLogger(__name__)

# Bump when the checks or the record change, so cached results are checked again.
SCAN_VERSION = 5
# An image whose short side is under this share of the model's input is bad too: blown up that far it
# holds no spectrogram detail (a 1x1 or 8x8 file is an export gone wrong, not data).
MIN_SIDE_SHARE = 0.25


class BadImages(UserError):
    """Bad images found by the scan under data.bad_files=error; ``files`` lists (path, reason) pairs."""

    def __init__(self, files: list[tuple[str, str]]):
        self.files = files
        super().__init__(self.summary())

    def summary(self, listed_in: str | os.PathLike | None = None) -> str:
        """One line: the count, the first file's reason, the next paths, and where the full list is."""
        others = [shown(path) for path, _ in self.files[1:3]]
        if len(self.files) > 3:
            others.append(f"{len(self.files) - 3} more")
        also = f"; also {', '.join(others)}" if others else ""
        where = f"; all listed in {listed_in}" if listed_in else ""
        return (
            f"{len(self.files)} bad image(s): {self.files[0][1]}{also}{where}; remove or re-export them, "
            "or set data.bad_files=skip to train without them"
        )


def format_bad_files(files: list[tuple[str, str]]) -> str:
    """One line per file: its path (shown: escaped where it holds a tab, a newline...), a tab, the reason."""
    return "".join(f"{shown(path)}\t{' '.join(reason.split())}\n" for path, reason in files)


def check_image(path: str, max_pixels: int, find_boxes: bool = False) -> dict | str:
    """The image's record if it decodes, else the one-line reason it does not. The record holds plain
    values only (it is cached as JSON): ``size``, [width, height] from the header, the fingerprints of the
    decoded pixels (``pixels``, ``thumbnail``: duplicates.fingerprint); with ``find_boxes``, ``box``, the plot
    area (genre_lightning/data/trim.py)."""
    try:
        with open_image(path, max_pixels) as image:
            record = {"size": list(image.size)}
            if image.format != "JPEG":
                image.verify()  # every chunk's checksum, which decoding alone does not check
        if find_boxes:  # verify() leaves nothing to decode: opened again
            with open_image(path, max_pixels) as image:
                record["box"] = image_box(image)
        decoded = load_image(path, SOURCE_SIDE, max_pixels)
        if "box" in record:
            # the fingerprints of the plot area: figures exported by one script share their paper, axes
            # and labels, which would make every one of them a near duplicate of the others
            (width, height), (left, top, right, bottom) = record["size"], record["box"]
            x, y = decoded.size[0] / width, decoded.size[1] / height
            decoded = decoded.crop((int(left * x), int(top * y), math.ceil(right * x), math.ceil(bottom * y)))
        return {**record, **fingerprint(decoded)}
    except UserError as err:
        return str(err)


def bad_images(
    files: list[str],
    image_size: int,
    max_pixels: int,
    cache_dir: str | os.PathLike | None,
    num_workers: int = 0,
) -> list[tuple[str, str]]:
    """(path, reason) of every file that does not decode or is far below ``image_size``, in ``files``'
    order."""
    return find_bad(scan(files, max_pixels, cache_dir, num_workers), image_size)


def find_bad(records: dict[str, dict | str], image_size: int) -> list[tuple[str, str]]:
    """(path, reason) of every scanned file that does not decode or is far below ``image_size``, in the
    records' order."""
    smallest = image_size * MIN_SIDE_SHARE
    bad = []
    for path, record in records.items():
        if isinstance(record, str):
            bad.append((path, record))
        elif min(record["size"]) < smallest:
            width, height = record["size"]
            bad.append(
                (
                    path,
                    f"{shown(path)}: {width}x{height} pixels, far below the model's {image_size} px "
                    "input; remove or re-export the file",
                )
            )
    return bad


def scan(
    files: list[str],
    max_pixels: int,
    cache_dir: str | os.PathLike | None,
    num_workers: int = 0,
    find_boxes: bool = False,
) -> dict[str, dict | str]:
    """check_image of every file, in ``num_workers`` processes, reusing the cached result of files whose
    size and modification time are unchanged (and that hold a box, where ``find_boxes`` asks for one)."""
    started = time.perf_counter()
    cache_path = _cache_path(files, cache_dir)
    cached = _read_cache(cache_path, max_pixels)
    stamps = {path: _stamp(path) for path in files}
    results = {
        path: cached[path][1]
        for path in files
        if path in cached
        and cached[path][0] == stamps[path]
        and not (find_boxes and isinstance(cached[path][1], dict) and "box" not in cached[path][1])
    }
    todo = [path for path in files if path not in results]
    if todo:
        # a worker checks 32 files per round trip; a handful of files is quicker checked here
        workers = num_workers if len(todo) > 64 else 0
        check = functools.partial(check_image, max_pixels=max_pixels, find_boxes=find_boxes)
        results.update(zip(todo, parallel_map(check, todo, workers, chunk=32)))
        if cache_path is not None:
            _write_cache(cache_path, max_pixels, {path: [stamps[path], results[path]] for path in files})
    log.info(
        "scanned %d images in %.1f s (%d checked, %d unchanged since the last scan)",
        len(files),
        time.perf_counter() - started,
        len(todo),
        len(files) - len(todo),
    )
    return {path: results[path] for path in files}


def _stamp(path: str) -> list[int]:
    stat = os.stat(path)
    return [stat.st_size, stat.st_mtime_ns]


def _cache_path(files: list[str], cache_dir: str | os.PathLike | None) -> Path | None:
    if cache_dir is None or not files:
        return None
    return Path(cache_dir) / f"scan-{cache_key(files)}.json"


def _read_cache(path: Path | None, max_pixels: int) -> dict[str, list]:
    if path is None:
        return {}
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError):  # none yet, or unreadable
        return {}
    if saved.get("version") != SCAN_VERSION or saved.get("max_pixels") != max_pixels:
        return {}
    return saved["files"]


def _write_cache(path: Path, max_pixels: int, entries: dict[str, list]) -> None:
    try:
        write_json(path, {"version": SCAN_VERSION, "max_pixels": max_pixels, "files": entries})
    except OSError as err:  # e.g. a read-only data folder: the next run scans again
        log.warning("cannot cache the scan in %s (%s)", path, err)

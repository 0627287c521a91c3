"""Duplicate pictures among the images, found from the fingerprints the scan takes of every file.

- Exact duplicates: identical decoded pixels (a sha256 of the pixels the scan decodes).
- Near duplicates: the same picture re-encoded (another JPEG quality, PNG) or resized by a pixel or two:
  the 16x16 grey thumbnails of two files (bicubic, antialiased) differ by at most NEAR_RMS grey levels
  (root mean square, of 255).

Why thumbnails and not a bit hash: on the 128 px FMA spectrograms a 256- or 512-bit difference hash (dHash)
of the same picture re-saved as PNG differed in up to 69 bits, while unrelated tracks came as close as 73;
the thumbnails' distance keeps the two apart (copies re-encoded at quality 60 or resized by a pixel: at most
1.43 on FMA and demo spectrograms; distinct tracks: 2.4 and up; docs/training.md has the figures). A box
filter was worse: a copy resized by a pixel moved sharp lines across box edges (up to 8 grey levels).

Pairs are compared by matrix products, skipping pairs whose mean grey levels differ by more than the limit
(the RMS difference is at least that): 3,988 files take half a second.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

from genre_lightning.data.splits import components

# thumbnails are made from a decode with a short side of at least this (JPEGs: libjpeg's DCT scaling, 1/8
# of a 1984x1478 spectrogram, full size for small ones), so a copy resized by a pixel gives the same one
SOURCE_SIDE = 128
THUMBNAIL_SIDE = 16
# the largest RMS difference of two thumbnails (grey levels of 255) still taken as one picture
NEAR_RMS = 1.8
# rows of thumbnails compared at once: a block of 512 x n distances in memory
_BLOCK = 512
POLICIES = ("error", "first", "drop")


def fingerprint(image: Image.Image) -> dict:
    """The exact-pixel hash and the thumbnail of an RGB image, as the scan caches them (plain strings)."""
    pixels = hashlib.sha256(f"{image.size}".encode() + image.tobytes()).hexdigest()[:32]
    thumb = image.convert("L").resize((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.BICUBIC)
    return {"pixels": pixels, "thumbnail": base64.b64encode(thumb.tobytes()).decode()}


def thumbnails(records: list[dict]) -> np.ndarray:
    """The records' thumbnails as an (n, 256) float64 array."""
    raw = b"".join(base64.b64decode(record["thumbnail"]) for record in records)
    return np.frombuffer(raw, dtype=np.uint8).reshape(len(records), THUMBNAIL_SIDE**2).astype(np.float64)


def near_pairs(first: np.ndarray, second: np.ndarray | None = None) -> list[tuple[int, int]]:
    """Index pairs (i, j) of thumbnails within NEAR_RMS: i < j within ``first``, or i of ``first`` and j
    of ``second`` when it is given."""
    one_set = second is None
    both = first if one_set else np.concatenate([first, second])
    means = both.mean(axis=1)
    order = np.argsort(means, kind="stable")
    x, means = both[order], means[order]
    squares = (x * x).sum(axis=1)
    limit = NEAR_RMS**2 * x.shape[1]
    pairs = []
    for start in range(0, len(x), _BLOCK):
        stop = min(start + _BLOCK, len(x))
        # only files whose mean is within the limit can be within it (sorted by mean: a contiguous run)
        end = int(np.searchsorted(means, means[stop - 1] + NEAR_RMS, side="right"))
        distance = squares[start:stop, None] + squares[None, start:end] - 2 * x[start:stop] @ x[start:end].T
        rows, columns = np.nonzero(distance <= limit)
        for i, j in zip(order[rows + start], order[columns + start]):
            if i != j:
                pairs.append((int(min(i, j)), int(max(i, j))))
    pairs = sorted(set(pairs))
    if one_set:
        return pairs
    n = len(first)
    return [(i, j - n) for i, j in pairs if i < n <= j]


@dataclass(frozen=True)
class DuplicateGroup:
    """Files that show one picture: ``exact`` when all have identical pixels."""

    files: list[str]
    exact: bool

    @property
    def kind(self) -> str:
        return "exact" if self.exact else "near"


def duplicate_groups(files: list[str], records: dict[str, dict]) -> list[DuplicateGroup]:
    """The groups of two or more of ``files`` that show one picture (linked by near_pairs; a chain of near
    copies is one group), each in ``files``' order, in the order of their first files."""
    if len(files) < 2:
        return []
    pairs = near_pairs(thumbnails([records[path] for path in files]))
    members: dict[str, list[str]] = {}
    for path, first in components(files, [(files[i], files[j]) for i, j in pairs]).items():
        members.setdefault(first, []).append(path)
    return [
        DuplicateGroup(group, len({records[path]["pixels"] for path in group}) == 1)
        for group in members.values()
        if len(group) > 1
    ]


def format_groups(groups: list[DuplicateGroup], genre_of: dict[str, str], left_out: set[str]) -> str:
    """duplicates.txt: a CSV (the csv module's quoting, so any file name reads back), one row per file:
    group number, kind (exact or near), genre, kept or left out, path."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["group", "kind", "genre", "status", "path"])
    for number, group in enumerate(groups):
        for path in group.files:
            status = "left out" if path in left_out else "kept"
            writer.writerow([number, group.kind, genre_of[path], status, path])
    return out.getvalue()

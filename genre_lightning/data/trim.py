"""Spectrograms exported as figures: the plot area found inside the paper (margins, axes, ticks, labels, a
title, a colour bar) so that only the spectrogram reaches the model (data.trim).

The rule that tells paper from a quiet spectrogram: **paper runs all the way around the image.** An image
has paper only when its whole outer ring of pixels (all four edges, but for a few specks or a label cut by
the edge) is white, black or transparent; anything else is a bare spectrogram and is left exactly as it is.
A spectrogram's own silence shows at its start or end (the first or last columns) or in its top bands, not
on all four edges while music plays, so the silent columns of a bare spectrogram are kept. Where silence
does run around a quiet one (a few notes on black), what it holds is rarely a filled rectangle with
straight sides (FILLED), and its box lies far from the usual box of the images of its size (plan).

Inside paper, the plot area is the widest block of columns that are mostly not paper, then the tallest block
of rows within it (twice over): axis labels, a title and tick marks cover little of a column or row, a colour
bar is narrower than the plot and set apart from it by paper, and axis lines drawn apart from the plot are a
pixel or two wide. An axis frame (spines drawn on the plot's edge) is stripped last: lines of one colour
running along all four sides of the box at once, at most FRAME px deep. A plot's own silence is not a frame:
it shows at its start or end or in its top bands, not as one colour along all four sides while its low bands
sound. What cannot be told apart: on black paper, a plot whose own edge columns are silent in a
colormap whose silence is black (magma, inferno) loses them, and a grey colormap's white on white paper reads
as paper. Such images lie far from the usual box of their size: they are cut to it, and listed (plan).

A box is [left, top, right, bottom] in the file's pixels, right and bottom exclusive, as PIL's crop takes.
"""

from __future__ import annotations

import os
import warnings
from collections import Counter
from collections.abc import Sequence

import numpy as np
from PIL import Image

from genre_lightning.data.images import load_image, open_image
from genre_lightning.errors import InputWarning, UserError
from genre_lightning.tables import shown

# A channel within this of the paper's is paper: JPEG's noise beside sharp edges (quality 75) stays under it,
# and the colours of every colormap but a grey one differ from white and black paper by more.
TOLERANCE = 48
# The share of the outer ring that must be paper for the image to have paper (specks, a label cut by the
# figure's edge).
RING_SHARE = 0.95
# A column or row is the plot's when at least this share of its pixels is not paper (of the most any column
# or row holds): axis labels, a title and tick marks cover far less.
DENSE = 0.5
# The scan decodes JPEGs at the coarsest DCT scale that keeps the short side at least this long: a figure up
# to 1023 px decodes in full (boxes to 2 px), the published 1984x1478 images at 1/2 (992x739), twice as fine
# as training's own decode at data.resize_size=256.
SCAN_SIDE = 512
# A file's box is far from the usual box of its size when a side lies further than this share of the usual
# box's long side from it, and 2 px (2% of 500 px: 10 px; anti-aliasing moves a side by a pixel).
FAR = 0.02
# The plot is a filled rectangle with straight sides: at least this share of its pixels, and of each side's
# line, is not paper (music on paper-coloured silence is ragged).
FILLED = 0.9
# The widest axis frame stripped, per side: matplotlib's spines are 0.8 pt (1 px at 100 dpi, 3.3 at 300).
FRAME = 4
MODES = ("auto", "off")
# How many image sizes' usual boxes a checkpoint keeps (the commonest; an export script makes one or two).
USUAL_KEPT = 16


def find_box(image: Image.Image) -> list[int]:
    """The plot area of a decoded image, [left, top, right, bottom]; the whole image when it has no paper, or
    when what the paper holds is no filled rectangle (FILLED)."""
    whole = [0, 0, *image.size]
    found = _content(image)
    if found is None:
        return whole
    content, pixels = found
    rows = slice(None)
    for _ in range(2):  # columns within the rows found, then rows within those columns, twice
        columns = _widest(_share(content[rows], axis=0))
        rows = _widest(_share(content[:, columns], axis=1)) if columns else None
        if rows is None:
            return whole
    plot = content[rows, columns]
    # each side of the plot, or the line inside it (a side may fall on an anti-aliased line)
    sides = [plot[:, :2], plot[:, -2:], plot[:2].T, plot[-2:].T]
    if _share(plot, axis=None) < FILLED or min(_share(side, axis=0).max() for side in sides) < FILLED:
        return whole
    return _inside_frame(pixels, [columns.start, rows.start, columns.stop, rows.stop])


def _inside_frame(pixels: np.ndarray, box: list[int]) -> list[int]:
    """The box without the axis frame drawn on its edge: while the outermost line of each of its four sides is
    one colour (all but a few specks within TOLERANCE of it), and the same colour on every side, one pixel
    less on each side, at most FRAME times."""
    left, top, right, bottom = box
    for _ in range(FRAME):
        if right - left <= 2 * FRAME or bottom - top <= 2 * FRAME:
            break
        # the four outermost lines only (the whole plot cast to int16 on every step would cost the scan)
        sides = [
            line.astype(np.int16)
            for line in (
                pixels[top, left:right],
                pixels[bottom - 1, left:right],
                pixels[top:bottom, left],
                pixels[top:bottom, right - 1],
            )
        ]
        colour = np.median(np.concatenate(sides), axis=0)
        if any(
            _share(np.abs(side - colour).max(axis=-1) > TOLERANCE, axis=None) > 1 - RING_SHARE
            for side in sides
        ):
            break
        left, top, right, bottom = left + 1, top + 1, right - 1, bottom - 1
    return [left, top, right, bottom]


def _share(mask: np.ndarray, axis: int | None) -> np.ndarray:
    """The share of True along ``axis`` (summed as integers: a bool array's mean goes through float64)."""
    return mask.sum(axis=axis, dtype=np.int32) / (mask.size if axis is None else mask.shape[axis])


def _content(image: Image.Image) -> tuple[np.ndarray, np.ndarray] | None:
    """H x W bool, True where the image is not paper, and the H x W x 3 RGB pixels; None when its outer ring
    is not paper."""
    if min(image.size) < 3:
        return None
    pixels = np.asarray(image.convert("RGB"))
    if image.mode in ("RGBA", "LA", "PA", "P") or "transparency" in image.info:
        alpha = np.asarray(image.convert("RGBA").getchannel("A"))
        if _share(_ring(alpha) < 128, axis=None) >= RING_SHARE:
            return alpha >= 128, pixels
    ring = _ring(pixels)
    for paper in ("white", "black"):
        if 1 - _share(_off_paper(ring, paper), axis=None) >= RING_SHARE:
            return _off_paper(pixels, paper), pixels
    return None


def _off_paper(pixels: np.ndarray, paper: str) -> np.ndarray:
    """Where a channel of the RGB ``pixels`` lies further than TOLERANCE from white or black paper's."""
    red, green, blue = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    if paper == "white":
        return np.minimum(np.minimum(red, green), blue) < 255 - TOLERANCE
    return np.maximum(np.maximum(red, green), blue) > TOLERANCE


def _ring(pixels: np.ndarray) -> np.ndarray:
    """Every pixel of the four edges."""
    return np.concatenate([pixels[0], pixels[-1], pixels[1:-1, 0], pixels[1:-1, -1]])


def _widest(density: np.ndarray) -> slice | None:
    """The widest run of dense entries of a profile (the share of non-paper pixels per column or row)."""
    if density.max() == 0:
        return None
    dense = np.concatenate([[False], density >= DENSE * density.max(), [False]])
    edges = np.flatnonzero(dense[1:] != dense[:-1])
    starts, stops = edges[::2], edges[1::2]
    widest = int(np.argmax(stops - starts))
    return slice(int(starts[widest]), int(stops[widest]))


def image_box(image: Image.Image) -> list[int]:
    """The plot area of an opened, not yet decoded image (find_box) in the file's pixels: a JPEG decoded at
    the coarsest DCT scale that keeps SCAN_SIDE (which reads every byte, as the scan's check does), the box
    scaled back with its sides rounded outwards."""
    width, height = image.size
    image.draft("RGB", (SCAN_SIDE, SCAN_SIDE))
    left, top, right, bottom = find_box(image)
    scale_x, scale_y = width / image.size[0], height / image.size[1]
    return [
        int(left * scale_x),
        int(top * scale_y),
        min(width, int(np.ceil(right * scale_x))),
        min(height, int(np.ceil(bottom * scale_y))),
    ]


def check_trim(trim, key: str = "data.trim"):
    """``trim`` as plain values (auto, off, or a box [left, top, right, bottom] of whole pixels), or a
    UserError naming ``key``."""
    if isinstance(trim, str) and trim in MODES:
        return trim
    box = list(trim) if isinstance(trim, Sequence) and not isinstance(trim, str) else None
    if (
        box is None
        or len(box) != 4
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in box)
        or not 0 <= box[0] < box[2]
        or not 0 <= box[1] < box[3]
    ):
        raise UserError(
            f"{key}={trim!r}: use auto, off, or [left, top, right, bottom] in pixels (right > left, "
            f"bottom > top); fix {key}"
        )
    return box


def is_far(box: list[int], usual: list[int]) -> bool:
    """Whether a side of ``box`` lies further than FAR (at least 2 px) from the ``usual`` box's."""
    slack = max(2.0, FAR * max(usual[2] - usual[0], usual[3] - usual[1]))
    return max(abs(a - b) for a, b in zip(box, usual)) > slack


def usual_boxes(sizes: dict[str, list[int]], found: dict[str, list[int]]) -> list[list[int]]:
    """[width, height, left, top, right, bottom] per image size: the commonest box found among the images of
    that size (the whole image for those without one), the commonest sizes first."""
    by_size: dict[tuple, Counter] = {}
    for path, size in sizes.items():
        by_size.setdefault(tuple(size), Counter())[tuple(found.get(path, (0, 0, *size)))] += 1
    ranked = sorted(by_size.items(), key=lambda item: -item[1].total())
    return [[*size, *boxes.most_common(1)[0][0]] for size, boxes in ranked]


def plan(trim, records: dict[str, dict]) -> tuple[dict[str, list[int]], list[list[int]], str, str]:
    """The crops of the scanned images (``records``: the scan's, {"size": ..., "box": ...}) under data.trim
    (check_trim'd): each file's box (files kept whole left out), the usual box per image size (auto; what
    prediction holds images of those sizes to, USUAL_KEPT of them), and report's log line and trim.txt text.

    auto: each image is cut to the box found in it, unless that lies far from the usual box of the images of
    its size; then it is cut to the usual box, and listed (a plot whose own edges read as paper, or music
    that reads as a plot on black paper, moves its box; an export of one script holds one layout per size).
    A given box that does not fit an image is a UserError naming it."""
    sizes = {path: record["size"] for path, record in records.items()}
    found = {path: record["box"] for path, record in records.items() if "box" in record}
    usual, far = [], []
    if trim == "off":
        boxes = {}
    elif trim == "auto":
        usual = usual_boxes(sizes, found)
        of_size = {(width, height): box for width, height, *box in usual}
        boxes = {}
        for path, size in sizes.items():
            boxes[path] = found.get(path, [0, 0, *size])
            if is_far(boxes[path], of_size[tuple(size)]):
                far.append(path)
                boxes[path] = of_size[tuple(size)]
    else:
        small = [path for path, (width, height) in sizes.items() if trim[2] > width or trim[3] > height]
        if small:
            width, height = sizes[small[0]]
            raise UserError(
                f"{shown(small[0])}: {width}x{height} pixels, smaller than data.trim={list(trim)} (and "
                f"{len(small) - 1} more); fix data.trim or use data.trim=auto"
            )
        boxes = {path: list(trim) for path in sizes}
    boxes = {path: box for path, box in boxes.items() if box != [0, 0, *sizes[path]]}
    line, text = report(trim, sizes, boxes, {path: found.get(path) for path in far})
    return boxes, usual[:USUAL_KEPT], line, text


def report(
    trim, sizes: dict[str, list[int]], boxes: dict[str, list[int]], far: dict[str, list[int] | None]
) -> tuple[str, str]:
    """What data.trim did with the images: one log line (the commonest boxes and their counts, how many were
    far from their size's usual box) and the text of the run folder's trim.txt (every box with its count,
    then each far file with the box found in it)."""
    counts = Counter((tuple(sizes[path]), tuple(boxes.get(path, ()))) for path in sizes)
    rows = [
        (count, f"{width}x{height}", str(list(box)) if box else "whole")
        for ((width, height), box), count in counts.most_common()
    ]
    text = f"data.trim={trim}: {len(sizes)} images; count, size, box [left, top, right, bottom] or whole\n"
    text += "".join(f"{count}\t{size}\t{box}\n" for count, size, box in rows)
    if far:
        text += (
            f"{len(far)} image(s) whose own box lies far from the usual box of their size, cut to the usual "
            "one; each with the box found in it:\n"
        )
        text += "".join(f"{shown(path)}\t{box or 'whole'}\n" for path, box in sorted(far.items()))
    commonest = "; ".join(f"{count} of {size}: {box}" for count, size, box in rows[:3])
    more = f"; {len(rows) - 3} other boxes" if len(rows) > 3 else ""
    return f"data.trim={trim}: {commonest}{more}; {len(far)} far from their size's usual box", text


def file_box(path: str | os.PathLike, trim, usual: list[list[int]], max_pixels: int) -> list[int] | None:
    """The crop of one image file as training cut its images (prediction): None for off, the given box
    (checked to fit), or for auto the box found in it (image_box), unless it lies far from the usual box of
    the training images of its size (``usual``, from plan): then that one, with an InputWarning."""
    if trim == "off":
        return None
    with open_image(path, max_pixels) as image:
        width, height = image.size
        if trim != "auto":
            if trim[2] > width or trim[3] > height:
                raise UserError(
                    f"{shown(path)}: {width}x{height} pixels, smaller than the box {list(trim)} the model's "
                    "images were cut to (data.trim); pass images exported as the training images were"
                )
            return list(trim)
        box = image_box(image)
    for usual_width, usual_height, *usual_box in usual:
        if (usual_width, usual_height) == (width, height) and is_far(box, usual_box):
            warnings.warn(
                f"the plot area found, {box}, lies far from the {usual_box} of the model's training images "
                "of this size; cut to theirs",
                InputWarning,
                stacklevel=2,
            )
            return usual_box
    return box


class CroppedImages:
    """load_image of a file, cut to its box in ``boxes`` where it has one: the DataModule's read."""

    def __init__(self, boxes: dict[str, list[int]], min_size: int, max_pixels: int):
        self.boxes, self.min_size, self.max_pixels = boxes, min_size, max_pixels

    def __call__(self, path: str | os.PathLike) -> Image.Image:
        return load_image(path, self.min_size, self.max_pixels, self.boxes.get(str(path)))

"""The opt-in decoded-image cache (data.cache=true): every image decoded once into one memory-mapped file.

Even at libjpeg's DCT scaling a large spectrogram costs far more to decode than its pixels cost to read back
from the page cache, so the epochs and folds after the first decode no JPEG at all (docs/speed.md has the
measured figures).
"""

from __future__ import annotations

import functools
import json
import logging
import os
from pathlib import Path

import numpy as np
from PIL import Image

from genre_lightning.data.images import MAX_PIXELS
from genre_lightning.data.parallel import cache_key, digest, parallel_map
from genre_lightning.data.trim import CroppedImages
from genre_lightning.files import atomic_path, write_json

log = logging.getLogger(__name__)

# Bump when the file layout or load_image's decoding changes, so older caches are rebuilt.
CACHE_VERSION = 2


class DecodedImages:
    """Called with a file path, returns the RGB image with the very pixels of its CroppedImages read."""

    def __init__(self, pixels_path: str | os.PathLike, index: dict[str, list[int]]):
        self.pixels_path, self.index = Path(pixels_path), index
        # Opened on first use in each process: a pickled memmap would copy every pixel into each worker.
        self._pixels = None

    def __call__(self, path: str | os.PathLike) -> Image.Image:
        if self._pixels is None:
            self._pixels = np.memmap(self.pixels_path, dtype=np.uint8, mode="r")
        offset, height, width = self.index[str(path)]
        return Image.fromarray(self._pixels[offset : offset + height * width * 3].reshape(height, width, 3))

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_pixels": None}

    @property
    def nbytes(self) -> int:
        return self.pixels_path.stat().st_size


def decoded_images(
    files: list[str],
    min_size: int,
    cache_dir: str | os.PathLike,
    num_workers: int = 0,
    max_pixels: int = MAX_PIXELS,
    boxes: dict[str, list[int]] | None = None,
) -> DecodedImages:
    """The cache of `files` decoded at `min_size`, each cut to its box in `boxes` where it has one
    (data.trim): reused while up to date, else built (atomically).

    Its name holds a hash of every file's path, size, mtime and box and of min_size, so changing, adding or
    removing a file makes a new cache; the caches it supersedes (same folder and size) are deleted.
    """
    cache_dir = Path(cache_dir)
    boxes = boxes or {}
    family = cache_key(files, min_size)
    stamp = [
        CACHE_VERSION,
        min_size,
        [(f, os.stat(f).st_size, os.stat(f).st_mtime_ns, *boxes.get(f, [])) for f in files],
    ]
    name = f"{family}-{digest(stamp)[:16]}"
    index_path, pixels_path = cache_dir / f"{name}.json", cache_dir / f"{name}.u8"
    if index_path.is_file() and pixels_path.is_file():
        return DecodedImages(pixels_path, json.loads(index_path.read_text())["images"])

    log.info("decoding %d images once into %s", len(files), pixels_path)
    index = _decode_into(pixels_path, files, CroppedImages(boxes, min_size, max_pixels), num_workers)
    # the index is written last: its presence says the pixels file is complete
    write_json(index_path, {"version": CACHE_VERSION, "min_size": min_size, "images": index})
    for stale in cache_dir.glob(f"{family}-*"):
        if stale not in (index_path, pixels_path):
            stale.unlink(missing_ok=True)
    return DecodedImages(pixels_path, index)


def _decode_into(
    pixels_path: Path, files: list[str], read: CroppedImages, num_workers: int
) -> dict[str, list[int]]:
    index, offset = {}, 0
    decode = functools.partial(_decode, read=read)
    with atomic_path(pixels_path) as tmp, open(tmp, "wb") as out:
        for path, pixels in zip(files, parallel_map(decode, files, num_workers)):
            out.write(pixels.tobytes())
            index[path] = [offset, *pixels.shape[:2]]
            offset += pixels.nbytes
    return index


def _decode(path: str, read: CroppedImages) -> np.ndarray:
    return np.asarray(read(path))

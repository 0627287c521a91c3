"""Image files -> RGB images at the size the model needs, and the dataset of (image, label) pairs."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from genre_lightning.errors import UserError

# The largest image decoded, in pixels: PIL's own default (about 9459 x 9459). A real spectrogram has
# 2.9 million; a file claiming far more is corrupt or a decompression bomb (a 438 KB PNG can claim
# 20000 x 20000, 1.2 GB decoded). Set by data.max_image_pixels and predict.py's max_image_pixels.
MAX_PIXELS = 89_478_485
# PIL's complaints about a file: OSError (truncated, unreadable), SyntaxError (a broken PNG chunk),
# ValueError (a chunk too large to decompress)
DECODE_ERRORS = (OSError, SyntaxError, ValueError)


@contextlib.contextmanager
def open_image(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> Iterator[Image.Image]:
    """The opened (not yet decoded) image, or a UserError naming the file: unreadable, over ``max_pixels``,
    or too big for memory while the caller decodes it."""
    # PIL checks its module-wide limit when it opens a file; switched off here (and restored) so that the
    # limit is the one passed in, checked below with a message naming the file and the setting.
    pil_limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
    try:
        image = Image.open(path)
    except (UnidentifiedImageError, *DECODE_ERRORS) as err:
        raise UserError(f"{path}: cannot read the image ({err}); remove or re-export the file") from None
    finally:
        Image.MAX_IMAGE_PIXELS = pil_limit
    width, height = image.size
    try:
        if width * height > max_pixels:
            raise UserError(
                f"{path}: {width}x{height} is {width * height:,} pixels, over the limit of {max_pixels:,} "
                "(corrupt, or a decompression bomb); remove the file, or raise max_image_pixels if it is real"
            )
        yield image
    except DECODE_ERRORS as err:
        raise UserError(f"{path}: cannot read the image ({err}); remove or re-export the file") from None
    except MemoryError:
        raise UserError(
            f"{path}: out of memory decoding the {width}x{height} image; "
            "remove the file or lower max_image_pixels"
        ) from None
    finally:
        image.close()


def load_image(
    path: str | os.PathLike, min_size: int | None = None, max_pixels: int = MAX_PIXELS
) -> Image.Image:
    """Decode an image to RGB, reduced by the largest factor that keeps its short side >= min_size.

    JPEGs are decoded straight to 1/2, 1/4 or 1/8 scale from the DCT coefficients (libjpeg's draft
    mode), which skips most of the work: a 1984x1478 spectrogram that the model sees at 224 px
    decodes at 496x370 in a quarter of the time. Other formats are decoded in full, then box-reduced
    by a whole factor in the same way.
    """
    with open_image(path, max_pixels) as image:
        if min_size is None:
            return image.convert("RGB")
        # draft keeps each side >= the size asked for, so a square bounds the short side; a no-op but for JPEG
        image.draft("RGB", (min_size, min_size))
        image = image.convert("RGB")
        factor = min(image.size) // min_size
        return image.reduce(factor) if factor > 1 else image


class ImageFiles(Dataset):
    """(uint8 image tensor, label) pairs from a list of files; `read` turns a path into an RGB image."""

    def __init__(self, files: list[str], labels: list[int], transform, read):
        self.files, self.labels, self.transform, self.read = files, labels, transform, read

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int):
        return self.transform(self.read(self.files[index])), self.labels[index]

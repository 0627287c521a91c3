"""Image files (8 or 16 bits) -> RGB images at the size the model needs; the (image, label) dataset."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset
from torchvision.io import ImageReadMode, decode_jpeg, read_file

from genre_lightning.errors import UserError
from genre_lightning.tables import shown

# The largest image decoded, in pixels: PIL's own default (about 9459 x 9459). A real spectrogram has
# 2.9 million; a file claiming far more is corrupt or a decompression bomb (a 438 KB PNG can claim
# 20000 x 20000, 1.2 GB decoded). Set by data.max_image_pixels and predict.py's max_image_pixels.
MAX_PIXELS = 89_478_485
# PIL's complaints about a file: OSError (truncated, unreadable), SyntaxError (a broken PNG chunk),
# ValueError (a chunk too large to decompress)
DECODE_ERRORS = (OSError, SyntaxError, ValueError)
# PIL's modes of 16-bit greyscale (a 16-bit grey PNG opens as I;16, "I" is its 32-bit form). PIL's own
# conversion to RGB clips every value above 255 to white, so these are scaled to 8 bits by to_rgb.
SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")


def unreadable(path: str | os.PathLike, err: Exception) -> UserError:
    """The one line for a file that PIL or the JPEG decoder cannot read."""
    return UserError(f"{shown(path)}: cannot read the image ({err}); remove or re-export the file")


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
        raise unreadable(path, err) from None
    finally:
        Image.MAX_IMAGE_PIXELS = pil_limit
    width, height = image.size
    try:
        if width * height > max_pixels:
            raise UserError(
                f"{shown(path)}: {width}x{height} is {width * height:,} pixels, over the limit of "
                f"{max_pixels:,} (corrupt, or a decompression bomb); remove the file, or raise "
                "max_image_pixels if it is real"
            )
        yield image
    except DECODE_ERRORS as err:
        raise unreadable(path, err) from None
    except MemoryError:
        raise UserError(
            f"{shown(path)}: out of memory decoding the {width}x{height} image; "
            "remove the file or lower max_image_pixels"
        ) from None
    finally:
        image.close()


def load_image(
    path: str | os.PathLike,
    min_size: int | None = None,
    max_pixels: int = MAX_PIXELS,
    box: list[int] | None = None,
) -> Image.Image:
    """Decode an image to RGB, reduced by the largest factor that keeps its short side >= min_size; with
    ``box`` ([left, top, right, bottom] in the file's pixels, data.trim) only that part, reduced by the
    factor that keeps the box's short side >= min_size.

    JPEGs are decoded straight to 1/2, 1/4 or 1/8 scale from the DCT coefficients (libjpeg's draft
    mode), which skips most of the work: a 1984x1478 spectrogram that the model sees at 224 px
    decodes at 496x370 in a quarter of the time. Other formats are decoded in full, then box-reduced
    by a whole factor in the same way.
    """
    with open_image(path, max_pixels) as image:
        if min_size is None and box is None:
            return to_rgb(image)
        crop, factor = _reduction(image, min_size, box)
        image = to_rgb(image)
        if crop is not None:
            image = image.crop(crop)
        return image.reduce(factor) if factor > 1 else image


def _reduction(image: Image.Image, min_size: int | None, box: list[int] | None) -> tuple[tuple | None, int]:
    """Set the opened image's DCT scale (JPEG only); return ``box`` at that scale (None: the whole image)
    and the whole factor that then reduces it."""
    width, height = image.size
    if box is not None and list(box) == [0, 0, width, height]:
        box = None
    # draft keeps each side >= the size asked for, so a square bounds the short side, and sides in the
    # image's proportions bound a box's short side; a no-op but for JPEG
    if box is None:
        if min_size is not None:
            image.draft("RGB", (min_size, min_size))
        crop, cropped = None, min(image.size)
    else:
        left, top, right, bottom = box
        if min_size is not None:
            short = min(right - left, bottom - top)
            image.draft("RGB", (-(-min_size * width // short), -(-min_size * height // short)))
        scale_x, scale_y = image.size[0] / width, image.size[1] / height
        crop = (round(left * scale_x), round(top * scale_y), round(right * scale_x), round(bottom * scale_y))
        cropped = min(crop[2] - crop[0], crop[3] - crop[1])
    return crop, max(1, cropped // min_size) if min_size is not None else 1


def decoded_size(
    path: str | os.PathLike, min_size: int, max_pixels: int = MAX_PIXELS, box: list[int] | None = None
) -> tuple[int, int]:
    """The (height, width) of load_image(path, min_size, box=box), read from the file's header: nothing
    decoded."""
    with open_image(path, max_pixels) as image:
        return _reduced_size(image, min_size, box)


def _reduced_size(image: Image.Image, min_size: int, box: list[int] | None) -> tuple[int, int]:
    crop, factor = _reduction(image, min_size, box)
    width, height = image.size if crop is None else (crop[2] - crop[0], crop[3] - crop[1])
    return -(-height // factor), -(-width // factor)  # Image.reduce rounds up


def decode_jpegs(
    paths: list[str | os.PathLike],
    min_size: int | None,
    device,
    max_pixels: int = MAX_PIXELS,
    boxes: dict[str, list[int]] | None = None,
) -> list[torch.Tensor]:
    """JPEG files decoded together on ``device`` (nvJPEG on a GPU, batched) to uint8 3 x H x W, each cut to
    its box in ``boxes`` where it has one: at full size (``min_size`` None), or at the size load_image
    gives (the full decode averaged over pixel areas to it, where libjpeg scales the DCT).

    A file over ``max_pixels``, or one that cannot be read or decoded as a JPEG, is a UserError naming it."""
    boxes = boxes or {}
    sizes = []
    for path in paths:
        with open_image(path, max_pixels) as image:
            if min_size is not None:
                sizes.append(_reduced_size(image, min_size, boxes.get(path)))
    data = [read_file(str(path)) for path in paths]
    try:
        decoded = decode_jpeg(data, mode=ImageReadMode.RGB, device=device)
    except RuntimeError:
        _name_undecodable(paths, data, device)
        raise
    images = [crop_box(image, boxes.get(path)) for image, path in zip(decoded, paths)]
    if min_size is None:
        return images
    return [
        image
        if tuple(image.shape[-2:]) == size
        else F.interpolate(image[None].float(), size=size, mode="area")[0].round_().to(torch.uint8)
        for image, size in zip(images, sizes)
    ]


def _name_undecodable(paths: list[str | os.PathLike], data: list[torch.Tensor], device) -> None:
    """One corrupt file fails a batched decode without saying which: decode each alone, and name the first
    that fails."""
    for path, one in zip(paths, data):
        try:
            decode_jpeg(one, mode=ImageReadMode.RGB, device=device)
        except RuntimeError as err:
            raise unreadable(path, err) from None


def crop_box(image: torch.Tensor, box: list[int] | None) -> torch.Tensor:
    """A ... x H x W image cut to ``box`` ([left, top, right, bottom]; None: kept whole)."""
    if box is None:
        return image
    left, top, right, bottom = box
    return image[..., top:bottom, left:right]


def to_rgb(image: Image.Image) -> Image.Image:
    """The image as 8-bit RGB; 16-bit greyscale is scaled by the full 16-bit range, 65535 -> 255.

    The full range, not the image's own: PNG defines a 16-bit sample as a fraction of 65535 (a writer with
    fewer significant bits scales them up to it), so a 16-bit and an 8-bit export of one spectrogram give
    the same pixels. Stretching each image's own range would brighten quiet songs' spectrograms, and
    brightness is loudness to the model.
    """
    if image.mode not in SIXTEEN_BIT_MODES:
        return image.convert("RGB")
    levels = np.asarray(image).astype(np.float32).clip(0, 65535) / 257
    return Image.fromarray(np.rint(levels).astype(np.uint8), mode="L").convert("RGB")


class ImageFiles(Dataset):
    """(uint8 image tensor, label) pairs from a list of files; `read` turns a path into an RGB image."""

    def __init__(self, files: list[str], labels: list[int], transform, read):
        self.files, self.labels, self.transform, self.read = files, labels, transform, read

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int):
        return self.transform(self.read(self.files[index])), self.labels[index]

"""Crops: TimeCrop (spectrogram-aware, along time only), and the batched forms every preset's crops take on
the device.

A generic RandomResizedCrop changes the aspect and crops away frequency bands, so the same pixel row
means different frequencies from one sample to the next. These crops keep the whole frequency range
(the image is resized so its height is exactly ``height``) and move only along time.

The batched forms work on N x C x H x W uint8 batches whose images may be smaller than the batch tensor
(``sizes``, N x 2 of height, width: the rest is padding that repeats each image's last row and column).
Their random values are drawn per image as tensors from one generator, on the batch's device: no Python
call per image.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torchvision.ops import roi_align
from torchvision.transforms.v2 import functional as TF


def fit_height(image: torch.Tensor, height: int, min_width: int = 0) -> torch.Tensor:
    """uint8 ... x C x H x W resized to ``height`` high keeping its aspect, stretched to at least
    ``min_width`` wide; unchanged when it already has that size."""
    h, w = image.shape[-2:]
    new_w = max(min_width, round(w * height / h))
    if (h, w) == (height, new_w):
        return image
    return TF.resize(image, [height, new_w], antialias=True)


class TimeCrop(nn.Module):
    """uint8 C x H x W image (or N x C x H x W images of one size) -> ``height`` x ``width`` crops along
    time, the full frequency range kept.

    The image is first resized to ``height`` pixels high, keeping its aspect. ``width=None`` keeps the
    whole width (all the time there is; a ResNet pools over any width). train=True: one crop at a random
    time offset (a time shift). train=False: ``crops`` crops at evenly spaced offsets from the start to
    the end of the image; one crop is the centre crop, several are stacked as crops x C x height x width
    (N x crops x ... for a batch) for test-time augmentation (the model averages their logits). An image
    narrower than ``width`` after resizing is stretched to ``width``.
    """

    def __init__(self, height: int, width: int | None = None, train: bool = False, crops: int = 1):
        super().__init__()
        if crops < 1:
            raise ValueError(f"crops must be at least 1, got {crops}")
        if crops > 1 and width is None:
            raise ValueError(f"crops={crops} needs a crop width: test-time crops of the whole width are one")
        self.height, self.width, self.train_mode, self.crops = height, width, train, crops

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        image = fit_height(image, self.height, self.width or 0)
        new_w = image.shape[-1]
        width = new_w if self.width is None else self.width
        room = new_w - width
        if self.train_mode:
            starts = [int(torch.randint(room + 1, ()))]
        elif self.crops == 1:
            starts = [room // 2]
        else:
            starts = torch.linspace(0, room, self.crops).round().long().tolist()
        crops = [image[..., s : s + width] for s in starts]
        return crops[0] if self.crops == 1 else torch.stack(crops, dim=-4)

    def extra_repr(self) -> str:
        return f"height={self.height}, width={self.width}, train={self.train_mode}, crops={self.crops}"


def uniform(n: int, generator: torch.Generator, *shape: int) -> torch.Tensor:
    """n x shape floats in [0, 1) from ``generator``, on its device."""
    return torch.rand(n, *shape, generator=generator, device=generator.device)


def random_resized_boxes(
    sizes: torch.Tensor, scale: tuple[float, float], ratio: tuple[float, float], generator: torch.Generator
) -> torch.Tensor:
    """Per image, the box (x0, y0, x1, y1) RandomResizedCrop.get_params would draw for it: ten tries of
    an area share in ``scale`` and a log-uniform aspect in ``ratio``, the first that fits, else the
    whole image cut to the nearest aspect in ``ratio`` and centred."""
    n, tries = len(sizes), 10
    h, w = sizes[:, :1].double(), sizes[:, 1:].double()
    area = h * w * (scale[0] + (scale[1] - scale[0]) * uniform(n, generator, tries).double())
    low, high = math.log(ratio[0]), math.log(ratio[1])
    aspect = torch.exp(low + (high - low) * uniform(n, generator, tries).double())
    crop_w, crop_h = torch.sqrt(area * aspect).round(), torch.sqrt(area / aspect).round()
    fits = (crop_w > 0) & (crop_w <= w) & (crop_h > 0) & (crop_h <= h)
    first = fits.double().argmax(dim=1, keepdim=True)  # the first try that fits (0 when none does)
    crop_w, crop_h = crop_w.gather(1, first), crop_h.gather(1, first)
    top = (uniform(n, generator, 1).double() * (h - crop_h + 1)).floor()
    left = (uniform(n, generator, 1).double() * (w - crop_w + 1)).floor()
    # the fallback: the whole image, cut to the nearest allowed aspect
    in_ratio = w / h
    fall_w = torch.where(in_ratio > ratio[1], (h * ratio[1]).round(), w)
    fall_h = torch.where(in_ratio < ratio[0], (w / ratio[0]).round(), h)
    found = fits.any(dim=1, keepdim=True)
    crop_w, crop_h = torch.where(found, crop_w, fall_w), torch.where(found, crop_h, fall_h)
    top = torch.where(found, top, torch.div(h - crop_h, 2, rounding_mode="floor"))
    left = torch.where(found, left, torch.div(w - crop_w, 2, rounding_mode="floor"))
    return torch.cat([left, top, left + crop_w, top + crop_h], dim=1).float()


def crop_resize(images: torch.Tensor, boxes: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """uint8 N x C x H x W, one box (x0, y0, x1, y1, in pixels) per image -> uint8 N x C x size: each box
    resized to ``size``, bilinear, averaging ceil(box / size) samples per output pixel when it shrinks
    (roi_align's adaptive sampling: an antialiasing box filter where torchvision's resize has a triangle)."""
    index = torch.arange(len(images), device=images.device, dtype=boxes.dtype).unsqueeze(1)
    out = roi_align(images.float(), torch.cat([index, boxes], dim=1), size, 1.0, -1, aligned=True)
    return out.round_().clamp_(0, 255).to(torch.uint8)


def time_crop_starts(widths: torch.Tensor, width: int, generator: torch.Generator) -> torch.Tensor:
    """Per image of ``widths`` columns, a random start of a ``width`` wide crop, uniform over 0..room."""
    room = (widths - width).clamp(min=0)
    return (uniform(len(widths), generator) * (room + 1)).floor().long()


def column_slices(images: torch.Tensor, starts: torch.Tensor, width: int) -> torch.Tensor:
    """uint8 N x C x H x W -> N x C x H x ``width``: image i's columns starts[i] onwards."""
    n, c, h, _ = images.shape
    columns = starts.view(n, 1, 1, 1) + torch.arange(width, device=images.device).view(1, 1, 1, width)
    return images.gather(3, columns.expand(n, c, h, width))


def by_size(transform, images: torch.Tensor, groups: list[tuple[int, int, list[int]]]) -> torch.Tensor:
    """``transform`` (a deterministic per-image transform that takes batches of one size) on each group of
    images of one size, ``groups`` listing (height, width, positions in the batch); the results back in the
    batch's order."""
    if len(groups) == 1:
        h, w, _ = groups[0]
        return transform(images[..., :h, :w])
    parts, order = [], []
    for h, w, positions in groups:
        index = torch.tensor(positions, device=images.device)
        parts.append(transform(images[index][..., :h, :w]))
        order += positions
    out = torch.cat(parts)
    return out[torch.argsort(torch.tensor(order, device=images.device))]


def batches_of_one_size(keys: list, batch_size: int) -> list[list[int]]:
    """Positions 0..len(keys)-1 in order, cut into batches of at most ``batch_size`` whose ``keys`` (an
    image's size) are all equal: whole images of different sizes are evaluated exactly, in their own batches,
    and in the order of ``keys`` (no padding, which would change what the network pools over)."""
    batches: list[list[int]] = []
    for position, key in enumerate(keys):
        if batches and len(batches[-1]) < batch_size and keys[batches[-1][0]] == key:
            batches[-1].append(position)
        else:
            batches.append([position])
    return batches

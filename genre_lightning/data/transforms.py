"""Spectrogram-aware image transforms: the vertical axis is frequency, the horizontal axis is time.

A generic RandomResizedCrop changes the aspect and crops away frequency bands, so the same pixel row
means different frequencies from one sample to the next. These crops keep the whole frequency range
(the image is resized so its height is exactly ``height``) and move only along time.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.transforms.v2 import functional as TF


class TimeCrop(nn.Module):
    """uint8 C x H x W image -> ``height`` x ``width`` crops along time, the full frequency range kept.

    The image is first resized to ``height`` pixels high, keeping its aspect. ``width=None`` keeps the
    whole width (all the time there is; a ResNet pools over any width). train=True: one crop at a random
    time offset (a time shift). train=False: ``crops`` crops at evenly spaced offsets from the start to
    the end of the image; one crop is the centre crop, several are stacked as crops x C x height x width
    for test-time augmentation (the model averages their logits). An image narrower than ``width`` after
    resizing is stretched to ``width``.
    """

    def __init__(self, height: int, width: int | None = None, train: bool = False, crops: int = 1):
        super().__init__()
        if crops < 1:
            raise ValueError(f"crops must be at least 1, got {crops}")
        if crops > 1 and width is None:
            raise ValueError(f"crops={crops} needs a crop width: test-time crops of the whole width are one")
        self.height, self.width, self.train_mode, self.crops = height, width, train, crops

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        _, h, w = image.shape
        new_w = round(w * self.height / h)
        width = new_w if self.width is None else self.width
        new_w = max(width, new_w)
        if (h, w) != (self.height, new_w):
            image = TF.resize(image, [self.height, new_w], antialias=True)
        room = new_w - width
        if self.train_mode:
            starts = [int(torch.randint(room + 1, ()))]
        elif self.crops == 1:
            starts = [room // 2]
        else:
            starts = torch.linspace(0, room, self.crops).round().long().tolist()
        crops = [image[:, :, s : s + width] for s in starts]
        return crops[0] if self.crops == 1 else torch.stack(crops)

    def extra_repr(self) -> str:
        return f"height={self.height}, width={self.width}, train={self.train_mode}, crops={self.crops}"

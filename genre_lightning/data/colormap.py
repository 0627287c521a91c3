"""Colormap-aware input: spectrogram pixels mapped back to the magnitude a colormap drew them from.

The same spectrogram drawn in magma, viridis or greys is three different RGB pictures; mapped back to
the one scalar per pixel they encode, it is one picture again, so a model trains and predicts alike on
images from tools with different colormaps (and learns no colour it does not need).
"""

from __future__ import annotations

import functools

import matplotlib
import numpy as np
import torch
from torch import nn

# RGB is looked up on a 32 x 32 x 32 grid: colormap neighbours differ by more than 8 levels of a channel
_STEP = 8
_SHIFT = 3  # log2(_STEP)


@functools.cache
def _lookup(cmap: str) -> torch.Tensor:
    """For each cell of the RGB grid, the index (0-255) of the colormap's nearest colour."""
    try:
        colors = matplotlib.colormaps[cmap](np.linspace(0, 1, 256))[:, :3] * 255
    except KeyError:
        raise ValueError(
            f"unknown colormap {cmap!r}; use a matplotlib name such as magma or viridis"
        ) from None
    centers = np.arange(_STEP // 2, 256, _STEP, dtype=np.float32)
    grid = np.stack(np.meshgrid(centers, centers, centers, indexing="ij"), axis=-1).reshape(-1, 1, 3)
    nearest = ((grid - colors[None].astype(np.float32)) ** 2).sum(axis=-1).argmin(axis=1)
    return torch.from_numpy(nearest.astype(np.uint8))


class ColormapToMagnitude(nn.Module):
    """uint8 RGB 3 x H x W (or N x 3 x H x W) drawn with colormap ``cmap`` -> uint8 1 x H x W magnitude
    (0 = the colormap's low end, 255 = its high end). ``cmap=None`` passes the image through unchanged."""

    def __init__(self, cmap: str | None = None):
        super().__init__()
        self.cmap = cmap
        if cmap is not None:
            _lookup(cmap)  # an unknown name fails here, when the config is built

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if self.cmap is None:
            return image
        # the grid cell of each pixel, (r // 8) * 32 * 32 + (g // 8) * 32 + b // 8, in int32 bit operations:
        # this runs per image at full decode size
        cells = image.int() >> _SHIFT
        red, green, blue = cells.unbind(dim=-3)
        index = (red << 2 * (8 - _SHIFT)) | (green << (8 - _SHIFT)) | blue
        return _lookup(self.cmap).to(image.device)[index].unsqueeze(-3)

    def extra_repr(self) -> str:
        return f"cmap={self.cmap}"

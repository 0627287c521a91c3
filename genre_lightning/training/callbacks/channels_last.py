"""NHWC convolution weights for training, the layout oneDNN (CPU) and cuDNN (tensor cores) run fastest."""

from __future__ import annotations

import lightning.pytorch as pl
import torch


class ChannelsLast(pl.Callback):
    """Keeps convolution weights in NHWC.

    The uint8 input batches need no conversion: a convolution whose weight is channels_last produces
    channels_last output, so the layout carries through the network from the first layer.
    """

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        pl_module.to(memory_format=torch.channels_last)

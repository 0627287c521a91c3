"""Batch-level augmentation on the training device: SpecAugment-style masks and mixup.

The DataModule applies ``data.batch_augment`` to every training batch after it reaches the device
(``on_after_batch_transfer``), so the masks and mixes cost a few tensor ops on the GPU instead of
per-image work in the loader workers. Each augmentation maps (images, targets, number of classes) ->
(images, targets), where targets are class indices (N) or, once mixup has mixed them, class
probabilities (N x classes).
"""

from __future__ import annotations

import torch


def _masks(count: int, max_width: int, size: int, n: int, device) -> torch.Tensor:
    """N x size booleans: ``count`` random bands of 0..max_width positions each, per sample."""
    width = torch.randint(0, max_width + 1, (n, count, 1), device=device)
    start = (torch.rand(n, count, 1, device=device) * (size - width + 1)).long()
    positions = torch.arange(size, device=device).view(1, 1, size)
    return ((positions >= start) & (positions < start + width)).any(dim=1)


class SpecAugment:
    """Masks ``freq_masks`` bands of up to ``freq_width`` rows and ``time_masks`` slices of up to
    ``time_width`` columns in every image (Park et al., 2019), filled with the image's mean colour,
    so a mask reads as 'no information' rather than as a loud or silent band."""

    def __init__(self, freq_masks: int = 2, freq_width: int = 16, time_masks: int = 2, time_width: int = 16):
        for name, value in (
            ("freq_masks", freq_masks),
            ("freq_width", freq_width),
            ("time_masks", time_masks),
            ("time_width", time_width),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name}={value!r}: must be a whole number >= 0")
        self.freq_masks, self.freq_width = freq_masks, freq_width
        self.time_masks, self.time_width = time_masks, time_width

    def __call__(self, images: torch.Tensor, targets: torch.Tensor, num_classes: int):
        n, _, h, w = images.shape
        rows = _masks(self.freq_masks, min(self.freq_width, h), h, n, images.device).view(n, 1, h, 1)
        cols = _masks(self.time_masks, min(self.time_width, w), w, n, images.device).view(n, 1, 1, w)
        fill = images.float().mean(dim=(2, 3), keepdim=True).to(images.dtype)
        return torch.where(rows | cols, fill, images), targets


class Mixup:
    """Mixes each image with another of the batch, weight lam ~ Beta(alpha, alpha), and their targets
    the same way (Zhang et al., 2018); with probability ``prob`` per batch. ``time_cut=True`` pastes a
    time slice of the other image instead (CutMix along time only), lam being the kept share."""

    def __init__(self, alpha: float = 0.3, prob: float = 1.0, time_cut: bool = False):
        if not (isinstance(alpha, (int, float)) and alpha > 0):
            raise ValueError(f"alpha={alpha!r}: the Beta distribution's parameter must be > 0")
        if not (isinstance(prob, (int, float)) and 0 <= prob <= 1):
            raise ValueError(f"prob={prob!r}: a probability, 0 to 1")
        self.alpha, self.prob, self.time_cut = alpha, prob, time_cut

    def __call__(self, images: torch.Tensor, targets: torch.Tensor, num_classes: int):
        if targets.ndim == 1:
            targets = torch.nn.functional.one_hot(targets, num_classes).float()
        if torch.rand(()) >= self.prob:
            return images, targets
        lam = float(torch.distributions.Beta(self.alpha, self.alpha).sample())
        order = torch.randperm(len(images), device=images.device)
        if self.time_cut:
            w = images.shape[-1]
            cut = round(w * (1 - lam))
            start = int(torch.randint(w - cut + 1, ()))
            images = images.clone()
            images[..., start : start + cut] = images[order, ..., start : start + cut]
            lam = 1 - cut / w
        else:
            images = lam * images.float() + (1 - lam) * images[order].float()
        return images, lam * targets + (1 - lam) * targets[order]

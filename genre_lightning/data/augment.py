"""Batch-level augmentation on the training device: SpecAugment-style masks, mixup and CutMix.

The DataModule applies ``data.batch_augment`` to every training batch after it reaches the device
(``on_after_batch_transfer``), so the masks and mixes cost a few tensor ops on the GPU instead of
per-image work. Each augmentation maps (images, targets, number of classes) ->
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


class _Mix:
    """Mixes each image of the batch with another of it, in proportion lam ~ Beta(alpha, alpha) drawn once
    per batch, and their targets in the proportion the images ended with; with probability ``prob`` per
    batch. The draws that size the mix are made on the host's generator, so no step waits on the device."""

    def __init__(self, alpha: float, prob: float):
        if not (isinstance(alpha, (int, float)) and alpha > 0):
            raise ValueError(f"alpha={alpha!r}: the Beta distribution's parameter must be > 0")
        if not (isinstance(prob, (int, float)) and 0 <= prob <= 1):
            raise ValueError(f"prob={prob!r}: a probability, 0 to 1")
        self.alpha, self.prob = alpha, prob

    def __call__(self, images: torch.Tensor, targets: torch.Tensor, num_classes: int):
        if targets.ndim == 1:
            targets = torch.nn.functional.one_hot(targets, num_classes).float()
        if torch.rand(()) >= self.prob:
            return images, targets
        lam = float(torch.distributions.Beta(self.alpha, self.alpha).sample())
        order = torch.randperm(len(images), device=images.device)
        images, lam = self.mix(images, images[order], lam)
        return images, lam * targets + (1 - lam) * targets[order]

    def mix(self, images: torch.Tensor, others: torch.Tensor, lam: float) -> tuple[torch.Tensor, float]:
        """The mixed images, and the share of each that is still its own."""
        raise NotImplementedError


class Mixup(_Mix):
    """Each image becomes lam * itself + (1 - lam) * another (Zhang et al., 2018)."""

    def __init__(self, alpha: float = 0.3, prob: float = 1.0):
        super().__init__(alpha, prob)

    def mix(self, images, others, lam):
        return lam * images.float() + (1 - lam) * others.float(), lam


class CutMix(_Mix):
    """A box of another image is pasted into each image, at the same place (Yun et al., 2019): a share
    1 - lam of the area, centred at random and cut at the edges; the targets mix by the pasted area.
    ``time_only=True`` pastes a slice of time spanning every frequency (1 - lam of the width)."""

    def __init__(self, alpha: float = 1.0, prob: float = 1.0, time_only: bool = False):
        super().__init__(alpha, prob)
        self.time_only = time_only

    def mix(self, images, others, lam):
        h, w = images.shape[-2:]
        side = 1 - lam if self.time_only else (1 - lam) ** 0.5
        cut_h, cut_w = (h if self.time_only else round(h * side)), round(w * side)
        y, x = int(torch.randint(h, ())), int(torch.randint(w, ()))
        top, bottom = max(y - cut_h // 2, 0), min(y + cut_h - cut_h // 2, h)
        left, right = max(x - cut_w // 2, 0), min(x + cut_w - cut_w // 2, w)
        if self.time_only:
            top, bottom = 0, h
        images = images.clone()
        images[..., top:bottom, left:right] = others[..., top:bottom, left:right]
        return images, 1 - (bottom - top) * (right - left) / (h * w)

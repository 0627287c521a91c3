"""The bundled files' int8 weights: what lets a 5-network ensemble fit the repository's 15 MB.

Every conv and linear weight but the network's first and last is stored as int8 with one float32 scale per
output channel (symmetric: the channel's largest magnitude is 127), the rest (the stem that reads the
pixels, the head that writes the logits, BatchNorm, biases, the temperature) in fp16. The first and last
stay fp16 because their rounding reaches the probabilities most directly: measured on the bundled
ensemble's 798 test images, int8 everywhere moved a probability by up to 0.026 and changed 15 answers;
keeping these two moved one by at most 0.005 and changed 3 near-ties, against fp32 (docs/model_card.md).

A leaf module (torch only): prediction writes and reads these files, and the models layer reads the
bundled body from them.
"""

from __future__ import annotations

import torch

# the checkpoint key that holds the scales ({weight name: float32 tensor of its output channels})
SCALES = "int8_scales"
LEVELS = 127


def quantize(state_dict: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """The state dict stored small: int8 weights (all matrices and kernels but the first and last) and fp16
    for the other floating tensors, and the int8 weights' per-output-channel scales."""
    matrices = [
        name for name, tensor in state_dict.items() if tensor.is_floating_point() and tensor.dim() > 1
    ]
    stored, scales = {}, {}
    for name, tensor in state_dict.items():
        if name in matrices[1:-1]:
            weight = tensor.float()
            peak = weight.abs().amax(dim=tuple(range(1, weight.dim())))
            scales[name] = torch.where(peak > 0, peak / LEVELS, torch.ones_like(peak))
            stored[name] = (
                (weight / _per_channel(scales[name], weight)).round().clamp(-LEVELS, LEVELS).to(torch.int8)
            )
        else:
            stored[name] = tensor.half() if tensor.is_floating_point() else tensor
    return stored, scales


def dequantize(state_dict: dict[str, torch.Tensor], scales: object) -> dict[str, torch.Tensor]:
    """The float32 weights of a quantized state dict (the other tensors as they are); ValueError, saying
    what is wrong, for scales that do not fit the int8 weights one to one."""
    if not isinstance(scales, dict):
        raise ValueError(f"its {SCALES} is not a mapping")
    int8 = {name for name, tensor in state_dict.items() if tensor.dtype == torch.int8}
    if set(scales) != int8:
        odd = sorted(set(scales) ^ int8)[0]
        raise ValueError(f"its int8 weights and their scales do not pair up (at {odd})")
    weights = dict(state_dict)
    for name in int8:
        scale, tensor = scales[name], state_dict[name]
        if (
            not isinstance(scale, torch.Tensor)
            or scale.dtype != torch.float32
            or scale.shape != tensor.shape[:1]
            or not (torch.isfinite(scale) & (scale > 0)).all()
        ):
            raise ValueError(f"the scale of {name} is not one positive float32 per output channel")
        weights[name] = tensor.float() * _per_channel(scale, tensor)
    return weights


def _per_channel(scale: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """The output channels' scales shaped to broadcast over the weight."""
    return scale.view(-1, *[1] * (weight.dim() - 1))

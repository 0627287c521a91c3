"""Learning-rate schedules laid out over a whole run's optimizer steps (model.scheduler_interval=step)."""

from __future__ import annotations

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


def warmup_cosine(
    optimizer: Optimizer, total_steps: int, warmup_fraction: float = 0.05, final_factor: float = 0.0
) -> LambdaLR:
    """Linear warmup from ~0 to the optimizer's lr over ``warmup_fraction`` of the steps, then a cosine
    decay to ``final_factor`` x lr at the last step. From scratch, the warmup keeps the first large
    steps from wrecking BatchNorm statistics, and ending near zero lets the last epoch's weights be
    the ones to keep."""
    if not 0 <= warmup_fraction < 1:
        raise ValueError(f"warmup_fraction must be in [0, 1), got {warmup_fraction}")
    warmup = max(1, round(total_steps * warmup_fraction))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return final_factor + (1 - final_factor) * 0.5 * (1 + math.cos(math.pi * progress))

    return LambdaLR(optimizer, factor)

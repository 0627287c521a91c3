"""Probabilities that mean what they say: temperature scaling (Guo et al., 2017), used only where it helps."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from genre_lightning.metrics import scores

# The temperatures a fit may reach: a factor of ten either way. Fitted ones lie near 1 (Guo et al.: 1 to 3;
# our FMA folds: 1.03 to 1.20); beyond ten the fit no longer corrects the model's confidence but replaces its
# probabilities with near-uniform (or near one-hot) ones, which says more about a small validation set or a
# model at chance than about the model (a 2-epoch demo run's folds asked for 25 and 60).
TEMPERATURE_RANGE = (0.1, 10.0)


def fit_temperature(
    logits: torch.Tensor,
    labels: torch.Tensor,
    steps: int = 100,
    bounds: tuple[float, float] = TEMPERATURE_RANGE,
) -> float:
    """The T within ``bounds`` that minimises the negative log-likelihood of softmax(logits / T) on
    (logits, labels).

    One parameter, so it cannot change which class wins: accuracy stays, confidence is corrected. The NLL is
    convex in 1/T, so the unbounded minimum clamped to ``bounds`` is the minimum within them.
    """
    # clones: the logits usually come from inference mode, whose tensors autograd cannot record
    logits, labels = logits.detach().float().clone(), labels.detach().clone()
    log_t = torch.zeros((), requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.1, max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(logits / log_t.exp(), labels)
        loss.backward()
        return loss

    optimizer.step(closure)
    low, high = bounds
    return min(max(float(log_t.detach().exp()), low), high)


def checked_temperature(
    logits: torch.Tensor, labels: torch.Tensor, bounds: tuple[float, float] = TEMPERATURE_RANGE
) -> tuple[float, str | None]:
    """The temperature to use, fitted on (logits, labels), and why it is doubtful (None when it is not).

    The fit is used where it lowers both the NLL and the expected calibration error of (logits, labels),
    else T = 1: the model's own probabilities, no correction claimed. A fit at one of ``bounds`` is used,
    but said: the set asks for more, which its size or a model at chance explains better than a real need.
    """
    if not torch.isfinite(logits).all():
        return 1.0, "the validation logits are not all finite (a model that diverged?); keeping T=1"
    fitted = fit_temperature(logits, labels, bounds=bounds)
    raw = scores(logits.softmax(dim=-1), labels)
    calibrated = scores((logits / fitted).softmax(dim=-1), labels)
    on = f"on {len(labels)} validation images at {raw['acc']:.0%} accuracy"
    if not (calibrated["nll"] < raw["nll"] and calibrated["ece"] < raw["ece"]):
        return 1.0, (
            f"T={fitted:.3g} would not lower the calibration error (ECE {raw['ece']:.3f} -> "
            f"{calibrated['ece']:.3f}, NLL {raw['nll']:.3f} -> {calibrated['nll']:.3f} {on}); keeping T=1"
        )
    if fitted in bounds:
        return fitted, (
            f"the fitted temperature reached its bound of {fitted:g} {on}: the set does not pin it down "
            f"(too small, or a model near chance or always right); using {fitted:g}"
        )
    return fitted, None

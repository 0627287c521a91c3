"""When the page calls an answer uncertain: the top genre is less likely than not, or the runner-up is close
behind it (the values are in configs/app.yaml, with why)."""

from __future__ import annotations

from dataclasses import dataclass

from genre_lightning.errors import UserError


@dataclass(frozen=True)
class Uncertainty:
    # uncertain when the top genre's probability is below this
    min_probability: float = 0.5
    # uncertain when the top genre leads the runner-up by less than this (probability, not points)
    min_margin: float = 0.1

    def __post_init__(self):
        for name in ("min_probability", "min_margin"):
            if not 0 <= getattr(self, name) <= 1:
                raise UserError(f"uncertain.{name}={getattr(self, name)}: must be between 0 and 1")

    def line(self, ranked: list[tuple[str, float]]) -> str:
        """'Uncertain: A 27.3% vs B 25.7%' for the two first (genre, probability) of ``ranked`` when they
        are a near-tie; '' otherwise (or for a model of one genre)."""
        if len(ranked) < 2:
            return ""
        (first, p), (second, q) = ranked[:2]
        if p >= self.min_probability and p - q >= self.min_margin:
            return ""
        return f"Uncertain: {first} {p:.1%} vs {second} {q:.1%}"

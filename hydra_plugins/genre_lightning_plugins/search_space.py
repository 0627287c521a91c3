"""hydra.sweeper.params and the command line's sweep values, in hydra-optuna-sweeper's syntax, as Optuna's
distributions:

    key: interval(a, b)             a float drawn from [a, b] (an int when a and b are ints)
    key: tag(log, interval(a, b))   the same, uniform in log(value)
    key: choice(x, y, ...)          one of the values
    key: range(start, stop, step)   one of the values Hydra's range(...) gives: start, start + step, ...
                                    below stop (shuffle(range(...)): as choice)
    key: value                      held at value (a value given on the command line holds that key)
"""

from __future__ import annotations

from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, Transformer

from genre_lightning.errors import UserError

SYNTAX = "interval(a, b), tag(log, interval(a, b)), choice(x, y, ...) or range(start, stop, step)"


def distribution(override: Override) -> Any:
    """The override's Optuna distribution, or its value (a string) when it sweeps nothing."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if not override.is_sweep_override():
        return override.get_value_element_as_str()
    key, value = override.get_key_element(), override.value()
    if override.is_choice_sweep() or (override.is_range_sweep() and value.shuffle):
        return CategoricalDistribution(list(override.sweep_iterator(transformer=Transformer.encode)))
    if override.is_range_sweep():
        values = list(override.sweep_iterator())
        if not values:
            raise UserError(
                f"{key}=range({value.start}, {value.stop}, {value.step}) holds no value; fix {key}"
            )
        last = values[-1]
        if all(isinstance(v, int) for v in (value.start, value.stop, value.step)):
            return IntDistribution(value.start, last, step=value.step)
        return FloatDistribution(value.start, last, step=value.step)
    if override.is_interval_sweep():
        log = "log" in value.tags
        if isinstance(value.start, int) and isinstance(value.end, int):
            return IntDistribution(value.start, value.end, log=log)
        return FloatDistribution(value.start, value.end, log=log)
    raise UserError(f"{key}: Optuna samples {SYNTAX}; fix {key}")


def parse(arguments: list[str]) -> tuple[dict[str, Any], dict[str, str]]:
    """``key=value`` strings (hydra.sweeper.params first, then the command line's, which win) as the
    distributions to sample and the values held fixed."""
    space: dict[str, Any] = {}
    fixed: dict[str, str] = {}
    for override in OverridesParser.create().parse_overrides(arguments):
        key = override.get_key_element()
        try:
            value = distribution(override)
        except ValueError as err:  # Optuna's own check of the bounds (low > high, a log scale through 0)
            raise UserError(f"{key}: {err}; fix {key}") from None
        space.pop(key, None)
        fixed.pop(key, None)
        (fixed if isinstance(value, str) else space)[key] = value
    return space, fixed

"""Shared helpers of the built-in rewards: TRL's calling convention and safe values."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from vlmr1_cli.errors import UserError
from vlmr1_cli.parsing import completion_text

RewardFn = Callable[..., list[float]]


def unit(value: Any) -> float:
    """A finite float in [0, 1]: NaN and errors give 0, the rest is clamped."""
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError):
        return 0.0
    if not math.isfinite(v) or v <= 0.0:
        return 0.0
    return 1.0 if v >= 1.0 else v


def texts(completions: Sequence[Any]) -> list[str]:
    return [completion_text(c) for c in completions]


def need_solution(name: str, completions: Sequence[Any], solution: Any) -> Sequence[Any]:
    """The solution column, checked against the completions (a config error otherwise)."""
    if solution is None:
        raise UserError(f"reward '{name}' needs a 'solution' column in the dataset")
    if isinstance(solution, (str, bytes)) or not hasattr(solution, "__len__"):
        raise UserError(f"reward '{name}': 'solution' must be a list with one item per completion")
    if len(solution) != len(completions):
        raise UserError(
            f"reward '{name}': {len(completions)} completions but {len(solution)} solutions"
        )
    return solution


def named(fn: RewardFn, name: str, doc: str | None = None) -> RewardFn:
    """Give a reward function the name TRL logs it under."""
    fn.__name__ = name
    fn.__qualname__ = name
    if doc:
        fn.__doc__ = doc
    return fn

"""Reward registry: built-in names, user rewards as `module.path:function`, options."""

from __future__ import annotations

import difflib
import functools
import importlib
from typing import Any

from vlmr1_cli.errors import UserError
from vlmr1_cli.rewards._common import RewardFn

# name -> (module, factory). Factories take keyword options and return a TRL reward.
_BUILTINS: dict[str, tuple[str, str]] = {
    "rec_iou": ("vlmr1_cli.rewards.rec", "make_rec_iou"),
    "rec_format": ("vlmr1_cli.rewards.format", "make_rec_format"),
    "ovd_format": ("vlmr1_cli.rewards.format", "make_ovd_format"),
    "od_length": ("vlmr1_cli.rewards.ovd", "make_od_length"),
    "od_ap": ("vlmr1_cli.rewards.ovd", "make_od_ap"),
    "od_ap50": ("vlmr1_cli.rewards.ovd", "make_od_ap50"),
    "weighted_sum": ("vlmr1_cli.rewards.ovd", "make_weighted_sum"),
}
REWARD_NAMES: tuple[str, ...] = tuple(_BUILTINS)


def _user_reward(spec: str, options: dict[str, Any]) -> RewardFn:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise UserError(f"reward '{spec}': a user reward is written 'module.path:function'")
    try:
        module = importlib.import_module(module_name)
    except Exception as e:  # noqa: BLE001 - any import failure is the user's module
        raise UserError(f"reward '{spec}': cannot import module '{module_name}': {e}") from None
    fn = module
    for part in attr.split("."):
        fn = getattr(fn, part, None)
        if fn is None:
            raise UserError(f"reward '{spec}': module '{module_name}' has no attribute '{attr}'")
    if not callable(fn):
        raise UserError(f"reward '{spec}': '{attr}' is not callable")
    if options:
        wrapped = functools.partial(fn, **options)
        functools.update_wrapper(wrapped, fn)
        return wrapped  # type: ignore[return-value]
    return fn  # type: ignore[return-value]


def get_reward(name_or_spec: str, **options: Any) -> RewardFn:
    """The reward callable for a built-in name or a `module.path:function` spec.

    Built-ins have TRL's signature `f(completions, solution, **kwargs) -> list[float]`.
    `options` go to the built-in's factory (e.g. `get_reward("ovd_format", strict=True)`),
    or are bound as keyword arguments of a user reward. Unknown names and bad options raise
    `UserError` naming the closest valid choices.
    """
    if not isinstance(name_or_spec, str) or not name_or_spec.strip():
        raise UserError(f"reward name must be a non-empty string, got {name_or_spec!r}")
    name = name_or_spec.strip()
    if ":" in name:
        return _user_reward(name, options)
    if name not in _BUILTINS:
        close = difflib.get_close_matches(name, REWARD_NAMES, n=3, cutoff=0.5)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise UserError(
            f"unknown reward '{name}'{hint} (built-in: {', '.join(REWARD_NAMES)}; "
            "or a user reward as 'module.path:function')"
        )
    module_name, factory_name = _BUILTINS[name]
    factory = getattr(importlib.import_module(module_name), factory_name)
    try:
        return factory(**options)
    except TypeError as e:
        raise UserError(f"reward '{name}': bad option ({e})") from None
    except ValueError as e:
        raise UserError(f"reward '{name}': {e}") from None

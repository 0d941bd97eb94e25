"""Reward registry: built-in names, user rewards as `module.path:function`, rewards of
installed plug-ins by name (entry-point group `vlmr1.rewards`), options."""

from __future__ import annotations

import difflib
import functools
import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from vlmr1_cli.errors import UserError
from vlmr1_cli.rewards._common import RewardFn

if TYPE_CHECKING:
    from vlmr1_cli.plugins import Plugin

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
    except (Exception, SystemExit) as e:
        # SystemExit too (a module that calls sys.exit at import must not end vlmr1 silently);
        # KeyboardInterrupt still interrupts
        why = f"it called sys.exit({e.code!r})" if isinstance(e, SystemExit) else str(e)
        raise UserError(f"reward '{spec}': cannot import module '{module_name}': {why}") from None
    fn: object = module
    for part in attr.split("."):
        fn = getattr(fn, part, None)
        if fn is None:
            raise UserError(f"reward '{spec}': module '{module_name}' has no attribute '{attr}'")
    return _bind(fn, options, f"reward '{spec}': '{attr}'")


def _bind(fn: object, options: dict[str, Any], what: str) -> RewardFn:
    """A user or plug-in reward with its recipe `options` bound as keyword arguments."""
    if not callable(fn):
        raise UserError(f"{what} is not callable")
    _check_signature(fn, options, what)
    if options:
        wrapped = functools.partial(fn, **options)
        functools.update_wrapper(wrapped, fn)
        return cast(RewardFn, wrapped)
    return cast(RewardFn, fn)


def _check_signature(fn: Callable[..., Any], options: dict[str, Any], what: str) -> None:
    """A reward is called as `fn(completions, solution, **kwargs)` (TRL adds prompts,
    completion_ids and the dataset's columns as keywords): one that cannot take that call is
    refused now, naming it, not at the first batch after the model has loaded."""
    import inspect

    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return  # no introspectable signature (a C callable): its first call will tell
    takes_kwargs = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
    try:
        sig.bind([], [], **options)
    except TypeError as e:
        problem: str | None = str(e)
    else:
        problem = None if takes_kwargs else "no **kwargs"
    if problem:
        raise UserError(
            f"{what} takes {sig}, but a reward is called as "
            f"f(completions, solution, **kwargs) ({problem})"
        )


def plugin_rewards() -> dict[str, Plugin]:
    """The rewards installed packages declare (name -> `vlmr1_cli.plugins.Plugin`, not yet
    imported). A plug-in cannot take a built-in's name: it is left out with a note."""
    from vlmr1_cli import plugins

    found = plugins.plugins(plugins.REWARDS)
    for name in sorted(set(found) & set(_BUILTINS)):
        plugins.warn(f"{found[name].describe()}: '{name}' is a built-in reward; left out")
    return {name: p for name, p in found.items() if name not in _BUILTINS}


def get_reward(name_or_spec: str, **options: Any) -> RewardFn:
    """The reward callable for a built-in name, the name of an installed plug-in's reward
    (entry-point group `vlmr1.rewards`) or a `module.path:function` spec.

    Built-ins have TRL's signature `f(completions, solution, **kwargs) -> list[float]`.
    `options` go to the built-in's factory (e.g. `get_reward("ovd_format", strict=True)`),
    or are bound as keyword arguments of a user or plug-in reward. Unknown names and bad options raise
    `UserError` naming the closest valid choices.
    """
    if not isinstance(name_or_spec, str) or not name_or_spec.strip():
        raise UserError(f"reward name must be a non-empty string, got {name_or_spec!r}")
    name = name_or_spec.strip()
    if ":" in name:
        return _user_reward(name, options)
    if name not in _BUILTINS:
        installed = plugin_rewards()
        if name in installed:
            plugin = installed[name]
            return _bind(plugin.load(), options, f"reward '{name}': {plugin.describe()}")
        close = difflib.get_close_matches(name, (*REWARD_NAMES, *installed), n=3, cutoff=0.5)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        extra = f"; installed plug-ins: {', '.join(sorted(installed))}" if installed else ""
        raise UserError(
            f"unknown reward '{name}'{hint} (built-in: {', '.join(REWARD_NAMES)}{extra}; "
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

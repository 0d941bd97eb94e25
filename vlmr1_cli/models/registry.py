"""Which family serves a checkpoint: looked up by `config.model_type`.

Built-in families register themselves when their module is imported. Code running in-process
adds one with `register_family(MyFamily)`; an installed package adds one through the entry-point
group `vlmr1.model_families` (`name = "module:Class"`), loaded only when a `model_type` or
family name is not built in, or when every family is listed (`vlmr1_cli.plugins`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TypeVar

from vlmr1_cli.errors import UserError
from vlmr1_cli.models.base import ModelFamily
from vlmr1_cli.models.qwen2_5_vl import Qwen25VL

_FAMILIES: dict[str, ModelFamily] = {}
_Family = TypeVar("_Family", bound="ModelFamily | type[ModelFamily]")
_PLUGIN_FAMILIES: dict[str, ModelFamily] | None = None  # read on first need
_PLUGIN_PROBLEMS: list[str] = []  # one line per broken plug-in, for "not supported" errors


def _instance(family: object, what: str) -> ModelFamily:
    """A usable family from a `ModelFamily` subclass or instance; `PluginError`/`UserError`
    (worded with `what`) for anything else, or for a family that misses what every family sets."""
    fam = family() if isinstance(family, type) and issubclass(family, ModelFamily) else family
    if not isinstance(fam, ModelFamily):
        shown = getattr(family, "__qualname__", None) or repr(family)[:80]
        raise UserError(f"{what}: '{shown}' is not a ModelFamily subclass")
    types = fam.model_types
    if not isinstance(fam.name, str) or not fam.name:
        raise UserError(f"{what}: {type(fam).__name__} sets no 'name'")
    if (
        not isinstance(types, tuple)
        or not types
        or not all(isinstance(t, str) and t for t in types)
    ):
        raise UserError(
            f"{what}: {type(fam).__name__}.model_types must be a non-empty tuple of "
            f"config.model_type strings, got {types!r}"
        )
    if fam.frame not in ("abs", "rel"):
        raise UserError(
            f"{what}: {type(fam).__name__}.frame must be 'abs' or 'rel', got {fam.frame!r}"
        )
    if type(fam).pixel_limits is ModelFamily.pixel_limits:
        raise UserError(f"{what}: {type(fam).__name__} defines no pixel_limits()")
    return fam


def _clash(fam: ModelFamily, taken: dict[str, ModelFamily]) -> str | None:
    """Why `fam` cannot join the families `taken` (a name or model_type served by another)."""
    other = taken.get(fam.name)
    if other is not None and type(other) is not type(fam):
        return f"family name '{fam.name}' is taken by {type(other).__name__}"
    for t in fam.model_types:
        for name, served in taken.items():
            if name != fam.name and t in served.model_types:
                return f"model_type '{t}' is served by the family '{name}'"
    return None


def register_family(family: _Family) -> _Family:
    """Add a family (a `ModelFamily` subclass, or an instance) and return it unchanged, so it
    also serves as a class decorator. A family from outside vlmr1 may not take the name or a
    `model_type` of one already registered (`UserError`)."""
    fam = _instance(family, "register_family")
    if not type(fam).__module__.startswith("vlmr1_cli."):
        _load_optional_families()  # so a clash with any built-in is seen
        problem = _clash(fam, {**_FAMILIES, **(_PLUGIN_FAMILIES or {})})
        if problem:
            raise UserError(f"register_family({type(fam).__name__}): {problem}")
    _FAMILIES[fam.name] = fam
    return family


register_family(Qwen25VL())


def _load_optional_families() -> None:
    # Families added in their own files register themselves on import.
    import importlib

    for mod in ("qwen2_vl", "qwen3_vl", "idefics3", "smolvlm", "internvl"):
        try:
            importlib.import_module(f"vlmr1_cli.models.{mod}")
        except ModuleNotFoundError as e:
            if e.name != f"vlmr1_cli.models.{mod}":
                raise


def _plugin_families() -> dict[str, ModelFamily]:
    """The families of installed plug-ins, loaded once. A broken one is left out with one line
    on stderr naming its entry point; the others still load."""
    global _PLUGIN_FAMILIES
    if _PLUGIN_FAMILIES is None:
        from vlmr1_cli import plugins

        _load_optional_families()
        loaded: dict[str, ModelFamily] = {}
        for plugin in plugins.plugins(plugins.FAMILIES).values():
            try:
                fam = _instance(plugin.load(), plugin.describe())
                problem = _clash(fam, {**_FAMILIES, **loaded})
                if problem:
                    raise plugins.PluginError(f"{plugin.describe()}: {problem}; left out")
            except UserError as e:
                _PLUGIN_PROBLEMS.append(str(e))
                plugins.warn(str(e))
                continue
            loaded[fam.name] = fam
        _PLUGIN_FAMILIES = loaded
    return _PLUGIN_FAMILIES


def families() -> dict[str, ModelFamily]:
    """Every family: the built-in and registered ones, then those of installed plug-ins."""
    _load_optional_families()
    return {**_FAMILIES, **_plugin_families()}


def family_by_name(name: str) -> ModelFamily:
    _load_optional_families()
    if name in _FAMILIES:
        return _FAMILIES[name]
    fams = families()
    if name not in fams:
        raise UserError(f"unknown model family '{name}' (known: {', '.join(sorted(fams))})")
    return fams[name]


def family_for_model_type(model_type: str) -> ModelFamily:
    _load_optional_families()
    for registered in (_FAMILIES, None):  # plug-ins are imported only for a type not built in
        for fam in (registered if registered is not None else _plugin_families()).values():
            if model_type in fam.model_types:
                return fam
    known = sorted(t for f in families().values() for t in f.model_types)
    broken = (
        f"; plug-ins left out: {len(_PLUGIN_PROBLEMS)} (see the note above)"
        if _PLUGIN_PROBLEMS
        else ""
    )
    raise UserError(
        f"model type '{model_type}' is not supported (supported: {', '.join(known)}){broken}"
    )


def read_model_type(model_dir: str | Path) -> str:
    cfg = Path(model_dir) / "config.json"
    if not cfg.is_file():
        raise UserError(f"{model_dir}: not a model folder (no config.json)")
    try:
        config = json.loads(cfg.read_text(encoding="utf-8"))
    except (ValueError, RecursionError):  # not UTF-8, not JSON, nested too deeply
        raise UserError(f"{cfg}: unreadable config (not a JSON object)") from None
    if not isinstance(config, dict) or not isinstance(config.get("model_type"), str):
        raise UserError(f"{cfg}: unreadable config (no 'model_type')")
    return config["model_type"]


def family_for_path(model_dir: str | Path) -> ModelFamily:
    return family_for_model_type(read_model_type(model_dir))

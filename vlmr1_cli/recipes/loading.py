"""Loading a recipe: a file (or packaged name) read as YAML, `extends` applied, merged over the
defaults with unknown keys named, `--set key=value` overrides, every rule checked, then built
into a typed `Recipe` (schema.py); and dumping one back to YAML with the secrets hidden."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

from vlmr1_cli.errors import UserError
from vlmr1_cli.recipe_files import resolve_extends, resolve_recipe
from vlmr1_cli.recipes.launch_settings import check_launch
from vlmr1_cli.recipes.schema import DEFAULTS, OPEN_SECTIONS, OPEN_SUBKEYS, Recipe
from vlmr1_cli.recipes.trl_fields import validate_training
from vlmr1_cli.recipes.values import (
    check_values,
    normalise_data,
    normalise_rewards,
    shown,
    suggest,
)


def parse_scalar(text: str) -> Any:
    """`--set` values are YAML scalars: 1e-6 -> float, true -> bool, [a, b] -> list."""
    import yaml

    if text.strip().lower() in ("yes", "no", "on", "off", "y", "n"):
        return text.strip()  # YAML 1.1 booleans; TRL enums use "no" (save_strategy=no)
    try:
        value = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError, RecursionError):
        # not YAML, an integer over 4,300 digits, or nesting deeper than the parser allows:
        # the text itself, which the key's own check then refuses by name
        return text
    # YAML 1.1 reads `1e-6` as a string; users mean a float. Words such as "nan" or "inf"
    # stay text (a model folder may be called that); numeric fields reject them by key.
    if isinstance(value, str) and any(c.isdigit() for c in value):
        try:
            return float(value)
        except ValueError:
            return value
    return value


_SECTION_HINTS = {
    "data": " (e.g. data: {train: [a.jsonl]})",
    "prompt.templates": " (task -> text, e.g. {rec: '... {problem} ...'})",
    "prompt.answer_templates": " (task -> text)",
}


def _merge(base: dict, over: dict, where: str, path: tuple[str, ...] = ()) -> dict:
    out = copy.deepcopy(base)
    for key, value in over.items():
        here = (*path, key)
        dotted = ".".join(here)
        if not path and key not in DEFAULTS:
            raise UserError(f"{where}: unknown section '{key}'{suggest(key, DEFAULTS)}")
        open_here = (path and path[0] in OPEN_SECTIONS) or tuple(path) in OPEN_SUBKEYS
        if not open_here and isinstance(base, dict) and key not in base:
            raise UserError(f"{where}: unknown key '{dotted}'{suggest(key, base)}")
        if isinstance(out.get(key), dict) and not open_here and not isinstance(value, dict):
            if value is None:
                continue  # an empty section (`training:` with every key commented out)
            raise UserError(
                f"{where}: key '{dotted}': must be a mapping of keys, got {shown(value)}"
                f"{_SECTION_HINTS.get(dotted, '')}"
            )
        if isinstance(value, dict) and isinstance(out.get(key), dict) and not open_here:
            out[key] = _merge(out[key], value, where, here)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


def _read_yaml(p: Path) -> dict:
    import yaml

    if not p.is_file():
        raise UserError(f"{p}: recipe not found")
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as e:
        raise UserError(f"{p}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise UserError(f"{p}{line}: invalid YAML: {getattr(e, 'problem', e)}") from None
    except RecursionError:
        raise UserError(f"{p}: invalid YAML: nested deeper than the parser allows") from None
    except ValueError as e:  # int() of a number over 4,300 digits
        raise UserError(f"{p}: invalid YAML: {str(e).split(';')[0]}") from None
    if not isinstance(raw, dict):
        raise UserError(f"{p}: a recipe must be a YAML mapping")
    return raw


def _overlay(base: dict, over: dict) -> dict:
    """JSON merge-patch rules: mappings merge key by key, null removes the base's key, any
    other value (lists included) replaces it."""
    out = dict(base)
    for k, v in over.items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _overlay(out[k], v)
        else:
            out[k] = v
    return out


def _read_with_extends(p: Path, seen: tuple[Path, ...]) -> dict:
    """A recipe may start with `extends: other.yaml`: the file beside it, else the packaged
    recipe of that name. The other recipe is read first and this one is laid over it."""
    raw = _read_yaml(p)
    base = raw.pop("extends", None)
    if base is None:
        return raw
    if not isinstance(base, str) or not base.strip():
        raise UserError(f"{p}: key 'extends': must be a recipe file name")
    base_path = resolve_extends(base, p)
    if base_path is None:
        raise UserError(
            f"{p}: key 'extends': recipe not found: {base} (no such file beside this one, "
            "and no packaged recipe of that name: vlmr1 recipes list)"
        )
    chain = (*seen, p.resolve())
    if base_path.resolve() in chain:
        raise UserError(f"{p}: key 'extends': recipes extend each other in a cycle ({base})")
    return _overlay(_read_with_extends(base_path, chain), raw)


def read_recipe_file(path: str | os.PathLike) -> tuple[Path, dict]:
    """The recipe file (a path, or a packaged name) and its mapping with `extends` applied."""
    p = resolve_recipe(path)
    return p, _read_with_extends(p, ())


def _merged_mapping(
    path: str | os.PathLike | None, overrides: list[str] | tuple[str, ...] = ()
) -> tuple[str, dict, dict]:
    """(where, the file's own mapping, the mapping with defaults and `--set` overrides): the
    merge only, with unknown keys named; values are not checked yet."""
    raw: dict = {}
    where = "recipe"
    if path is not None:
        file, raw = read_recipe_file(path)
        where = str(file)
    mapping = _merge(DEFAULTS, raw, where)
    for item in overrides:
        if "=" not in item:
            raise UserError(f"--set '{item}': expected key=value")
        key, value = item.split("=", 1)
        parts = key.strip().split(".")
        if parts[0] not in DEFAULTS:
            parts = ["training", *parts]  # shorthand: --set max_steps=2
        nested: Any = parse_scalar(value)
        for part in reversed(parts):
            nested = {part: nested}
        mapping = _merge(mapping, nested, f"--set {key}")
    return where, raw, mapping


def load_recipe(
    path: str | os.PathLike | None,
    overrides: list[str] | tuple[str, ...] = (),
    method: str | None = None,
    launch_options: dict[str, Any] | None = None,
    check_trl_fields: bool = True,
) -> Recipe:
    """Read a recipe file (or packaged name), apply `key=value` overrides, fill defaults, check
    every rule, and return the typed recipe.

    `method`: the command's (train-grpo, train-sft); a recipe that states another one is an
    error naming the command to use. `launch_options`: the command line's launch flags, which
    override the recipe's `launch` section. `check_trl_fields=False` leaves the `training`
    keys unchecked against TRL's config fields, sparing the import of trl: for listing
    recipes, never for running one.
    """
    where, raw, mapping = _merged_mapping(path, overrides)
    if method is not None and mapping["method"] != method:
        if "method" in raw:
            raise UserError(
                f"{where}: key 'method' is {mapping['method']!r}; use train-{mapping['method']}"
            )
        mapping["method"] = method
    normalise_data(mapping)
    if mapping["method"] not in ("grpo", "sft"):
        raise UserError(f"{where}: key 'method': must be grpo or sft, got {mapping['method']!r}")
    if not mapping["model"]["path"] and mapping["model"]["adapter"] is None:
        raise UserError(
            f"{where}: key 'model.path' is required (or model.adapter: a LoRA adapter "
            "whose adapter_config.json names its base)"
        )
    check_values(mapping)
    normalise_rewards(mapping)
    check_launch(mapping["launch"], where)
    for key, value in (launch_options or {}).items():
        if value is not None:
            mapping["launch"][key] = value
    if launch_options:
        check_launch(mapping["launch"], "command line")
    if check_trl_fields:
        validate_training(mapping["method"], mapping["training"])
    training = mapping["training"]
    training["output_dir"] = str(training.get("output_dir") or f"runs/{mapping['method']}")
    return Recipe.from_mapping(mapping)


def dump_recipe(recipe: Recipe) -> str:
    import yaml

    from vlmr1_cli.secrets import redact_recipe

    # Every dump (--print-config, vlmr1_recipe.yaml) hides the secrets.
    clean = redact_recipe(recipe.as_mapping())
    return yaml.safe_dump(clean, sort_keys=False, allow_unicode=True, width=100)

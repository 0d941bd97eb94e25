"""Recipes: YAML -> a validated, resolved config dict, with `--set key=value` overrides.

A recipe has these sections (all optional except `model` and `data`):

    method:   grpo | sft
    model:    path, family, frame, dtype, trust_remote_code, min_pixels, max_pixels, attn_implementation
    data:     train: [{path, image_root, weight, max_samples}], eval: [...], max_samples, seed
    prompt:   system, templates: {task: "...{problem}...{labels}..."}, answer_templates: {...}
    rewards:  {task: [{name, weight}]}            (GRPO only; names or module:function)
    training: every field of TRL's GRPOConfig / SFTConfig, passed through and validated
    peft:     enabled, r, lora_alpha, lora_dropout, target_modules, include_vision
    freeze:   vision, language
    launch:   num_processes, num_machines, machine_rank, main_process_ip, main_process_port, config_file

A recipe may begin with `extends: base.yaml` (relative to its folder): the base is read
first, mappings merge key by key, `null` removes a base key and other values replace (the LoRA variants extend the
full fine-tuning recipes this way). Unknown keys are errors that name the closest valid
keys. A bare `--set max_steps=2` (no section) means `training.max_steps`.
"""

from __future__ import annotations

import copy
import difflib
from pathlib import Path
from typing import Any

from vlmr1_cli.errors import UserError

PAPER_REC_TEMPLATE = (
    "Please provide the bounding box coordinate of the region this sentence describes: {problem}."
    " First output the thinking process in <think> </think> tags and then output the final answer"
    " in <answer> </answer> tags. Output the final answer in JSON format."
)
PAPER_OVD_TEMPLATE = (
    "Please carefully check the image and detect the following objects: {labels}. Output the bbox"
    " coordinates of detected objects in <answer></answer>. The bbox coordinate format should be:"
    ' ```json [{"bbox_2d": [x1, y1, x2, y2], "label": "object name"}] ```. If no targets are'
    ' detected in the image, simply respond with "None". First output the thinking process in'
    " <think> </think> tags and then output the final answer in <answer> </answer> tags."
)

DEFAULTS: dict[str, Any] = {
    "method": "grpo",
    # family/frame: optional expectations (e.g. qwen2_5_vl / qwen25_abs); a checkpoint of
    # another family or frame is then an error before any weights load.
    "model": {"path": None, "family": None, "frame": None, "dtype": None, "trust_remote_code": False,
              "min_pixels": None, "max_pixels": None, "attn_implementation": None},
    "data": {"train": [], "eval": [], "max_samples": None, "seed": 0},
    "prompt": {
        "system": None,
        "templates": {"rec": PAPER_REC_TEMPLATE, "ovd": PAPER_OVD_TEMPLATE, "text": "{problem}"},
        "answer_templates": {
            "rec": '<think>{think}</think> <answer>{"bbox_2d": {box}}</answer>',
            "ovd": "<think>{think}</think> <answer>{objects}</answer>",
            "text": "<think>{think}</think> <answer>{solution}</answer>",
        },
    },
    "rewards": {},
    "training": {},
    "peft": {"enabled": False, "r": 8, "lora_alpha": 16, "lora_dropout": 0.05,
             "target_modules": "all-linear", "include_vision": False},
    "freeze": {"vision": False, "language": False},
    # Unset launch keys are left to the accelerate config (or to accelerate's defaults).
    "launch": {"num_processes": None, "num_machines": None, "machine_rank": None, "main_process_ip": None,
               "main_process_port": None, "config_file": None},
}
SECTIONS = tuple(DEFAULTS)
# Sections whose inner keys are free-form (validated elsewhere).
_OPEN_SECTIONS = {"training", "rewards"}
_OPEN_SUBKEYS = {("prompt", "templates"), ("prompt", "answer_templates")}
DATA_SOURCE_KEYS = ("path", "image_root", "weight", "max_samples")


def _suggest(key: str, valid) -> str:
    close = difflib.get_close_matches(key, list(valid), n=3, cutoff=0.5)
    return f" (did you mean: {', '.join(close)}?)" if close else ""


def parse_scalar(text: str) -> Any:
    """`--set` values are YAML scalars: 1e-6 -> float, true -> bool, [a, b] -> list."""
    import yaml

    if text.strip().lower() in ("yes", "no", "on", "off", "y", "n"):
        return text.strip()  # YAML 1.1 booleans; TRL enums use "no" (save_strategy=no)
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    # YAML 1.1 reads `1e-6` as a string; users mean a float.
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _merge(base: dict, over: dict, where: str, path: tuple[str, ...] = ()) -> dict:
    out = copy.deepcopy(base)
    for key, value in over.items():
        here = (*path, key)
        dotted = ".".join(here)
        if not path and key not in DEFAULTS:
            raise UserError(f"{where}: unknown section '{key}'{_suggest(key, DEFAULTS)}")
        open_here = (path and path[0] in _OPEN_SECTIONS) or tuple(path) in _OPEN_SUBKEYS
        if not open_here and isinstance(base, dict) and key not in base:
            raise UserError(f"{where}: unknown key '{dotted}'{_suggest(key, base)}")
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
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise UserError(f"{p}{line}: invalid YAML: {getattr(e, 'problem', e)}") from None
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
    """A recipe may start with `extends: other.yaml` (relative to its own folder): the other
    recipe is read first and this one is laid over it."""
    raw = _read_yaml(p)
    base = raw.pop("extends", None)
    if base is None:
        return raw
    if not isinstance(base, str):
        raise UserError(f"{p}: key 'extends': must be a recipe file name")
    base_path = (p.parent / base).resolve()
    if base_path in seen or base_path == p.resolve():
        raise UserError(f"{p}: key 'extends': recipes extend each other in a cycle ({base})")
    if not base_path.is_file():
        raise UserError(f"{p}: key 'extends': recipe not found: {base}")
    return _overlay(_read_with_extends(base_path, (*seen, p.resolve())), raw)


def load_recipe(path: str | Path | None, overrides: list[str] | tuple[str, ...] = ()) -> dict:
    """Read a recipe file, apply `key=value` overrides, fill defaults; structure-checked."""

    raw: dict = {}
    where = str(path) if path else "recipe"
    if path is not None:
        raw = _read_with_extends(Path(path), ())
    recipe = _merge(DEFAULTS, raw, where)
    recipe["_raw_keys"] = sorted(raw)
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
        recipe = _merge(recipe, nested, f"--set {key}")
    recipe["_source"] = str(path) if path else None
    base_dir = Path(path).parent if path else Path(".")
    _normalise_data(recipe, base_dir)
    if recipe["method"] not in ("grpo", "sft"):
        raise UserError(f"{where}: key 'method': must be grpo or sft, got {recipe['method']!r}")
    if not recipe["model"]["path"]:
        raise UserError(f"{where}: key 'model.path' is required")
    check_launch(recipe["launch"], where)
    return recipe


_LAUNCH_INTS = ("num_processes", "num_machines", "machine_rank", "main_process_port")


def check_launch(launch: dict, where: str) -> None:
    for key in _LAUNCH_INTS:
        value = launch.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise UserError(f"{where}: key 'launch.{key}': must be a non-negative integer, got {value!r}")
    for key in ("num_processes", "num_machines"):
        if launch.get(key) == 0:
            raise UserError(f"{where}: key 'launch.{key}': must be at least 1")
    if (launch.get("machine_rank") or 0) >= (launch.get("num_machines") or 1):
        raise UserError(f"{where}: key 'launch.machine_rank': {launch['machine_rank']} is not below "
                        f"num_machines ({launch.get('num_machines') or 1})")


def _normalise_data(recipe: dict, base_dir: Path) -> None:
    """Each data source becomes {path, image_root, weight}; relative paths are kept as given
    (resolved against the working directory, like every CLI path)."""
    for split in ("train", "eval"):
        items = recipe["data"][split]
        if isinstance(items, (str, dict)):
            items = [items]
        out = []
        for i, item in enumerate(items or []):
            if isinstance(item, str):
                item = {"path": item}
            if not isinstance(item, dict) or "path" not in item:
                raise UserError(f"recipe: key 'data.{split}[{i}]': needs a 'path'")
            bad = set(item) - set(DATA_SOURCE_KEYS)
            if bad:
                k = sorted(bad)[0]
                raise UserError(f"recipe: key 'data.{split}[{i}].{k}': unknown{_suggest(k, DATA_SOURCE_KEYS)}")
            out.append({"path": str(item["path"]),
                        "image_root": str(item.get("image_root") or Path(item["path"]).parent),
                        "weight": float(item.get("weight", 1.0)),
                        "max_samples": item.get("max_samples")})
        recipe["data"][split] = out


def trainer_config_fields(method: str) -> dict[str, Any]:
    """Field name -> dataclass field of TRL's GRPOConfig or SFTConfig (imports trl)."""
    import dataclasses

    if method == "grpo":
        from trl import GRPOConfig as Cfg
    else:
        from trl import SFTConfig as Cfg
    return {f.name: f for f in dataclasses.fields(Cfg)}


def _type_tokens(field) -> set[str]:
    t = field.type if isinstance(field.type, str) else getattr(field.type, "__name__", str(field.type))
    return {tok.strip() for tok in str(t).split("|")}


def _check_value(key: str, value: Any, field, method: str) -> Any:
    """Light type check of one TRL field: numbers and booleans where TRL wants them (a YAML
    `1e-6` string becomes a float); anything else is left to TRL's own validation."""
    tokens = _type_tokens(field)
    if value is None or not tokens <= {"int", "float", "bool", "None"}:
        return value
    if "float" in tokens and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    ok = (("bool" in tokens and isinstance(value, bool))
          or ("int" in tokens and isinstance(value, int) and not isinstance(value, bool))
          or ("float" in tokens and isinstance(value, (int, float)) and not isinstance(value, bool)))
    if not ok:
        want = " or ".join(sorted(tokens - {"None"}))
        raise UserError(f"recipe: key 'training.{key}': expected {want} for {method}, got {value!r}")
    return value


def validate_training(recipe: dict) -> None:
    """Every `training` key must be a field of TRL's GRPOConfig/SFTConfig (typos name the
    closest fields); numbers and booleans are type-checked here, the rest by TRL itself."""
    fields = trainer_config_fields(recipe["method"])
    for key in list(recipe["training"]):
        if key not in fields:
            raise UserError(f"recipe: unknown key 'training.{key}' for {recipe['method']}{_suggest(key, fields)}")
        recipe["training"][key] = _check_value(key, recipe["training"][key], fields[key], recipe["method"])


def dump_recipe(recipe: dict) -> str:
    import yaml

    clean = {k: v for k, v in recipe.items() if not k.startswith("_")}
    return yaml.safe_dump(clean, sort_keys=False, allow_unicode=True, width=100)

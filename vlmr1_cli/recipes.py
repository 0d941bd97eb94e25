"""Recipes: YAML -> a validated, resolved config dict, with `--set key=value` overrides.

A recipe has these sections (all optional except `model` and `data`):

    method:   grpo | sft
    model:    path, revision, adapter, family, frame, dtype, trust_remote_code, min_pixels,
              max_pixels, attn_implementation
    data:     train: [{path, image_root, weight, max_samples}], eval: [...], max_samples, seed
    prompt:   system, templates: {task: "...{problem}...{labels}..."}, answer_templates: {...}
    rewards:  {task: [{name, weight}]}            (GRPO only; names or module:function)
    training: every field of TRL's GRPOConfig / SFTConfig, passed through and validated
    peft:     enabled, r, lora_alpha, lora_dropout, target_modules, include_vision
    freeze:   vision, language
    launch:   num_processes, num_machines, machine_rank, main_process_ip, main_process_port, config_file

A recipe is a file, or the name of a packaged one (`rec_refcoco`; `vlmr1 recipes list`).
It may begin with `extends: base.yaml`: the file beside it if there is one, else the packaged
recipe of that name. The base is read first, mappings merge key by key, `null` removes a base
key and other values replace (the LoRA variants extend the full fine-tuning recipes this way).
Unknown keys are errors that name the closest valid keys. A bare `--set max_steps=2` (no
section) means `training.max_steps`.

Values are checked strictly, each error one line naming the key: sections are mappings,
booleans are true/false (the text "no" or "false" is an error, never a truthy string: it
would turn `model.trust_remote_code` on), numbers are finite and in range.
"""

from __future__ import annotations

import copy
import difflib
import math
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlmr1_cli.errors import UserError
from vlmr1_cli.prompts import DEFAULT_ANSWER_TEMPLATES, DEFAULT_TEMPLATES
from vlmr1_cli.recipe_files import resolve_extends, resolve_recipe

DEFAULTS: dict[str, Any] = {
    "method": "grpo",
    # family/frame: optional expectations (e.g. qwen2_5_vl / qwen25_abs); a checkpoint of
    # another family or frame is then an error before any weights load.
    "model": {
        "path": None,
        "family": None,
        "frame": None,
        "dtype": None,
        "trust_remote_code": False,
        "min_pixels": None,
        "max_pixels": None,
        "attn_implementation": None,
        # A Hub branch, tag or commit for `model.path` given as a repo id.
        "revision": None,
        # A LoRA adapter (folder or Hub id) to train on, unmerged; its base model is
        # model.path if given, else adapter_config.json's (train/model_setup.py).
        "adapter": None,
    },
    "data": {"train": [], "eval": [], "max_samples": None, "seed": 0},
    "prompt": {
        "system": None,
        "templates": dict(DEFAULT_TEMPLATES),  # the paper's (prompts.py)
        "answer_templates": dict(DEFAULT_ANSWER_TEMPLATES),
    },
    "rewards": {},
    "training": {},
    "peft": {
        "enabled": False,
        "r": 8,
        "lora_alpha": 16,
        "lora_dropout": 0.05,
        "target_modules": "all-linear",
        "include_vision": False,
    },
    "freeze": {"vision": False, "language": False},
    # Unset launch keys are left to the accelerate config (or to accelerate's defaults).
    "launch": {
        "num_processes": None,
        "num_machines": None,
        "machine_rank": None,
        "main_process_ip": None,
        "main_process_port": None,
        "config_file": None,
    },
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


def _shown(value: Any) -> str:
    kind = {list: "a list", str: "text", bool: "a boolean", int: "a number", float: "a number"}
    return f"{kind.get(type(value), type(value).__name__)} ({value!r})"


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
        if isinstance(out.get(key), dict) and not open_here and not isinstance(value, dict):
            if value is None:
                continue  # an empty section (`training:` with every key commented out)
            raise UserError(
                f"{where}: key '{dotted}': must be a mapping of keys, got {_shown(value)}"
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


def load_recipe(path: str | Path | None, overrides: list[str] | tuple[str, ...] = ()) -> dict:
    """Read a recipe file, apply `key=value` overrides, fill defaults; structure-checked."""

    raw: dict = {}
    where = "recipe"
    if path is not None:
        path, raw = read_recipe_file(path)
        where = str(path)
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
    _normalise_data(recipe)
    if recipe["method"] not in ("grpo", "sft"):
        raise UserError(f"{where}: key 'method': must be grpo or sft, got {recipe['method']!r}")
    if not recipe["model"]["path"] and recipe["model"]["adapter"] is None:
        raise UserError(
            f"{where}: key 'model.path' is required (or model.adapter: a LoRA adapter "
            "whose adapter_config.json names its base)"
        )
    check_values(recipe)
    check_launch(recipe["launch"], where)
    return recipe


_LAUNCH_INTS = ("num_processes", "num_machines", "machine_rank", "main_process_port")
MAX_LAUNCH_INT = 2**31 - 1


def _short(value: Any) -> str:
    """A value for an error line: a 400-digit integer is shown by its size, not in full."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**20:
        return f"an integer of {len(str(abs(value)))} digits"
    return repr(value)


def check_launch(launch: dict, where: str) -> None:
    """Launch settings, with `config_file` resolved to a file (a path, or a packaged accelerate
    config name: `vlmr1 recipes list` shows them)."""
    from vlmr1_cli.recipe_files import resolve_accelerate_config

    for key in _LAUNCH_INTS:
        value = launch.get(key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 0
        ):
            raise UserError(
                f"{where}: key 'launch.{key}': must be a non-negative integer, got {value!r}"
            )
        if value is not None and value > MAX_LAUNCH_INT:
            raise UserError(
                f"{where}: key 'launch.{key}': must be at most {MAX_LAUNCH_INT} "
                f"(torch.distributed ranks are 32-bit), got {_short(value)}"
            )
    for key in ("num_processes", "num_machines"):
        if launch.get(key) == 0:
            raise UserError(f"{where}: key 'launch.{key}': must be at least 1")
    if (launch.get("main_process_port") or 0) > 65535:
        raise UserError(
            f"{where}: key 'launch.main_process_port': must be a port (1-65535), "
            f"got {launch['main_process_port']}"
        )
    if (launch.get("machine_rank") or 0) >= (launch.get("num_machines") or 1):
        raise UserError(
            f"{where}: key 'launch.machine_rank': {launch['machine_rank']} is not below "
            f"num_machines ({launch.get('num_machines') or 1})"
        )
    for key in ("main_process_ip", "config_file"):
        _text(launch.get(key), f"launch.{key}", where)
    if launch.get("config_file"):
        try:
            launch["config_file"] = str(resolve_accelerate_config(launch["config_file"]))
        except UserError as e:
            raise UserError(f"{where}: key 'launch.config_file': {e}") from None


# --------------------------------------------------------------------------- value checks


def _text(value: Any, key: str, where: str = "recipe", required: bool = False) -> None:
    if value is None and not required:
        return
    if not isinstance(value, str) or (required and not value.strip()):
        raise UserError(
            f"{where}: key '{key}': must be text, got {_shown(value)}"
            + (" (quote it in YAML)" if isinstance(value, (int, float)) else "")
        )


def _bool(value: Any, key: str) -> None:
    """true/false only: the text "no" or "false" is truthy in Python, so it never passes."""
    if not isinstance(value, bool):
        raise UserError(f"recipe: key '{key}': expected true or false, got {value!r}")


@dataclass(frozen=True)
class Range:
    """Allowed numbers: [low, high] (or open ends), plus `also` special values such as -1."""

    low: float | None = None
    low_open: bool = False
    high: float | None = None
    high_open: bool = False
    also: tuple[float, ...] = ()
    note: str = ""

    def allows(self, x: float) -> bool:
        if x in self.also:
            return True
        if self.low is not None and (x < self.low or (self.low_open and x == self.low)):
            return False
        return not (
            self.high is not None and (x > self.high or (self.high_open and x == self.high))
        )

    def describe(self) -> str:
        def num(v: float) -> str:
            return str(int(v)) if float(v).is_integer() else f"{v:g}"

        if self.low is not None and self.high is not None:
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            text = f"in {left}{num(self.low)}, {num(self.high)}{right}"
        elif self.low is not None:
            text = f"{'>' if self.low_open else '>='} {num(self.low)}"
        elif self.high is not None:
            text = f"{'<' if self.high_open else '<='} {num(self.high)}"
        else:
            text = "any number"
        extra = " or ".join(num(v) for v in self.also)
        text = f"{text} (or {extra}{': ' + self.note if self.note else ''})" if extra else text
        return f"{text} ({self.note})" if self.note and not extra else text


AT_LEAST_1 = Range(1)
NON_NEGATIVE = Range(0)
POSITIVE = Range(0, low_open=True)
PROBABILITY = Range(0, high=1)
SEED = Range(0, high=2**32 - 1, note="numpy's seed range")
PORT = Range(1, high=65535)

# TRL/transformers fields with a documented or obvious range (TRL checks few of them itself:
# `per_device_train_batch_size=0` or `num_generations=0` end in a ZeroDivisionError).
# Integer counts named *_batch_size, *_size, *_steps or num_* are >= 1 unless listed here.
TRAINING_RANGES: dict[str, Range] = {
    "max_steps": Range(1, also=(-1,), note="use num_train_epochs"),
    "num_train_epochs": POSITIVE,
    "learning_rate": POSITIVE,
    "warmup_steps": NON_NEGATIVE,  # below 1: a fraction of the run
    "logging_steps": POSITIVE,
    "save_steps": POSITIVE,
    "eval_steps": POSITIVE,  # below 1: fractions
    "eval_delay": NON_NEGATIVE,
    "weight_decay": NON_NEGATIVE,
    "adam_beta1": Range(0, high=1, high_open=True),
    "adam_beta2": Range(0, high=1, high_open=True),
    "adam_epsilon": NON_NEGATIVE,
    "max_grad_norm": NON_NEGATIVE,  # 0 = no clipping
    "label_smoothing_factor": PROBABILITY,
    "neftune_noise_alpha": NON_NEGATIVE,
    "router_aux_loss_coef": NON_NEGATIVE,
    "seed": SEED,
    "data_seed": SEED,
    "dataloader_num_workers": NON_NEGATIVE,
    "dataloader_prefetch_factor": AT_LEAST_1,
    "save_total_limit": NON_NEGATIVE,  # 0 = keep every checkpoint
    "ddp_timeout": AT_LEAST_1,
    "ddp_bucket_cap_mb": AT_LEAST_1,
    "dataset_num_proc": AT_LEAST_1,
    "max_length": AT_LEAST_1,
    "max_completion_length": AT_LEAST_1,
    "vllm_max_model_length": AT_LEAST_1,
    # GRPO
    "num_generations": Range(2, note="GRPO compares completions within a group"),
    "steps_per_generation": AT_LEAST_1,
    "num_completions_to_print": NON_NEGATIVE,
    "max_tool_calling_iterations": NON_NEGATIVE,
    "temperature": POSITIVE,
    "top_p": Range(0, low_open=True, high=1),
    "top_k": Range(0, note="0 = off"),
    "min_p": PROBABILITY,
    "repetition_penalty": POSITIVE,
    "beta": NON_NEGATIVE,
    "epsilon": NON_NEGATIVE,
    "epsilon_high": NON_NEGATIVE,
    "delta": POSITIVE,
    "vllm_gpu_memory_utilization": Range(0, low_open=True, high=1),
    "vllm_server_timeout": POSITIVE,
    "vllm_server_port": PORT,
    "vllm_group_port": PORT,
    "ref_model_mixup_alpha": PROBABILITY,
    "top_entropy_quantile": PROBABILITY,
    "entropy_coef": NON_NEGATIVE,
    "entropy_coef_min": NON_NEGATIVE,
    "entropy_coef_max": NON_NEGATIVE,
    "entropy_coef_delta": NON_NEGATIVE,
    "vllm_importance_sampling_clip_max": NON_NEGATIVE,
    "vllm_importance_sampling_clip_min": NON_NEGATIVE,
    "vllm_importance_sampling_cap": NON_NEGATIVE,
    "off_policy_mask_threshold": NON_NEGATIVE,
}
_NOT_COUNTS = {"local_rank"}  # set by the launcher (-1 = not distributed)


def training_range(key: str, tokens: set[str]) -> Range | None:
    if key in TRAINING_RANGES:
        return TRAINING_RANGES[key]
    if (
        "int" in tokens
        and key not in _NOT_COUNTS
        and (key.endswith(("_batch_size", "_size", "_steps")) or key.startswith("num_"))
    ):
        return AT_LEAST_1
    return None


def _number(value: Any, key: str, integer: bool, allowed: Range | None = None) -> int | float:
    """A finite number (a YAML 1.1 `1e-6` string counts), integral where asked, in range."""
    x = value
    if isinstance(x, str):
        try:
            x = float(x)
        except ValueError:
            pass
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise UserError(
            f"recipe: key '{key}': expected {'an integer' if integer else 'a number'}, "
            f"got {_short(value)}"
        )
    # math.isfinite(10**400) raises OverflowError: an integer beyond a float is not finite here
    if not (math.isfinite(x) if isinstance(x, float) else abs(x) <= sys.float_info.max):
        raise UserError(f"recipe: key '{key}': must be a finite number, got {_short(value)}")
    if integer:
        if x != int(x):
            raise UserError(f"recipe: key '{key}': expected an integer, got {value!r}")
        x = int(x)
    if allowed is not None and not allowed.allows(x):
        raise UserError(f"recipe: key '{key}': must be {allowed.describe()}, got {_short(value)}")
    return x


def _finite_everywhere(node: Any, key: str) -> None:
    """No NaN or infinity anywhere in a recipe (rewards options and TRL fields included)."""
    if isinstance(node, float) and not math.isfinite(node):
        raise UserError(f"recipe: key '{key}': must be a finite number, got {node!r}")
    if isinstance(node, dict):
        for k, v in node.items():
            _finite_everywhere(v, f"{key}.{k}" if key else str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _finite_everywhere(v, f"{key}[{i}]")


# What a prompt template must name so the model is told the query: without it every sample
# gets the same prompt. Other braces stay as written (JSON examples in a template).
TEMPLATE_FIELDS = {"rec": ("{problem}",), "text": ("{problem}",), "ovd": ("{labels}", "{problem}")}


def check_template(text: str, where: str, task: str | None = None) -> None:
    """A prompt template names its query: {problem} (rec, text) or {labels} (ovd); `task`
    None (one template for every task) or an unknown task: either one."""
    fields = TEMPLATE_FIELDS.get(task or "", ("{problem}", "{labels}"))
    if not any(f in text for f in fields):
        raise UserError(
            f"{where}: the template must contain {' or '.join(fields)} (where the "
            f"sample's query goes), got {text[:80]!r}"
        )


def _text_map(value: Any, key: str) -> None:
    for task, text in value.items():
        _text(text, f"{key}.{task}")


def check_values(recipe: dict) -> None:
    """Types and ranges of every fixed recipe key (the `training` section is TRL's and is
    checked by validate_training; reward names and options by the rewards module)."""
    _finite_everywhere({k: v for k, v in recipe.items() if not k.startswith("_")}, "")
    m = recipe["model"]
    _text(m["path"], "model.path", required=m["adapter"] is None)
    if m["adapter"] is not None:
        _text(m["adapter"], "model.adapter", required=True)
    for key in ("revision", "family", "frame", "dtype", "attn_implementation"):
        _text(m[key], f"model.{key}")
    _bool(m["trust_remote_code"], "model.trust_remote_code")
    for key in ("min_pixels", "max_pixels"):
        if m[key] is not None:
            m[key] = _number(m[key], f"model.{key}", integer=True, allowed=AT_LEAST_1)
    if (
        m["min_pixels"] is not None
        and m["max_pixels"] is not None
        and m["min_pixels"] > m["max_pixels"]
    ):
        raise UserError(
            f"recipe: key 'model.min_pixels': {m['min_pixels']} is above model.max_pixels "
            f"({m['max_pixels']})"
        )
    data = recipe["data"]
    if data["max_samples"] is not None:
        data["max_samples"] = _number(
            data["max_samples"], "data.max_samples", integer=True, allowed=AT_LEAST_1
        )
    data["seed"] = _number(data["seed"], "data.seed", integer=True, allowed=SEED)
    p = recipe["prompt"]
    _text(p["system"], "prompt.system")
    _text_map(p["templates"], "prompt.templates")
    for task, text in p["templates"].items():
        if text is not None:
            check_template(text, f"recipe: key 'prompt.templates.{task}'", task)
    _text_map(p["answer_templates"], "prompt.answer_templates")
    for task, items in recipe["rewards"].items():
        for j, item in enumerate(items if isinstance(items, list) else []):
            if isinstance(item, dict) and item.get("weight") is not None:
                item["weight"] = _number(
                    item["weight"], f"rewards.{task}[{j}].weight", integer=False
                )
    peft = recipe["peft"]
    _bool(peft["enabled"], "peft.enabled")
    if peft["enabled"] and m["adapter"] is not None:
        raise UserError(
            "recipe: keys 'peft.enabled' and 'model.adapter': training continues the adapter with "
            "its own LoRA settings (adapter_config.json); set peft.enabled to false"
        )
    _bool(peft["include_vision"], "peft.include_vision")
    peft["r"] = _number(peft["r"], "peft.r", integer=True, allowed=AT_LEAST_1)
    peft["lora_alpha"] = _number(
        peft["lora_alpha"], "peft.lora_alpha", integer=False, allowed=POSITIVE
    )
    peft["lora_dropout"] = _number(
        peft["lora_dropout"],
        "peft.lora_dropout",
        integer=False,
        allowed=Range(0, high=1, high_open=True),
    )
    targets = peft["target_modules"]
    if not (isinstance(targets, str) and targets.strip()) and not (
        isinstance(targets, list) and targets and all(isinstance(t, str) for t in targets)
    ):
        raise UserError(
            "recipe: key 'peft.target_modules': must be 'all-linear' or a list of module names, "
            f"got {targets!r}"
        )
    for key in ("vision", "language"):
        _bool(recipe["freeze"][key], f"freeze.{key}")


def _normalise_data(recipe: dict) -> None:
    """Each data source becomes {path, image_root, weight, max_samples}; relative paths are kept
    as given (resolved against the working directory, like every CLI path)."""
    for split in ("train", "eval"):
        items = recipe["data"][split]
        if isinstance(items, (str, dict)):
            items = [items]
        if items is not None and not isinstance(items, list):
            raise UserError(
                f"recipe: key 'data.{split}': must be a list of JSONL files, got {_shown(items)}"
            )
        out = []
        for i, item in enumerate(items or []):
            key = f"data.{split}[{i}]"
            if isinstance(item, str):
                item = {"path": item}
            if not isinstance(item, dict) or "path" not in item:
                raise UserError(f"recipe: key '{key}': needs a 'path'")
            bad = set(item) - set(DATA_SOURCE_KEYS)
            if bad:
                k = sorted(bad)[0]
                raise UserError(f"recipe: key '{key}.{k}': unknown{_suggest(k, DATA_SOURCE_KEYS)}")
            _text(item["path"], f"{key}.path", required=True)
            _text(item.get("image_root"), f"{key}.image_root")
            max_samples = item.get("max_samples")
            out.append(
                {
                    "path": item["path"],
                    "image_root": item.get("image_root") or str(Path(item["path"]).parent),
                    "weight": float(
                        _number(
                            item.get("weight", 1.0),
                            f"{key}.weight",
                            integer=False,
                            allowed=POSITIVE,
                        )
                    ),
                    "max_samples": None
                    if max_samples is None
                    else _number(
                        max_samples, f"{key}.max_samples", integer=True, allowed=AT_LEAST_1
                    ),
                }
            )
        recipe["data"][split] = out


def trainer_config_fields(method: str) -> dict[str, Any]:
    """Field name -> dataclass field of TRL's GRPOConfig or SFTConfig (imports trl)."""
    import dataclasses

    from trl import GRPOConfig, SFTConfig

    return {f.name: f for f in dataclasses.fields(GRPOConfig if method == "grpo" else SFTConfig)}


def _type_tokens(field) -> set[str]:
    t = (
        field.type
        if isinstance(field.type, str)
        else getattr(field.type, "__name__", str(field.type))
    )
    return {tok.strip() for tok in str(t).split("|")}


def _check_value(key: str, value: Any, field, method: str) -> Any:
    """Type and range check of one TRL field where TRL wants a number or a boolean (a YAML
    `1e-6` string becomes a float); anything else is left to TRL's own validation. Booleans
    are true/false only: `bf16=no` is an error, while enum fields (`save_strategy=no`) are
    text and pass through."""
    tokens = _type_tokens(field)
    if value is None or not tokens <= {"int", "float", "bool", "None"}:
        return value
    dotted = f"training.{key}"
    if tokens - {"None"} == {"bool"}:
        if not isinstance(value, bool):
            raise UserError(
                f"recipe: key '{dotted}': expected true or false for {method}, got {value!r}"
            )
        return value
    numeric = "float" in tokens or "int" in tokens
    if isinstance(value, bool) and "bool" in tokens:
        return value
    if (
        not numeric
        or isinstance(value, bool)
        or ("float" not in tokens and not isinstance(value, int))
    ):
        want = " or ".join(sorted(tokens - {"None"}))
        raise UserError(f"recipe: key '{dotted}': expected {want} for {method}, got {value!r}")
    number = _number(
        value, dotted, integer="float" not in tokens, allowed=training_range(key, tokens)
    )
    return float(number) if "float" in tokens and isinstance(value, str) else number


def validate_training(recipe: dict) -> None:
    """Every `training` key must be a field of TRL's GRPOConfig/SFTConfig (typos name the
    closest fields); numbers and booleans are type-checked here, the rest by TRL itself."""
    fields = trainer_config_fields(recipe["method"])
    for key in list(recipe["training"]):
        if key not in fields:
            raise UserError(
                f"recipe: unknown key 'training.{key}' for {recipe['method']}{_suggest(key, fields)}"
            )
        recipe["training"][key] = _check_value(
            key, recipe["training"][key], fields[key], recipe["method"]
        )
    _check_choices(recipe["training"], fields, recipe["method"])


def _documented_choices(field) -> set[str]:
    """The values a TRL text field documents ("Supported values are 'grpo', 'dapo' ..."), or
    an empty set where its help lists none (then TRL's own check is the only one)."""
    text = (field.metadata or {}).get("help", "")
    m = re.search(r"(?:Supported|Possible) values are(.*?)(?:\.\s|$)", text, re.S)
    return set(re.findall(r"'([A-Za-z0-9_]+)'", m.group(1))) if m else set()


def _check_choices(training: dict, fields: dict, method: str) -> None:
    """Text values TRL checks only mid-run: `loss_type` when the first loss is computed,
    `report_to` when the trainer is built (after the weights load)."""
    loss = training.get("loss_type")
    choices = _documented_choices(fields["loss_type"]) if "loss_type" in fields else set()
    if isinstance(loss, str) and choices and loss not in choices:
        raise UserError(
            f"recipe: key 'training.loss_type': '{loss}' is not one of {', '.join(sorted(choices))} "
            f"for {method}{_suggest(loss, choices)}"
        )
    report_to = training.get("report_to")
    if report_to is not None:
        from transformers.integrations.integration_utils import INTEGRATION_TO_CALLBACK

        known = {*INTEGRATION_TO_CALLBACK, "all", "none"}
        names = report_to if isinstance(report_to, list) else [report_to]
        for name in names:
            if not isinstance(name, str) or name not in known:
                raise UserError(
                    f"recipe: key 'training.report_to': {name!r} is not a logging integration "
                    f"({', '.join(sorted(known))}){_suggest(str(name), known)}"
                )


def dump_recipe(recipe: dict) -> str:
    import yaml

    from vlmr1_cli.secrets import redact_recipe

    # Every dump (--print-config, vlmr1_recipe.yaml, the launcher's copy) hides the secrets.
    clean = redact_recipe({k: v for k, v in recipe.items() if not k.startswith("_")})
    return yaml.safe_dump(clean, sort_keys=False, allow_unicode=True, width=100)

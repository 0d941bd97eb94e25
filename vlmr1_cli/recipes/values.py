"""Value checks of a recipe: types and ranges of every fixed key, each error one line naming
the key. Booleans are true/false (the text "no" or "false" is an error, never a truthy string:
it would turn `model.trust_remote_code` on), numbers are finite and in range (`Range`,
`TRAINING_RANGES` for TRL's fields), prompt templates name their query.
"""

from __future__ import annotations

import difflib
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlmr1_cli.errors import UserError
from vlmr1_cli.recipes.schema import DATA_SOURCE_KEYS, REWARD_TERM_KEYS


def suggest(key: str, valid) -> str:
    close = difflib.get_close_matches(key, list(valid), n=3, cutoff=0.5)
    return f" (did you mean: {', '.join(close)}?)" if close else ""


def shown(value: Any) -> str:
    kind = {list: "a list", str: "text", bool: "a boolean", int: "a number", float: "a number"}
    return f"{kind.get(type(value), type(value).__name__)} ({value!r})"


def short(value: Any) -> str:
    """A value for an error line: a 400-digit integer is shown by its size, not in full."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**20:
        return f"an integer of {len(str(abs(value)))} digits"
    return repr(value)


def check_text(value: Any, key: str, where: str = "recipe", required: bool = False) -> None:
    if value is None and not required:
        return
    if not isinstance(value, str) or (required and not value.strip()):
        raise UserError(
            f"{where}: key '{key}': must be text, got {shown(value)}"
            + (" (quote it in YAML)" if isinstance(value, (int, float)) else "")
        )


def check_bool(value: Any, key: str) -> None:
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


def check_number(value: Any, key: str, integer: bool, allowed: Range | None = None) -> int | float:
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
            f"got {short(value)}"
        )
    # math.isfinite(10**400) raises OverflowError: an integer beyond a float is not finite here
    if not (math.isfinite(x) if isinstance(x, float) else abs(x) <= sys.float_info.max):
        raise UserError(f"recipe: key '{key}': must be a finite number, got {short(value)}")
    if integer:
        if x != int(x):
            raise UserError(f"recipe: key '{key}': expected an integer, got {value!r}")
        x = int(x)
    if allowed is not None and not allowed.allows(x):
        raise UserError(f"recipe: key '{key}': must be {allowed.describe()}, got {short(value)}")
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
        check_text(text, f"{key}.{task}")


def check_values(recipe: dict) -> None:
    """Types and ranges of every fixed recipe key (the `training` section is TRL's and is
    checked by validate_training; reward names and options by the rewards module)."""
    _finite_everywhere({k: v for k, v in recipe.items() if not k.startswith("_")}, "")
    m = recipe["model"]
    check_text(m["path"], "model.path", required=m["adapter"] is None)
    if m["adapter"] is not None:
        check_text(m["adapter"], "model.adapter", required=True)
    for key in ("revision", "family", "frame", "dtype", "attn_implementation"):
        check_text(m[key], f"model.{key}")
    check_bool(m["trust_remote_code"], "model.trust_remote_code")
    for key in ("min_pixels", "max_pixels"):
        if m[key] is not None:
            m[key] = check_number(m[key], f"model.{key}", integer=True, allowed=AT_LEAST_1)
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
        data["max_samples"] = check_number(
            data["max_samples"], "data.max_samples", integer=True, allowed=AT_LEAST_1
        )
    data["seed"] = check_number(data["seed"], "data.seed", integer=True, allowed=SEED)
    p = recipe["prompt"]
    check_text(p["system"], "prompt.system")
    _text_map(p["templates"], "prompt.templates")
    for task, text in p["templates"].items():
        if text is not None:
            check_template(text, f"recipe: key 'prompt.templates.{task}'", task)
    _text_map(p["answer_templates"], "prompt.answer_templates")
    for key in ("templates", "answer_templates"):
        # null removes a task's template: the loader's fallback for that task applies
        p[key] = {task: text for task, text in p[key].items() if text is not None}
    peft = recipe["peft"]
    check_bool(peft["enabled"], "peft.enabled")
    if peft["enabled"] and m["adapter"] is not None:
        raise UserError(
            "recipe: keys 'peft.enabled' and 'model.adapter': training continues the adapter with "
            "its own LoRA settings (adapter_config.json); set peft.enabled to false"
        )
    check_bool(peft["include_vision"], "peft.include_vision")
    peft["r"] = check_number(peft["r"], "peft.r", integer=True, allowed=AT_LEAST_1)
    peft["lora_alpha"] = check_number(
        peft["lora_alpha"], "peft.lora_alpha", integer=False, allowed=POSITIVE
    )
    peft["lora_dropout"] = check_number(
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
        check_bool(recipe["freeze"][key], f"freeze.{key}")


def _list_item(item: Any, key: str, main: str, valid: tuple[str, ...]) -> dict:
    """One entry of a list section (data sources, rewards): its mapping, a bare text standing
    for its `main` key; it must have that key and no key outside `valid`."""
    if isinstance(item, str):
        item = {main: item}
    if not isinstance(item, dict) or main not in item:
        raise UserError(f"recipe: key '{key}' needs a '{main}'")
    unknown = sorted(set(item) - set(valid))
    if unknown:
        raise UserError(
            f"recipe: key '{key}.{unknown[0]}': unknown{suggest(unknown[0], valid)} "
            f"(use {', '.join(valid)})"
        )
    return item


def normalise_data(recipe: dict) -> None:
    """Each data source becomes {path, image_root, weight, max_samples}; relative paths are kept
    as given (resolved against the working directory, like every CLI path)."""
    for split in ("train", "eval"):
        items = recipe["data"][split]
        if isinstance(items, (str, dict)):
            items = [items]
        if items is not None and not isinstance(items, list):
            raise UserError(
                f"recipe: key 'data.{split}': must be a list of JSONL files, got {shown(items)}"
            )
        out = []
        for i, item in enumerate(items or []):
            key = f"data.{split}[{i}]"
            item = _list_item(item, key, "path", DATA_SOURCE_KEYS)
            check_text(item["path"], f"{key}.path", required=True)
            check_text(item.get("image_root"), f"{key}.image_root")
            max_samples = item.get("max_samples")
            out.append(
                {
                    "path": item["path"],
                    "image_root": item.get("image_root") or str(Path(item["path"]).parent),
                    "weight": float(
                        check_number(
                            item.get("weight", 1.0),
                            f"{key}.weight",
                            integer=False,
                            allowed=POSITIVE,
                        )
                    ),
                    "max_samples": None
                    if max_samples is None
                    else check_number(
                        max_samples, f"{key}.max_samples", integer=True, allowed=AT_LEAST_1
                    ),
                }
            )
        recipe["data"][split] = out


def normalise_rewards(recipe: dict) -> None:
    """The `rewards` section as task -> [{name, weight, options}]: a bare name is a reward of
    weight 1; tasks set to null are dropped (`--set rewards.rec=null` removes REC's rewards).
    Names are resolved when the run is prepared (train/reward_funcs.py)."""
    spec = recipe["rewards"]
    if not isinstance(spec, dict):
        raise UserError("recipe: key 'rewards' must map task names to reward lists")
    out: dict[str, list[dict]] = {}
    for task, items in spec.items():
        if items is None:
            continue
        if not isinstance(items, list) or not items:
            raise UserError(
                f"recipe: key 'rewards.{task}' must be a non-empty list of reward names"
            )
        terms = []
        for j, item in enumerate(items):
            key = f"rewards.{task}[{j}]"
            item = _list_item(item, key, "name", REWARD_TERM_KEYS)
            check_text(item["name"], f"{key}.name", required=True)
            weight = item.get("weight", 1.0)
            options = item.get("options") or {}
            if not isinstance(options, dict):
                raise UserError(f"recipe: key '{key}.options': must be a mapping")
            terms.append(
                {
                    "name": item["name"],
                    "weight": float(check_number(weight, f"{key}.weight", integer=False)),
                    "options": options,
                }
            )
        out[str(task)] = terms
    recipe["rewards"] = out

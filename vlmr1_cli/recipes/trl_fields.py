"""The recipe's `training` section against TRL's GRPOConfig / SFTConfig: every key a field,
numbers and booleans type- and range-checked, documented choices checked before the run."""

from __future__ import annotations

import re
from typing import Any

from vlmr1_cli.errors import UserError
from vlmr1_cli.recipes.values import check_number, check_text, suggest, training_range


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
    number = check_number(
        value, dotted, integer="float" not in tokens, allowed=training_range(key, tokens)
    )
    return float(number) if "float" in tokens and isinstance(value, str) else number


def validate_training(method: str, training: dict) -> None:
    """Every `training` key must be a field of TRL's GRPOConfig/SFTConfig (typos name the
    closest fields); numbers and booleans are type-checked here (in place: a YAML `1e-6` text
    becomes a float), the rest by TRL itself when the config is built."""
    fields = trainer_config_fields(method)
    for key in list(training):
        if key not in fields:
            raise UserError(
                f"recipe: unknown key 'training.{key}' for {method}{suggest(key, fields)}"
            )
        training[key] = _check_value(key, training[key], fields[key], method)
    check_text(training.get("output_dir"), "training.output_dir")
    if method == "grpo" and training.get("reward_weights") is not None:
        raise UserError(
            "recipe: key 'training.reward_weights': set weights on each reward under 'rewards' instead"
        )
    _check_choices(training, fields, method)


def trainer_config(method: str, training: dict, extra: dict | None = None):
    """TRL's GRPOConfig/SFTConfig from the recipe's `training` section (checked by
    validate_training), through transformers' HfArgumentParser as TrlParser does, so TRL's
    own validation applies. vlmr1's defaults fill what the recipe leaves unset: CPU-safe
    precision without CUDA, TensorBoard, the columns the image transform needs; `extra`
    (vlmr1's own settings, such as GRPO's reward weights) goes last.

    Built in the process that trains: TRL reads the world size and sets up the device here.
    """
    import torch
    from transformers import HfArgumentParser
    from trl import GRPOConfig, SFTConfig

    from vlmr1_cli.secrets import take_hub_token

    config_class = GRPOConfig if method == "grpo" else SFTConfig
    cfg = dict(training)
    take_hub_token(cfg)  # to HF_TOKEN: training_args.bin pickles the config, token and all
    if not torch.cuda.is_available():
        cfg.setdefault("use_cpu", True)
        cfg.setdefault("bf16", False)
        cfg.setdefault("fp16", False)
    if cfg.get("report_to") is None:  # unset or null: TensorBoard ("none" turns logging off)
        cfg["report_to"] = "tensorboard"
    # Images load lazily in a dataset transform that needs the path columns.
    cfg.setdefault("remove_unused_columns", False)
    if "activation_checkpointing" not in cfg and "gradient_checkpointing" not in cfg:
        # TRL's configs default the old name (gradient_checkpointing=True); stating TRL's default
        # under transformers 5's name keeps the behaviour without its FutureWarning on every run.
        field = config_class.__dataclass_fields__["gradient_checkpointing"]
        cfg["activation_checkpointing"] = field.default
    if method == "grpo":
        # vlmr1 logs its own samples; TRL's image logging hangs mixed text/image batches
        # on several processes (see train/checks.check_batch).
        cfg.setdefault("log_multimodal", False)
    else:
        # max_length=None: the default 1024 can cut through image tokens (docs/environment.md §6).
        cfg.setdefault("max_length", None)
    cfg.update(extra or {})
    try:
        # transformers types the parser's argument as one dataclass type, not a union of two
        (config,) = HfArgumentParser(config_class).parse_dict(cfg)  # type: ignore[arg-type]
    except (TypeError, ValueError) as e:
        raise UserError(f"recipe: section 'training': {str(e).splitlines()[0]}") from None
    return config


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
            f"for {method}{suggest(loss, choices)}"
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
                    f"({', '.join(sorted(known))}){suggest(str(name), known)}"
                )

"""The recipe's `training` section against TRL's GRPOConfig / SFTConfig: every key a field,
numbers and booleans type- and range-checked, documented choices checked before the run."""

from __future__ import annotations

import re
from typing import Any

from vlmr1_cli.errors import UserError
from vlmr1_cli.recipes.values import check_number, suggest, training_range


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


def validate_training(recipe: dict) -> None:
    """Every `training` key must be a field of TRL's GRPOConfig/SFTConfig (typos name the
    closest fields); numbers and booleans are type-checked here, the rest by TRL itself."""
    fields = trainer_config_fields(recipe["method"])
    for key in list(recipe["training"]):
        if key not in fields:
            raise UserError(
                f"recipe: unknown key 'training.{key}' for {recipe['method']}{suggest(key, fields)}"
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

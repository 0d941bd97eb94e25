"""Load a checkpoint for export and fold a LoRA adapter into its base weights."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vlmr1_cli.errors import UserError

DTYPES = ("bfloat16", "float16", "float32")


def check_export_dtype(dtype: str | None) -> None:
    """The dtypes a model folder is written in (stricter than loading's `check_dtype`)."""
    if dtype is not None and dtype not in DTYPES:
        raise UserError(f"--dtype '{dtype}': choose one of {', '.join(DTYPES)}")


def stored_dtype(model_dir: str | Path) -> str:
    """The dtype a full checkpoint's config.json declares (float32 when it says nothing)."""
    cfg = Path(model_dir) / "config.json"
    try:
        data = json.loads(cfg.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise UserError(f"{cfg}: unreadable config") from None
    for holder in (data, data.get("text_config") or {}):
        value = holder.get("dtype") or holder.get("torch_dtype")
        if isinstance(value, str) and value in DTYPES:
            return value
    return "float32"


def load_for_export(
    model_dir: str | Path, dtype: str | None, device: str | None, revision: str | None = None
):
    """A `LoadedModel` (models.loading) in `dtype` (None: as stored); adapters stay unmerged.
    `revision`: that of an adapter's base named by a Hub id."""
    from vlmr1_cli.models.loading import load_model

    return load_model(str(model_dir), dtype=dtype, device=device, revision=revision)


def merge_adapter(peft_model: Any) -> Any:
    """Fold every LoRA delta into its base weight; returns the plain transformers model."""
    merged = peft_model.merge_and_unload(safe_merge=True)
    if any("lora_" in name for name, _ in merged.named_parameters()):
        raise UserError("LoRA merge left adapter weights behind (unsupported adapter type?)")
    return merged


def cast(model: Any, dtype: str) -> Any:
    import torch

    return model.to(getattr(torch, dtype))

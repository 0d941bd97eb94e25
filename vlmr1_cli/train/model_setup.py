"""The trainable model: loading it, the four training modes (full fine-tuning, LoRA with the
vision tower left out by default, frozen vision tower, frozen language model)."""

from __future__ import annotations

from typing import Any

from vlmr1_cli.errors import UserError
from vlmr1_cli.models.base import ModelFamily


def load_model(model_path: str, family: ModelFamily, recipe: dict):
    """Load the checkpoint (local files only) and apply the recipe's freezing."""
    import torch
    from transformers import AutoModelForImageTextToText

    m = recipe["model"]
    # `is True`, not bool(): a stray string such as "no" must never turn remote code on.
    kwargs: dict[str, Any] = {"local_files_only": True, "trust_remote_code": m.get("trust_remote_code") is True}
    if m.get("dtype"):
        kwargs["dtype"] = getattr(torch, m["dtype"])
    if m.get("attn_implementation"):
        kwargs["attn_implementation"] = m["attn_implementation"]
    try:
        model = AutoModelForImageTextToText.from_pretrained(model_path, **kwargs)
    except (OSError, ValueError) as e:
        raise UserError(f"{m['path']}: cannot load model: {str(e).splitlines()[0]}") from None
    apply_freezing(model, family, recipe["freeze"])
    return model


def check_dtype(name: str | None) -> None:
    if name is None:
        return
    import torch

    if not isinstance(getattr(torch, str(name), None), torch.dtype):
        raise UserError(f"recipe: key 'model.dtype': unknown dtype '{name}' (use float32, bfloat16 or float16)")


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def apply_freezing(model, family: ModelFamily, freeze: dict) -> int:
    """Freeze the vision tower and/or the language model; returns the number of frozen tensors."""
    frozen = 0
    for name, param in model.named_parameters():
        if (freeze.get("vision") and _under(name, family.vision_prefixes)) or (
            freeze.get("language") and _under(name, family.language_prefixes)
        ):
            param.requires_grad_(False)
            frozen += 1
    if (freeze.get("vision") or freeze.get("language")) and frozen == 0:
        raise UserError(f"recipe: key 'freeze': no parameters matched the {family.name} module names")
    return frozen


def lora_config(model, family: ModelFamily, peft: dict):
    """LoRA on the language model's linear layers (lm_head excluded); the vision tower only
    with `peft.include_vision` (vLLM cannot serve vision-tower LoRA)."""
    if not peft.get("enabled"):
        return None
    import torch
    from peft import LoraConfig

    targets = peft.get("target_modules", "all-linear")
    if targets == "all-linear":
        targets = sorted(
            name for name, mod in model.named_modules()
            if isinstance(mod, torch.nn.Linear) and not name.endswith("lm_head")
            and (peft.get("include_vision") or not _under(name, family.vision_prefixes))
        )
    if not targets:
        raise UserError("recipe: key 'peft.target_modules': no linear layer to adapt")
    return LoraConfig(r=int(peft["r"]), lora_alpha=int(peft["lora_alpha"]),
                      lora_dropout=float(peft["lora_dropout"]), target_modules=targets,
                      task_type="CAUSAL_LM")

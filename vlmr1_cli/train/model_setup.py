"""The trainable model: loading it, the four training modes (full fine-tuning, LoRA with the
vision tower left out by default, frozen vision tower, frozen language model)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vlmr1_cli.errors import UserError
from vlmr1_cli.models.base import ModelFamily


def check_model_weights(model_path: str, recipe: dict) -> None:
    """The weights files are whole (headers only, no tensor read): called before the data
    is built, so a truncated download or copy fails in seconds, naming the file."""
    from vlmr1_cli.models.integrity import check_model_files

    check_model_files(model_path, label=str(recipe["model"]["path"]))


def _load_errors() -> tuple[type[BaseException], ...]:
    """What from_pretrained raises on a broken checkpoint (safetensors' own error included)."""
    errors: tuple[type[BaseException], ...] = (OSError, ValueError, KeyError, RuntimeError)
    try:
        from safetensors import SafetensorError

        errors += (SafetensorError,)
    except ImportError:
        pass
    return errors


def load_policy_model(model_path: str, family: ModelFamily, recipe: dict):
    """The model to train: the checkpoint (local files only) with the recipe's dtype,
    attention implementation and freezing. (Inference loads with `models.loading.load_model`.)"""
    import torch
    from transformers import AutoModelForImageTextToText

    m = recipe["model"]
    check_model_weights(model_path, recipe)
    # `is True`, not bool(): a stray string such as "no" must never turn remote code on.
    kwargs: dict[str, Any] = {"local_files_only": True, "trust_remote_code": m.get("trust_remote_code") is True}
    if m.get("dtype"):
        kwargs["dtype"] = getattr(torch, m["dtype"])
    if m.get("attn_implementation"):
        kwargs["attn_implementation"] = m["attn_implementation"]
    try:
        model = AutoModelForImageTextToText.from_pretrained(model_path, **kwargs)
    except torch.OutOfMemoryError:
        raise
    except _load_errors() as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise UserError(f"{m['path']}: cannot load model: {first}") from None
    apply_freezing(model, family, recipe["freeze"])
    return model


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


FINAL_STAGING = ".final-model.tmp"  # one name for every rank: save_model is collective


def save_final_model(trainer, processor, out: Path) -> None:
    """Save the final model and processor into `out` so that a failure (a full disk, a kill)
    never leaves a config.json beside missing or partial weights: everything is written into
    a staging folder inside `out` first, then moved up file by file, config.json last.

    Every rank calls this (ZeRO-3 and FSDP gather the weights collectively); only the main
    process writes and moves files.
    """
    import os
    import shutil

    main = trainer.is_world_process_zero()
    staging = Path(out) / FINAL_STAGING
    if main and staging.exists():
        shutil.rmtree(staging)  # a killed run's
    try:
        trainer.save_model(str(staging))
        if main:
            processor.save_pretrained(str(staging))
            files = sorted(p for p in staging.rglob("*") if p.is_file())
            for path in sorted(files, key=lambda p: p.relative_to(staging) == Path("config.json")):
                dest = Path(out) / path.relative_to(staging)
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(path, dest)
    except Exception as e:
        if main:
            shutil.rmtree(staging, ignore_errors=True)
        from vlmr1_cli.io import wrapped_os_error, write_problem

        fault = e if isinstance(e, OSError) else wrapped_os_error(e)  # safetensors' "(os error 28)"
        if fault is None:
            raise
        raise UserError(f"cannot save the final model: {write_problem(out, fault)}") from None
    if main:
        shutil.rmtree(staging, ignore_errors=True)

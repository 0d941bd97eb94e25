"""Load a model and its processor from a folder, a preset name, a LoRA adapter folder, or a
Hub id already in the local cache. Nothing is downloaded."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlmr1_cli.errors import UserError
from vlmr1_cli.models.base import ModelFamily, PixelLimits
from vlmr1_cli.models.presets import resolve_model_path
from vlmr1_cli.models.registry import family_for_path

META_FILE = "vlmr1.json"  # written beside every model vlmr1 saves: family, frame, prompt, limits


@dataclass
class LoadedModel:
    model: Any
    processor: Any
    family: ModelFamily
    limits: PixelLimits
    path: str  # the folder the weights came from (the adapter folder for LoRA)
    base_path: str  # the full-model folder (same as path unless LoRA)
    meta: dict  # contents of vlmr1.json, {} if absent
    is_adapter: bool = False


def read_meta(folder: str | Path) -> dict:
    f = Path(folder) / META_FILE
    if not f.is_file():
        return {}
    try:
        return json.loads(f.read_text(encoding="utf-8"))
    except ValueError:
        raise UserError(f"{f}: invalid JSON") from None


def resolve_local(name_or_path: str) -> str:
    """A folder, a preset, or a Hub id found in the local cache (offline)."""
    path = resolve_model_path(name_or_path)
    if Path(path).is_dir():
        return path
    if "/" in path and not Path(path).exists() and path.count("/") == 1:
        try:
            from huggingface_hub import snapshot_download

            return snapshot_download(path, local_files_only=True)
        except Exception:
            raise UserError(f"model '{path}': not a folder, a preset, or a Hub id in the local cache "
                            "(vlmr1 never downloads at run time; fetch it with `hf download` first)") from None
    raise UserError(f"model '{path}': folder not found")


def adapter_base(folder: str | Path) -> str | None:
    cfg = Path(folder) / "adapter_config.json"
    if not cfg.is_file():
        return None
    try:
        base = json.loads(cfg.read_text(encoding="utf-8")).get("base_model_name_or_path")
    except ValueError:
        raise UserError(f"{cfg}: invalid JSON") from None
    if not base:
        raise UserError(f"{cfg}: no 'base_model_name_or_path'")
    return str(base)


def load_processor_for(path: str, limits: PixelLimits | None = None) -> tuple[Any, ModelFamily, PixelLimits]:
    fam = family_for_path(path)
    proc = fam.load_processor(path, limits)
    return proc, fam, fam.pixel_limits(proc)


def load_model(name_or_path: str, dtype: str | None = None, device: str | None = None,
               trust_remote_code: bool = False, merge_adapter: bool = False) -> LoadedModel:
    """Load for inference. LoRA adapter folders load their base, then the adapter."""
    import torch
    from transformers import AutoModelForImageTextToText

    path = resolve_local(name_or_path)
    base = adapter_base(path)
    weights_from = resolve_local(base) if base else path
    meta = read_meta(path) or (read_meta(weights_from) if base else {})
    proc_dir = path if (Path(path) / "tokenizer_config.json").is_file() else weights_from
    try:
        processor, fam, limits = load_processor_for(proc_dir) if not base else (None, None, None)
        if base:
            fam = family_for_path(weights_from)
            processor = fam.load_processor(proc_dir)
            limits = fam.pixel_limits(processor)
        torch_dtype = getattr(torch, dtype) if dtype else "auto"
        model = AutoModelForImageTextToText.from_pretrained(
            weights_from, dtype=torch_dtype, local_files_only=True, trust_remote_code=trust_remote_code)
        if base:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, path, is_trainable=False)
            if merge_adapter:
                model = model.merge_and_unload()
    except UserError:
        raise
    except (OSError, ValueError) as e:
        raise UserError(f"{path}: cannot load model: {str(e).splitlines()[0]}") from None
    if device:
        model.to(device)
    model.eval()
    return LoadedModel(model, processor, fam, limits, path, weights_from, meta, is_adapter=bool(base))

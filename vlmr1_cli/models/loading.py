"""Load a model and its processor from a folder, a preset name, a LoRA adapter folder, or a
Hub id already in the local cache. Nothing is downloaded.

`locate_model` answers every question that needs no weights (which folder holds the
weights, the processor, the adapter, the run's `vlmr1.json`); `load_model` then loads.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlmr1_cli.errors import UserError
from vlmr1_cli.io import read_json_object
from vlmr1_cli.models.base import ModelFamily, PixelLimits
from vlmr1_cli.models.presets import resolve_model_path
from vlmr1_cli.models.registry import family_for_path

META_FILE = "vlmr1.json"  # written beside every model vlmr1 saves: family, frame, prompt, limits
_CHECKPOINT = re.compile(r"^checkpoint-\d+$")


@dataclass
class ModelSource:
    path: str  # the resolved folder (the adapter folder for LoRA)
    weights_dir: str  # the full-model folder (same as path unless LoRA)
    processor_dir: str  # where the tokenizer/processor files are
    is_adapter: bool
    meta: dict  # contents of vlmr1.json, {} if absent
    meta_path: str | None  # where vlmr1.json was found


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
    meta_path: str | None = None


def read_meta(folder: str | Path) -> dict:
    f = Path(folder) / META_FILE
    if not f.is_file():
        return {}
    return read_json_object(f)


def resolve_local(name_or_path: str) -> str:
    """A folder, a preset, or a Hub id found in the local cache (offline)."""
    path = resolve_model_path(name_or_path)
    if Path(path).is_dir():
        return path
    if "/" in path and not Path(path).exists() and path.count("/") == 1 and not path.startswith((".", "/")):
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
    except (ValueError, UnicodeDecodeError, AttributeError):
        raise UserError(f"{cfg}: invalid JSON") from None
    if not base:
        raise UserError(f"{cfg}: no 'base_model_name_or_path'")
    return str(base)


def find_meta(path: str, weights_dir: str) -> tuple[dict, str | None]:
    """vlmr1.json of the model: its folder, the training run above a `checkpoint-N`
    folder (the trainer saves checkpoints without it), or an adapter's base."""
    candidates = [Path(path)]
    if _CHECKPOINT.match(Path(path).name):
        candidates.append(Path(path).parent)
    if weights_dir != path:
        candidates.append(Path(weights_dir))
    for folder in candidates:
        meta = read_meta(folder)
        if meta:
            return meta, str(folder / META_FILE)
    return {}, None


def locate_model(name_or_path: str) -> ModelSource:
    """Resolve a model argument without loading weights."""
    path = resolve_local(name_or_path)
    base = adapter_base(path)
    weights_dir = resolve_local(base) if base else path
    meta, meta_path = find_meta(path, weights_dir)
    proc_dir = path if (Path(path) / "tokenizer_config.json").is_file() else weights_dir
    return ModelSource(path, weights_dir, proc_dir, bool(base), meta, meta_path)


def load_processor_for(path: str, limits: PixelLimits | None = None,
                       family_dir: str | None = None) -> tuple[Any, ModelFamily, PixelLimits]:
    """The processor in `path`, the family of the model in `family_dir` (default: `path`)."""
    fam = family_for_path(family_dir or path)
    try:
        proc = fam.load_processor(path, limits)
    except (OSError, ValueError) as e:
        raise UserError(f"{path}: cannot load the processor: {str(e).splitlines()[0]}") from None
    return proc, fam, fam.pixel_limits(proc)


def _load_errors() -> tuple[type[BaseException], ...]:
    errors: tuple[type[BaseException], ...] = (OSError, ValueError, KeyError)
    try:
        from safetensors import SafetensorError

        errors += (SafetensorError,)
    except ImportError:
        pass
    return errors


def load_model(name_or_path: str, dtype: str | None = None, device: str | None = None,
               trust_remote_code: bool = False, merge_adapter: bool = False) -> LoadedModel:
    """Load for inference. LoRA adapter folders load their base, then the adapter."""
    import torch
    from transformers import AutoModelForImageTextToText

    src = locate_model(name_or_path)
    processor, fam, limits = load_processor_for(src.processor_dir, family_dir=src.weights_dir)
    if dtype is not None and not isinstance(getattr(torch, dtype, None), torch.dtype):
        raise UserError(f"--dtype '{dtype}': not a torch dtype (e.g. float32, bfloat16, float16)")
    try:
        model = AutoModelForImageTextToText.from_pretrained(
            src.weights_dir, dtype=getattr(torch, dtype) if dtype else "auto", local_files_only=True,
            trust_remote_code=trust_remote_code)
        if src.is_adapter:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, src.path, is_trainable=False)
            if merge_adapter:
                model = model.merge_and_unload()
    except UserError:
        raise
    except torch.OutOfMemoryError:
        raise
    except (*_load_errors(), RuntimeError) as e:
        where = src.path if src.is_adapter else src.weights_dir
        raise UserError(f"{where}: cannot load model: {str(e).strip().splitlines()[0]}") from None
    if device:
        model.to(device)
    model.eval()
    return LoadedModel(model, processor, fam, limits, src.path, src.weights_dir, src.meta,
                       is_adapter=src.is_adapter, meta_path=src.meta_path)

"""Load a model and its processor from a folder, a preset name, a LoRA adapter folder, or a
Hub id (`ORG/NAME`, downloaded into the Hugging Face cache on first use: models/hub.py).

`locate_model` answers every question that needs no weights (which folder holds the
weights, the processor, the adapter, the run's `vlmr1.json`); `load_model` then loads,
from local files only (whatever came from the Hub is in the cache by then).
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
from vlmr1_cli.models.hub import download_model, hub_id_of_cache_path, is_hub_id
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


def resolve_model(name_or_path: str, revision: str | None = None) -> str:
    """The local folder of a model argument: a folder, a preset (built once), or a Hub id
    `ORG/NAME` at `revision` (downloaded on first use, then read from the cache)."""
    path = resolve_model_path(name_or_path)
    hub = not Path(path).is_dir() and is_hub_id(path)
    if revision and not hub:
        raise UserError(
            f"model '{name_or_path}': a revision ('{revision}') applies to a Hub id "
            "(ORG/NAME), not to a local folder or preset"
        )
    if Path(path).is_dir():
        return path
    if hub:
        return download_model(path, revision)
    raise UserError(f"model '{path}': folder not found")


def adapter_base(folder: str | Path) -> str | None:
    return _adapter_config(folder)[0]


def adapter_origin(folder: str | Path) -> tuple[str | None, str | None]:
    """(base model, its revision) named by a LoRA adapter folder's adapter_config.json;
    (None, None) if the folder holds no adapter."""
    return _adapter_config(folder)


def _adapter_config(folder: str | Path) -> tuple[str | None, str | None]:
    """(base model, its revision) named by a LoRA adapter folder; (None, None) if not one."""
    cfg = Path(folder) / "adapter_config.json"
    if not cfg.is_file():
        return None, None
    try:
        data = json.loads(cfg.read_text(encoding="utf-8"))
        base, revision = data.get("base_model_name_or_path"), data.get("revision")
    except (ValueError, UnicodeDecodeError, AttributeError):
        raise UserError(f"{cfg}: invalid JSON") from None
    if not base:
        raise UserError(f"{cfg}: no 'base_model_name_or_path'")
    return str(base), (str(revision) if revision else None)


def resolve_base(base: str, revision: str | None = None) -> str:
    """The folder of an adapter's base: a folder, a preset, a Hub id (at `revision`), or a
    snapshot folder of another machine's Hugging Face cache (fetched again by id and commit)."""
    if not Path(base).is_dir() and not is_hub_id(base):
        cached = hub_id_of_cache_path(base)
        if cached is not None:
            return download_model(*cached)
    return resolve_model(base, revision)


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


def locate_model(name_or_path: str, revision: str | None = None) -> ModelSource:
    """Resolve a model argument without loading weights (downloading a Hub id's files).

    `revision` is that of the Hub id named; for a local LoRA adapter folder whose base is a
    Hub id, it is the base's (else the adapter's `revision`, else main).
    """
    named_hub_id = not Path(resolve_model_path(name_or_path)).is_dir() and is_hub_id(name_or_path)
    path = resolve_model(name_or_path, revision if named_hub_id else None)
    base, base_revision = _adapter_config(path)
    if revision and not named_hub_id:
        if not (base and is_hub_id(base)):
            raise UserError(
                f"model '{name_or_path}': a revision ('{revision}') applies to a Hub id "
                "(ORG/NAME) or to an adapter whose base is one"
            )
        base_revision = revision
    weights_dir = resolve_base(base, base_revision) if base else path
    meta, meta_path = find_meta(path, weights_dir)
    proc_dir = path if (Path(path) / "tokenizer_config.json").is_file() else weights_dir
    return ModelSource(path, weights_dir, proc_dir, bool(base), meta, meta_path)


def load_processor_for(
    path: str, limits: PixelLimits | None = None, family_dir: str | None = None
) -> tuple[Any, ModelFamily, PixelLimits]:
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


def check_image_token(model: Any, processor: Any, where: str) -> None:
    """The tokenizer writes the image placeholder the model expects. A folder without
    tokenizer.json (or with another model's) loads a tokenizer whose image token has another
    id: every image would then fail deep inside generate as "features and tokens do not match"."""
    token = getattr(processor, "image_token", None)
    want = getattr(model.config, "image_token_id", None)
    tokenizer = getattr(processor, "tokenizer", None)
    if not isinstance(token, str) or not isinstance(want, int) or tokenizer is None:
        return
    got = tokenizer.convert_tokens_to_ids(token)
    if got != want:
        raise UserError(
            f"{where}: the tokenizer does not match the model: its image token {token!r} "
            f"is id {got}, the model's is {want} (tokenizer.json missing, or another model's?)"
        )


def check_dtype(name: str | None, where: str) -> None:
    """`name` (None: as stored) names a torch dtype; checked before any weights load, for
    training (`where`: the recipe key) and inference (the option) alike."""
    if name is None:
        return
    import torch

    if not isinstance(getattr(torch, str(name), None), torch.dtype):
        raise UserError(f"{where}: unknown dtype '{name}' (use float32, bfloat16 or float16)")


def load_model(
    name_or_path: str | ModelSource,
    dtype: str | None = None,
    device: str | None = None,
    trust_remote_code: bool = False,
    merge_adapter: bool = False,
    revision: str | None = None,
) -> LoadedModel:
    """Load for inference. LoRA adapter folders load their base, then the adapter. A
    `ModelSource` (from `locate_model`) is loaded as located, without resolving it again."""
    import torch
    from transformers import AutoModelForImageTextToText

    src = (
        name_or_path
        if isinstance(name_or_path, ModelSource)
        else locate_model(name_or_path, revision)
    )
    processor, fam, limits = load_processor_for(src.processor_dir, family_dir=src.weights_dir)
    check_dtype(dtype, "--dtype")
    try:
        # A transformers model, or a PeftModel around one: what they share is torch's Module.
        model: torch.nn.Module = AutoModelForImageTextToText.from_pretrained(
            src.weights_dir,
            dtype=getattr(torch, dtype) if dtype else "auto",
            local_files_only=True,
            trust_remote_code=trust_remote_code,
        )
        if src.is_adapter:
            from peft import PeftModel

            adapted = PeftModel.from_pretrained(model, src.path, is_trainable=False)
            model = adapted.merge_and_unload() if merge_adapter else adapted
    except UserError:
        raise
    except torch.OutOfMemoryError:
        raise
    except _load_errors() + (RuntimeError,) as e:
        where = src.path if src.is_adapter else src.weights_dir
        raise UserError(f"{where}: cannot load model: {str(e).strip().splitlines()[0]}") from None
    check_image_token(model, processor, src.processor_dir)
    if device:
        model.to(device)
    model.eval()
    return LoadedModel(
        model,
        processor,
        fam,
        limits,
        src.path,
        src.weights_dir,
        src.meta,
        is_adapter=src.is_adapter,
        meta_path=src.meta_path,
    )

"""What the memory plan reads of the model: its files (for a Hub id only config.json and the
processor config are fetched), exact parameter counts and sizes from the model class built on
the meta device, and the processor's pixel limits with the recipe's over them.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from vlmr1_cli.errors import UserError
from vlmr1_cli.recipes.schema import PeftSettings, Recipe
from vlmr1_cli.train.memory_plan import ModelShape


def model_files(recipe: Recipe) -> Path:
    """The folder holding the model's config.json: a local folder or preset as is; for a
    Hub id only config.json and preprocessor_config.json are fetched (and cached)."""
    from vlmr1_cli.models.hub import is_hub_id
    from vlmr1_cli.models.loading import adapter_origin
    from vlmr1_cli.models.presets import resolve_model_path

    m = recipe.model
    if m.adapter is not None or (m.path and adapter_origin(resolve_model_path(str(m.path)))[0]):
        from vlmr1_cli.train.model_setup import locate_training_model

        # training on from a LoRA adapter: its base, as the run resolves it
        return Path(locate_training_model(recipe, m.revision)[0])
    given = str(m.path)
    path = resolve_model_path(given)
    if Path(path).is_dir():
        if not (Path(path) / "config.json").is_file():
            raise UserError(f"recipe: key 'model.path': {given} has no config.json")
        return Path(path)
    if not is_hub_id(path):
        raise UserError(f"recipe: key 'model.path': folder not found: {given}")
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    from vlmr1_cli.models.hub import describe_failure

    revision = m.revision
    try:
        config = Path(hf_hub_download(path, "config.json", revision=revision))
    except Exception as e:  # every Hub/network failure becomes one line
        raise UserError(describe_failure(path, revision, e)) from None
    for name in ("preprocessor_config.json", "processor_config.json"):
        try:
            hf_hub_download(path, name, revision=revision)
            break
        except EntryNotFoundError:
            continue  # neither: the family's default pixel limits apply
        except Exception as e:
            raise UserError(describe_failure(path, revision, e)) from None
    return config.parent


def _config_dtype(config: Any) -> str:
    dtype = getattr(config, "dtype", None) or getattr(config, "torch_dtype", None)
    if dtype is None:
        text = getattr(config, "get_text_config", lambda: None)()
        dtype = getattr(text, "dtype", None) or getattr(text, "torch_dtype", None)
    return str(dtype or "float32").replace("torch.", "")


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


_UNIT = re.compile(r"\.(layers|blocks)\.\d+$")


def model_shape(folder: Path, family: Any, peft: PeftSettings) -> ModelShape:
    """Parameter counts from the model class built on the meta device (no memory, no
    weights), and the sizes from its config."""
    import torch
    from transformers import AutoConfig, AutoModelForImageTextToText

    from vlmr1_cli.train.model_setup import lora_config

    try:
        config = AutoConfig.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError, KeyError) as e:
        raise UserError(
            f"{folder / 'config.json'}: cannot read the model config: {str(e).splitlines()[0]}"
        ) from None
    with torch.device("meta"):
        model = AutoModelForImageTextToText.from_config(config)
    names = dict(model.named_parameters())  # tied weights once
    params = sum(p.numel() for p in names.values())
    vision = sum(p.numel() for n, p in names.items() if _under(n, family.vision_prefixes))
    language = sum(p.numel() for n, p in names.items() if _under(n, family.language_prefixes))
    units = [
        sum(p.numel() for p in m.parameters()) for n, m in model.named_modules() if _UNIT.search(n)
    ]
    embed = model.get_input_embeddings().weight.numel()
    lora = lora_inputs = 0
    modules = dict(model.named_modules())
    lora_cfg = lora_config(model, family, dataclasses.replace(peft, enabled=True))
    targets = lora_cfg.target_modules
    targets = [targets] if isinstance(targets, str) else list(targets)
    for name, mod in modules.items():
        if isinstance(mod, torch.nn.Linear) and any(
            name == t or name.endswith("." + t) for t in targets
        ):
            lora += int(peft.r) * (mod.in_features + mod.out_features)
            lora_inputs += mod.in_features
    text = config.get_text_config()
    vcfg = getattr(config, "vision_config", None)
    vh = int(getattr(vcfg, "embed_dim", None) or getattr(vcfg, "hidden_size", 0) or 0)
    vi = int(
        getattr(vcfg, "intermediate_size", None) or vh * float(getattr(vcfg, "mlp_ratio", 4) or 4)
    )
    vdepth = int(getattr(vcfg, "depth", None) or getattr(vcfg, "num_hidden_layers", 0) or 0)
    patch = int(getattr(vcfg, "patch_size", 14) or 14)
    merge = int(getattr(vcfg, "spatial_merge_size", 0) or 0)
    tile_tokens = tile_patches = 0
    if not merge:  # a tiling family: SigLIP tiles of image_size, pixel-shuffled by scale_factor
        side = int(getattr(vcfg, "image_size", 0) or 0) // patch
        scale = int(getattr(config, "scale_factor", 1) or 1)
        tile_patches, tile_tokens, merge = side * side, side * side // (scale * scale), 1
    heads = int(text.num_attention_heads)
    gated = any(
        n.endswith("mlp.gate_proj") for n in modules if not _under(n, family.vision_prefixes)
    )
    vgated = any(n.endswith("mlp.gate_proj") for n in modules if _under(n, family.vision_prefixes))
    return ModelShape(
        model_type=str(config.model_type),
        family=family.name,
        params=params,
        vision_params=vision,
        language_params=language,
        largest_unit_params=max([*units, embed]),
        lora_params=lora,
        lora_inputs=lora_inputs,
        stored_dtype=_config_dtype(config),
        hidden=int(text.hidden_size),
        layers=int(text.num_hidden_layers),
        heads=heads,
        kv_heads=int(getattr(text, "num_key_value_heads", None) or heads),
        head_dim=int(getattr(text, "head_dim", None) or text.hidden_size // heads),
        intermediate=int(text.intermediate_size),
        vocab=int(text.vocab_size),
        gated_mlp=gated,
        vision_hidden=vh,
        vision_depth=vdepth,
        vision_intermediate=vi,
        vision_gated_mlp=vgated,
        patch_size=patch,
        merge_size=merge,
        tile_tokens=tile_tokens,
        tile_patches=tile_patches,
    )


def pixel_limits(recipe: Recipe, folder: Path, family: Any):
    """The processor's pixel limits from preprocessor_config.json (the family reads them as
    from a loaded processor), with the recipe's model.min_pixels/max_pixels over them."""
    from vlmr1_cli.models.base import PixelLimits

    data: dict = {}
    # transformers 5 saves processor_config.json with an "image_processor" section; older
    # checkpoints (the Qwen2.5-VL Hub repos) a flat preprocessor_config.json
    for name, section in (
        ("preprocessor_config.json", None),
        ("processor_config.json", "image_processor"),
    ):
        path = folder / name
        if not path.is_file():
            continue
        try:
            found = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            raise UserError(f"{path}: invalid JSON") from None
        found = found.get(section) if section and isinstance(found, dict) else found
        if isinstance(found, dict):
            data = found
            break
    base = family.pixel_limits(
        SimpleNamespace(**{k: v for k, v in data.items() if k.isidentifier()})
    )
    m = recipe.model
    if m.min_pixels or m.max_pixels:
        base = PixelLimits(
            int(m.min_pixels or base.min_pixels),
            int(m.max_pixels or base.max_pixels),
            base.factor,
            None if m.max_pixels else base.longest_edge,
        )
    return base

"""Everything GRPO and SFT share: checking a recipe before any model loads, loading and
freezing the model, the LoRA config, trainer arguments, and the run's metadata file."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlmr1_cli.errors import UserError
from vlmr1_cli.models.base import ModelFamily, PixelLimits
from vlmr1_cli.models.loading import META_FILE, resolve_local
from vlmr1_cli.models.registry import family_for_path
from vlmr1_cli.recipes import dump_recipe, validate_training

RECIPE_FILE = "vlmr1_recipe.yaml"


@dataclass
class RunContext:
    recipe: dict
    model_path: str
    family: ModelFamily
    processor: Any
    limits: PixelLimits
    output_dir: Path


def check_data_files(recipe: dict) -> None:
    if not recipe["data"]["train"]:
        raise UserError("recipe: key 'data.train' is empty: name at least one JSONL file")
    for split in ("train", "eval"):
        for i, src in enumerate(recipe["data"][split]):
            if not Path(src["path"]).is_file():
                raise UserError(f"recipe: key 'data.{split}[{i}].path': file not found: {src['path']}")
            if not Path(src["image_root"]).is_dir():
                raise UserError(f"recipe: key 'data.{split}[{i}].image_root': folder not found: {src['image_root']}")


def prepare_run(recipe: dict) -> RunContext:
    """Validate everything that can be validated without loading weights."""
    validate_training(recipe)
    check_data_files(recipe)
    if recipe["method"] == "grpo":
        from vlmr1_cli.train.rewards import build_reward_funcs

        build_reward_funcs(recipe)  # name typos fail here, before the model loads
    model_path = resolve_local(str(recipe["model"]["path"]))
    family = family_for_path(model_path)
    m = recipe["model"]
    limits = None
    if m.get("min_pixels") or m.get("max_pixels"):
        base = family.pixel_limits(family.load_processor(model_path))
        limits = PixelLimits(int(m.get("min_pixels") or base.min_pixels),
                             int(m.get("max_pixels") or base.max_pixels), base.factor)
    processor = family.load_processor(model_path, limits)
    limits = family.pixel_limits(processor)
    out = Path(recipe["training"].get("output_dir") or f"runs/{recipe['method']}")
    recipe["training"]["output_dir"] = str(out)
    return RunContext(recipe, model_path, family, processor, limits, out)


def load_model(ctx: RunContext):
    import torch
    from transformers import AutoModelForImageTextToText

    m = ctx.recipe["model"]
    kwargs: dict[str, Any] = {"local_files_only": True, "trust_remote_code": bool(m.get("trust_remote_code"))}
    if m.get("dtype"):
        kwargs["dtype"] = getattr(torch, m["dtype"])
    if m.get("attn_implementation"):
        kwargs["attn_implementation"] = m["attn_implementation"]
    model = AutoModelForImageTextToText.from_pretrained(ctx.model_path, **kwargs)
    apply_freezing(model, ctx.family, ctx.recipe["freeze"])
    return model


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def apply_freezing(model, family: ModelFamily, freeze: dict) -> None:
    frozen = 0
    for name, param in model.named_parameters():
        if (freeze.get("vision") and _under(name, family.vision_prefixes)) or (
            freeze.get("language") and _under(name, family.language_prefixes)
        ):
            param.requires_grad_(False)
            frozen += 1
    if (freeze.get("vision") or freeze.get("language")) and frozen == 0:
        raise UserError(f"recipe: key 'freeze': no parameters matched the {family.name} module names")


def lora_config(model, family: ModelFamily, peft: dict):
    """LoRA on the language model's linear layers; the vision tower only if asked."""
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
    return LoraConfig(r=int(peft["r"]), lora_alpha=int(peft["lora_alpha"]),
                      lora_dropout=float(peft["lora_dropout"]), target_modules=targets,
                      task_type="CAUSAL_LM")


def trainer_args(ctx: RunContext, extra: dict | None = None):
    """TRL config from the recipe's `training` section; CPU-safe precision when unset."""
    import torch

    if ctx.recipe["method"] == "grpo":
        from trl import GRPOConfig as Cfg
    else:
        from trl import SFTConfig as Cfg
    cfg = dict(ctx.recipe["training"])
    if not torch.cuda.is_available():
        cfg.setdefault("use_cpu", True)
        cfg.setdefault("bf16", False)
        cfg.setdefault("fp16", False)
    cfg.setdefault("report_to", "tensorboard")
    # Images load lazily in a dataset transform that needs the path columns.
    cfg.setdefault("remove_unused_columns", False)
    cfg.update(extra or {})
    if cfg.get("use_vllm"):
        import importlib.util

        if importlib.util.find_spec("vllm") is None:
            raise UserError("recipe: key 'training.use_vllm': vLLM is not installed (pip install 'vlmr1[vllm]')")
    try:
        return Cfg(**cfg)
    except (TypeError, ValueError) as e:
        raise UserError(f"recipe: section 'training': {str(e).splitlines()[0]}") from None


def run_meta(ctx: RunContext) -> dict:
    r = ctx.recipe
    return {
        "family": ctx.family.name,
        "frame": ctx.family.frame_name,
        "pixel_limits": ctx.limits.as_dict(),
        "prompt": r["prompt"],
        "base_model": str(r["model"]["path"]),
        "datasets": [s["path"] for s in r["data"]["train"]],
        "recipe": RECIPE_FILE,
        "method": r["method"],
        "tasks": sorted({t for t in r.get("rewards", {})}) or None,
    }


def write_run_files(ctx: RunContext, folder: Path | None = None) -> None:
    from vlmr1_cli.io import atomic_open, write_json

    folder = Path(folder or ctx.output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / META_FILE, run_meta(ctx))
    with atomic_open(folder / RECIPE_FILE) as fh:
        fh.write(dump_recipe(ctx.recipe))


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def last_checkpoint(output_dir: Path) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    if not output_dir.is_dir():
        return None
    return get_last_checkpoint(str(output_dir))


def dumps(obj) -> str:
    return json.dumps(obj, ensure_ascii=False)

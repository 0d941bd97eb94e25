"""What GRPO and SFT share: preparing a run (every check, the processor, the datasets: all
before any weights load), the TRL arguments, and the run's metadata files."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlmr1_cli.errors import UserError
from vlmr1_cli.models.base import ModelFamily, PixelLimits
from vlmr1_cli.models.loading import META_FILE, read_meta, resolve_local
from vlmr1_cli.models.registry import family_for_path
from vlmr1_cli.recipes import dump_recipe, validate_training
from vlmr1_cli.train import checks
from vlmr1_cli.train.checks import check_data_files  # noqa: F401  (re-exported for the CLI)
from vlmr1_cli.train.model_setup import apply_freezing, lora_config  # noqa: F401  (re-exported)

RECIPE_FILE = "vlmr1_recipe.yaml"


@dataclass
class RunContext:
    recipe: dict
    model_path: str
    family: ModelFamily
    processor: Any
    limits: PixelLimits
    output_dir: Path
    train_dataset: Any = None
    eval_dataset: Any = None
    resume_from: str | None = None
    reward_funcs: list = field(default_factory=list)
    reward_weights: list = field(default_factory=list)


def default_output_dir(recipe: dict) -> Path:
    return Path(recipe["training"].get("output_dir") or f"runs/{recipe['method']}")


def prepare_run(recipe: dict, resume: bool = False, load_data: bool = True) -> RunContext:
    """Validate everything that can be validated without loading weights: recipe keys, files,
    training modes, rewards (names and tasks), vLLM, the model's family and frame, the output
    folder, then the processor and the datasets."""
    from vlmr1_cli.train.model_setup import check_dtype

    validate_training(recipe)
    check_data_files(recipe)
    checks.check_modes(recipe)
    checks.check_vllm(recipe["training"])
    checks.check_launch_config(recipe["launch"])
    check_dtype(recipe["model"].get("dtype"))
    funcs, weights = [], []
    if recipe["method"] == "grpo":
        from vlmr1_cli.train.rewards import build_reward_funcs

        funcs, weights = build_reward_funcs(recipe)  # name typos fail here
    out = default_output_dir(recipe)
    recipe["training"]["output_dir"] = str(out)
    resume_from = checks.check_output_dir(out, resume)
    model_path = resolve_local(str(recipe["model"]["path"]))
    family = family_for_path(model_path)
    checks.check_family(recipe, family, read_meta(model_path))
    if recipe["training"].get("use_vllm"):
        from vlmr1_cli.models.processor_compat import check_vllm_loadable

        check_vllm_loadable(family, model_path)
    m = recipe["model"]
    limits = None
    if m.get("min_pixels") or m.get("max_pixels"):
        base = family.pixel_limits(family.load_processor(model_path))
        limits = PixelLimits(int(m.get("min_pixels") or base.min_pixels),
                             int(m.get("max_pixels") or base.max_pixels), base.factor)
    processor = family.load_processor(model_path, limits)
    limits = family.pixel_limits(processor)
    ctx = RunContext(recipe, model_path, family, processor, limits, out, resume_from=resume_from,
                     reward_funcs=funcs, reward_weights=weights)
    if load_data:
        load_datasets(ctx)
    return ctx


def load_datasets(ctx: RunContext) -> None:
    from vlmr1_cli.data.loader import build_dataset

    recipe, data = ctx.recipe, ctx.recipe["data"]
    sft = recipe["method"] == "sft"
    ctx.train_dataset = build_dataset(data["train"], ctx.family, ctx.limits, recipe["prompt"], with_answers=sft,
                                      seed=data["seed"], max_samples=data["max_samples"])
    if data["eval"]:
        ctx.eval_dataset = build_dataset(data["eval"], ctx.family, ctx.limits, recipe["prompt"], with_answers=sft,
                                         seed=data["seed"], max_samples=data["max_samples"])
    # Column reads that skip the image transform: cheap.
    table = ctx.train_dataset.with_format(None)
    tasks = set(table["task"])
    n_text = sum(1 for paths in table["image_paths"] if not paths)
    checks.check_tasks(recipe, tasks)
    checks.check_batch(recipe, n_text, len(table) - n_text)
    checks.check_sharding(recipe, n_text, len(table) - n_text)


def trainer_args(ctx: RunContext, extra: dict | None = None):
    """TRL config from the recipe's `training` section, with vlmr1's defaults where unset:
    CPU-safe precision, TensorBoard, the extra columns kept for the image transform."""
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
    if cfg.get("report_to") is None:  # unset or null: TensorBoard ("none" turns logging off)
        cfg["report_to"] = "tensorboard"
    # Images load lazily in a dataset transform that needs the path columns.
    cfg.setdefault("remove_unused_columns", False)
    if ctx.recipe["method"] == "grpo":
        # vlmr1 logs its own samples; TRL's image logging hangs mixed text/image batches
        # on several processes (see checks.check_batch).
        cfg.setdefault("log_multimodal", False)
    cfg.update(extra or {})
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
        "tasks": sorted({t for t in r.get("rewards") or {} if r["rewards"][t] is not None}) or None,
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

"""What GRPO and SFT share: preparing a run (every check, the processor, the datasets: all
before any weights load), the TRL arguments, and the run's metadata files."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlmr1_cli.errors import UserError
from vlmr1_cli.models.base import ModelFamily, PixelLimits
from vlmr1_cli.models.loading import META_FILE, read_meta
from vlmr1_cli.models.registry import family_for_path
from vlmr1_cli.recipes.loading import dump_recipe
from vlmr1_cli.recipes.trl_fields import validate_training
from vlmr1_cli.train import checks, run_folder
from vlmr1_cli.train.checks import check_data_files
from vlmr1_cli.train.model_setup import StartingAdapter

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
    # text-only beside image samples on several processes: run the vision tower on every rank
    vision_keepalive: bool = False
    adapter: StartingAdapter | None = None  # the LoRA adapter training continues from


def default_output_dir(recipe: dict) -> Path:
    return Path(recipe["training"].get("output_dir") or f"runs/{recipe['method']}")


def prepare_run(
    recipe: dict,
    resume: bool = False,
    load_data: bool = True,
    overwrite: bool = False,
    launched: bool = False,
) -> RunContext:
    """Validate everything that can be validated without loading weights: recipe keys, files,
    training modes, rewards (names and tasks), vLLM, the model's family and frame, the output
    folder, then the processor and the datasets. Nothing is written: `--overwrite` clears the
    folder only once every check has passed (run.py). `launched`: a process started by the
    launcher, which checked the output folder already (run_folder.check_output_dir)."""
    from vlmr1_cli.models.integrity import check_model_files
    from vlmr1_cli.models.loading import check_dtype
    from vlmr1_cli.train.model_setup import check_model_weights, locate_training_model

    validate_training(recipe)
    check_data_files(recipe)
    checks.check_modes(recipe)
    checks.check_vllm(recipe["training"])
    checks.check_launch_config(recipe["launch"])
    check_dtype(recipe["model"].get("dtype"), "recipe: key 'model.dtype'")
    funcs: list[Callable] = []
    weights: list[float] = []
    if recipe["method"] == "grpo":
        from vlmr1_cli.train.reward_funcs import build_reward_funcs

        funcs, weights = build_reward_funcs(recipe)  # name typos fail here
    out = default_output_dir(recipe)
    recipe["training"]["output_dir"] = str(out)
    resume_from = run_folder.check_output_dir(out, resume, overwrite, recipe, launched)
    # Hub ids download; an adapter (model.adapter, or model.path naming one) gives its base
    model_path, adapter = locate_training_model(recipe, model_revision(recipe))
    if adapter and overwrite and Path(adapter.folder).resolve() == out.resolve():
        raise UserError(
            f"recipe: key 'training.output_dir': {out} is the adapter being trained "
            f"({adapter.key}): --overwrite would delete it; choose another output_dir"
        )
    family = family_for_path(model_path)
    checks.check_family(recipe, family, read_meta(model_path))
    check_model_weights(
        model_path, recipe
    )  # a truncated weights file: named now, not after the data
    if adapter:
        check_model_files(adapter.folder, label=adapter.given)
    if recipe["training"].get("use_vllm"):
        from vlmr1_cli.models.processor_compat import check_vllm_loadable

        check_vllm_loadable(family, model_path)
    m = recipe["model"]
    limits = None
    if m.get("min_pixels") or m.get("max_pixels"):
        base = family.pixel_limits(family.load_processor(model_path))
        limits = PixelLimits(
            int(m.get("min_pixels") or base.min_pixels),
            int(m.get("max_pixels") or base.max_pixels),
            base.factor,
        )
    processor = family.load_processor(model_path, limits)
    limits = family.pixel_limits(processor)
    ctx = RunContext(
        recipe,
        model_path,
        family,
        processor,
        limits,
        out,
        resume_from=resume_from,
        reward_funcs=funcs,
        reward_weights=weights,
        adapter=adapter,
    )
    if load_data:
        load_datasets(ctx)
    if not launched:  # every check has passed: the memory plan's line, once per run
        from vlmr1_cli.train.plan_inputs import announce_plan

        announce_plan(recipe)
    return ctx


def model_revision(recipe: dict) -> str | None:
    """`model.revision`: the Hub branch, tag or commit of a `model.path` given as ORG/NAME."""
    revision = recipe["model"].get("revision")
    return None if revision is None else str(revision)


def load_datasets(ctx: RunContext) -> None:
    from vlmr1_cli.data.dataset import build_dataset, dataset_composition
    from vlmr1_cli.models.context import check_dataset_text, context_tokens

    recipe, data = ctx.recipe, ctx.recipe["data"]
    sft = recipe["method"] == "sft"
    ctx.train_dataset = build_dataset(
        data["train"],
        ctx.family,
        ctx.limits,
        recipe["prompt"],
        with_answers=sft,
        seed=data["seed"],
        max_samples=data["max_samples"],
    )
    if data["eval"]:
        ctx.eval_dataset = build_dataset(
            data["eval"],
            ctx.family,
            ctx.limits,
            recipe["prompt"],
            with_answers=sft,
            seed=data["seed"],
            max_samples=data["max_samples"],
        )
    # Before any tokenizer sees a row: text longer than the model's context is refused.
    context = context_tokens(ctx.model_path, ctx.processor)
    check_dataset_text(ctx.train_dataset, context, "recipe: key 'data.train'")
    if ctx.eval_dataset is not None:
        check_dataset_text(ctx.eval_dataset, context, "recipe: key 'data.eval'")
    # Arrow column reads that skip the image transform: cheap on millions of rows.
    tasks, n_text, n_image = dataset_composition(ctx.train_dataset)
    checks.check_tasks(recipe, tasks)
    checks.check_batch(recipe, n_text, n_image)
    ctx.vision_keepalive = checks.needs_vision_keepalive(recipe, n_text, n_image)


def trainer_args(ctx: RunContext, extra: dict | None = None):
    """TRL config from the recipe's `training` section, with vlmr1's defaults where unset:
    CPU-safe precision, TensorBoard, the extra columns kept for the image transform."""
    import torch
    from trl import GRPOConfig, SFTConfig

    from vlmr1_cli.secrets import take_hub_token

    config_class = GRPOConfig if ctx.recipe["method"] == "grpo" else SFTConfig

    cfg = dict(ctx.recipe["training"])
    take_hub_token(cfg)  # to HF_TOKEN: training_args.bin pickles the config, token and all
    if not torch.cuda.is_available():
        cfg.setdefault("use_cpu", True)
        cfg.setdefault("bf16", False)
        cfg.setdefault("fp16", False)
    if cfg.get("report_to") is None:  # unset or null: TensorBoard ("none" turns logging off)
        cfg["report_to"] = "tensorboard"
    # Images load lazily in a dataset transform that needs the path columns.
    cfg.setdefault("remove_unused_columns", False)
    if "activation_checkpointing" not in cfg and "gradient_checkpointing" not in cfg:
        # TRL's configs default the old name (gradient_checkpointing=True); stating TRL's default
        # under transformers 5's name keeps the behaviour without its FutureWarning on every run.
        field = config_class.__dataclass_fields__["gradient_checkpointing"]
        cfg["activation_checkpointing"] = field.default
    if ctx.recipe["method"] == "grpo":
        # vlmr1 logs its own samples; TRL's image logging hangs mixed text/image batches
        # on several processes (see checks.check_batch).
        cfg.setdefault("log_multimodal", False)
    cfg.update(extra or {})
    try:
        return config_class(**cfg)
    except (TypeError, ValueError) as e:
        raise UserError(f"recipe: section 'training': {str(e).splitlines()[0]}") from None


def run_meta(ctx: RunContext) -> dict:
    r, adapter = ctx.recipe, ctx.adapter
    base = adapter.base if adapter else str(r["model"]["path"])
    revision = adapter.base_revision if adapter else model_revision(r)
    return {
        "family": ctx.family.name,
        "frame": ctx.family.frame_name,
        "pixel_limits": ctx.limits.as_dict(),
        "prompt": r["prompt"],
        "base_model": base,
        **({"base_model_revision": revision} if revision else {}),
        # the LoRA adapter this run continued from (its weights are not merged into the base)
        **({"start_adapter": adapter.given} if adapter else {}),
        "datasets": [s["path"] for s in r["data"]["train"]],
        "recipe": RECIPE_FILE,
        "method": r["method"],
        "tasks": sorted({t for t in r.get("rewards") or {} if r["rewards"][t] is not None}) or None,
    }


def write_run_files(ctx: RunContext, folder: Path | None = None) -> None:
    from vlmr1_cli.io import atomic_open, share_weight_files, write_json

    folder = Path(folder or ctx.output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    share_weight_files(folder)  # called after each checkpoint's and the final save
    write_json(folder / META_FILE, run_meta(ctx))
    with atomic_open(folder / RECIPE_FILE) as fh:
        fh.write(dump_recipe(ctx.recipe))


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0

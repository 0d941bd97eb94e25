"""What GRPO and SFT share: preparing a run (every check, the processor, the datasets: all
before any weights load), the TRL arguments, and the run's metadata files."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlmr1_cli.data.dataset import PreparedMix
from vlmr1_cli.errors import UserError
from vlmr1_cli.models.base import ModelFamily, PixelLimits
from vlmr1_cli.models.loading import META_FILE, read_meta
from vlmr1_cli.models.registry import family_for_path
from vlmr1_cli.recipes.loading import dump_recipe
from vlmr1_cli.recipes.schema import DataSource, Recipe
from vlmr1_cli.recipes.trl_fields import trainer_config
from vlmr1_cli.train import checks, run_folder
from vlmr1_cli.train.checks import check_data_files
from vlmr1_cli.train.model_setup import StartingAdapter

RECIPE_FILE = "vlmr1_recipe.yaml"


@dataclass
class RunContext:
    """What a training process needs beside the recipe: the model located, its family and
    processor, the output folder and the checkpoint to resume from, the datasets."""

    recipe: Recipe
    model_path: str
    family: ModelFamily
    processor: Any
    limits: PixelLimits
    output_dir: Path
    train_dataset: Any = None
    eval_dataset: Any = None
    resume_from: str | None = None
    # text-only beside image samples on several processes: run the vision tower on every rank
    vision_keepalive: bool = False
    adapter: StartingAdapter | None = None  # the LoRA adapter training continues from
    # the prepared datasets, handed to the ranks of a launched run (hand_over)
    train_mix: PreparedMix | None = None
    eval_mix: PreparedMix | None = None


def prepare_run(
    recipe: Recipe,
    resume: bool = False,
    load_data: bool = True,
    overwrite: bool = False,
    launched: bool = False,
) -> RunContext:
    """Check everything about the run that the recipe's own rules (recipes/) cannot: the data
    files, training modes, reward names, vLLM, the model's files, family and frame, the output
    folder; then load the processor and prepare the datasets (records checked, tasks and batch
    arithmetic against the data). No weights load and nothing is written: `--overwrite`
    clears the folder only once every check has passed (run.py). `launched`: this machine is
    not the main one of a launched run, whose main machine checked the output folder
    (run_folder.check_output_dir)."""
    from vlmr1_cli.models.integrity import check_model_files
    from vlmr1_cli.models.loading import check_dtype
    from vlmr1_cli.train.model_setup import check_model_weights, locate_training_model

    check_data_files(recipe)
    checks.check_modes(recipe)
    checks.check_vllm(recipe.training)
    check_dtype(recipe.model.dtype, "recipe: key 'model.dtype'")
    if recipe.method == "grpo":
        from vlmr1_cli.train.reward_funcs import build_reward_funcs

        build_reward_funcs(recipe)  # name typos and bad options fail here
    out = Path(recipe.output_dir)
    resume_from = run_folder.check_output_dir(out, resume, overwrite, recipe, launched)
    # Hub ids download; an adapter (model.adapter, or model.path naming one) gives its base
    model_path, adapter = locate_training_model(recipe, recipe.model.revision)
    if adapter and overwrite and Path(adapter.folder).resolve() == out.resolve():
        raise UserError(
            f"recipe: key 'training.output_dir': {out} is the adapter being trained "
            f"({adapter.key}): --overwrite would delete it; choose another output_dir"
        )
    family = family_for_path(model_path)
    checks.check_family(recipe, family, read_meta(model_path))
    # a truncated weights file: named now, not after the data
    check_model_weights(model_path, recipe.model.path)
    if adapter:
        check_model_files(adapter.folder, label=adapter.given)
    if recipe.training.get("use_vllm"):
        from vlmr1_cli.models.processor_compat import check_vllm_loadable

        check_vllm_loadable(family, model_path)
    m = recipe.model
    limits = None
    if m.min_pixels or m.max_pixels:
        base = family.pixel_limits(family.load_processor(model_path))
        limits = PixelLimits(
            int(m.min_pixels or base.min_pixels), int(m.max_pixels or base.max_pixels), base.factor
        )
    processor = family.load_processor(model_path, limits)
    limits = family.pixel_limits(processor)
    ctx = RunContext(
        recipe, model_path, family, processor, limits, out, resume_from=resume_from, adapter=adapter
    )
    if load_data:
        load_datasets(ctx)
    if not launched:  # every check has passed: the memory plan's line, once per run
        from vlmr1_cli.train.plan_inputs import announce_plan

        announce_plan(recipe)
    return ctx


def load_datasets(ctx: RunContext) -> None:
    from vlmr1_cli.data.dataset import dataset_composition, open_mix, prepare_mix
    from vlmr1_cli.models.context import check_dataset_text, context_tokens

    recipe, data = ctx.recipe, ctx.recipe.data
    prompt = recipe.prompt.as_mapping()
    sft = recipe.method == "sft"

    def prepare(sources: list[DataSource]) -> PreparedMix:
        return prepare_mix(
            [dataclasses.asdict(s) for s in sources],
            ctx.family,
            ctx.limits,
            prompt,
            with_answers=sft,
            seed=data.seed,
            max_samples=data.max_samples,
        )

    ctx.train_mix = prepare(data.train)
    ctx.train_dataset = open_mix(ctx.train_mix)
    if data.eval:
        ctx.eval_mix = prepare(data.eval)
        ctx.eval_dataset = open_mix(ctx.eval_mix)
    # Before any tokenizer sees a row: text longer than the model's context is refused.
    context = context_tokens(ctx.model_path, ctx.processor)
    check_dataset_text(ctx.train_dataset, context, "recipe: key 'data.train'")
    if ctx.eval_dataset is not None:
        check_dataset_text(ctx.eval_dataset, context, "recipe: key 'data.eval'")
    # Arrow column reads that skip the image transform: cheap on millions of rows.
    tasks, n_text, n_image = dataset_composition(ctx.train_dataset)
    checks.check_tasks(recipe, tasks)
    checks.check_batch(recipe, n_text, n_image)
    ctx.vision_keepalive = checks.needs_vision_keepalive(recipe.launch, n_text, n_image)


# The launched run's hand-over: the parent prepares the run once and writes what its ranks
# need; each rank opens it (no checks, no data preparation) and trains.
HANDOVER_FILE = "run.json"


def hand_over(ctx: RunContext, folder: Path) -> Path:
    """Write the prepared run for the ranks of a launched run into `folder` (a private
    temporary folder): the resolved recipe without its secrets (the Hub token goes to the ranks
    through their environment), the located model, the resume point and the prepared data."""
    from vlmr1_cli.io import write_json
    from vlmr1_cli.secrets import SECRET_KEYS

    recipe = ctx.recipe.as_mapping()
    for section, key in SECRET_KEYS:
        recipe[section].pop(key, None)
    saved = {
        "recipe": recipe,
        "model_path": ctx.model_path,
        "family": ctx.family.name,
        "limits": ctx.limits.as_dict(),
        "limits_set": bool(ctx.recipe.model.min_pixels or ctx.recipe.model.max_pixels),
        "resume_from": ctx.resume_from,
        "vision_keepalive": ctx.vision_keepalive,
        "adapter": dataclasses.asdict(ctx.adapter) if ctx.adapter else None,
        "train_mix": ctx.train_mix.save(folder, "train") if ctx.train_mix else None,
        "eval_mix": ctx.eval_mix.save(folder, "eval") if ctx.eval_mix else None,
    }
    path = folder / HANDOVER_FILE
    write_json(path, saved)
    return path


def take_over(path: Path) -> RunContext:
    """A rank's run from the parent's hand-over file: the processor loads, the datasets open."""
    import json

    from vlmr1_cli.data.dataset import open_mix
    from vlmr1_cli.models.registry import family_by_name

    saved = json.loads(path.read_text(encoding="utf-8"))
    recipe = Recipe.from_mapping(saved["recipe"])
    family = family_by_name(saved["family"])
    # the recipe's pixel limits, as the parent applied them (else the processor's own)
    limits = PixelLimits(**saved["limits"]) if saved["limits_set"] else None
    processor = family.load_processor(saved["model_path"], limits)
    ctx = RunContext(
        recipe,
        saved["model_path"],
        family,
        processor,
        family.pixel_limits(processor),
        Path(recipe.output_dir),
        resume_from=saved["resume_from"],
        vision_keepalive=saved["vision_keepalive"],
        adapter=StartingAdapter(**saved["adapter"]) if saved["adapter"] else None,
    )
    for split in ("train", "eval"):
        if saved[f"{split}_mix"] is not None:
            mix = PreparedMix.load(saved[f"{split}_mix"])
            setattr(ctx, f"{split}_mix", mix)
            setattr(ctx, f"{split}_dataset", open_mix(mix))
    return ctx


def trainer_args(ctx: RunContext, extra: dict | None = None):
    """TRL's config for this process, from the recipe's `training` section."""
    return trainer_config(ctx.recipe.method, ctx.recipe.training, extra)


def run_meta(ctx: RunContext) -> dict:
    r, adapter = ctx.recipe, ctx.adapter
    base = adapter.base if adapter else str(r.model.path)
    revision = adapter.base_revision if adapter else r.model.revision
    return {
        "family": ctx.family.name,
        "frame": ctx.family.frame_name,
        "pixel_limits": ctx.limits.as_dict(),
        "prompt": r.prompt.as_mapping(),
        "base_model": base,
        **({"base_model_revision": revision} if revision else {}),
        # the LoRA adapter this run continued from (its weights are not merged into the base)
        **({"start_adapter": adapter.given} if adapter else {}),
        "datasets": [s.path for s in r.data.train],
        "recipe": RECIPE_FILE,
        "method": r.method,
        "tasks": sorted(r.rewards) or None,
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

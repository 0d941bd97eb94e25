"""Pre-flight checks: what can be wrong in a recipe is found here, before any weights load,
and reported as one line naming the recipe key (or the file and line of a record)."""

from __future__ import annotations

import difflib
import importlib.util
import os
from pathlib import Path

from vlmr1_cli.errors import UserError
from vlmr1_cli.recipes.launch_settings import accelerate_config, effective_launch
from vlmr1_cli.recipes.schema import LaunchSettings, Recipe


def check_data_files(recipe: Recipe) -> None:
    if not recipe.data.train:
        raise UserError("recipe: key 'data.train' is empty: name at least one JSONL file")
    for split, sources in (("train", recipe.data.train), ("eval", recipe.data.eval)):
        for i, src in enumerate(sources):
            if not Path(src.path).is_file():
                raise UserError(f"recipe: key 'data.{split}[{i}].path': file not found: {src.path}")
            if not Path(src.image_root).is_dir():
                raise UserError(
                    f"recipe: key 'data.{split}[{i}].image_root': folder not found: {src.image_root}"
                )


def check_modes(recipe: Recipe) -> None:
    """Training-mode combinations that would silently train nothing (or not what was asked)."""
    freeze, peft = recipe.freeze, recipe.peft
    if peft.enabled and (freeze.vision or freeze.language):
        raise UserError(
            "recipe: key 'freeze' has no effect with peft.enabled: LoRA trains only its adapters "
            "(the vision tower is left out unless peft.include_vision is true)"
        )
    if freeze.vision and freeze.language:
        raise UserError(
            "recipe: key 'freeze': freezing both vision and language leaves nothing to train"
        )


def check_family(recipe: Recipe, family, meta: dict) -> None:
    """The recipe's expected family/frame against the checkpoint's (and the frame a vlmr1
    checkpoint was trained in, from its vlmr1.json)."""
    m = recipe.model
    if m.family and m.family != family.name:
        raise UserError(
            f"recipe: key 'model.family': the recipe is written for '{m.family}' but "
            f"{m.path} is a '{family.name}' model (frame {family.frame_name})"
        )
    if m.frame and m.frame != family.frame_name:
        raise UserError(
            f"recipe: key 'model.frame': the recipe's boxes are in frame '{m.frame}' but "
            f"{m.path} ({family.name}) answers in frame '{family.frame_name}'"
        )
    saved = meta.get("frame")
    if saved and saved != family.frame_name:
        raise UserError(
            f"{m.path}: vlmr1.json says frame '{saved}' but the model is a {family.name} "
            f"(frame '{family.frame_name}'): the folder mixes two models"
        )


def check_tasks(recipe: Recipe, tasks: set[str]) -> None:
    """GRPO: every task in the data has rewards, and every reward task occurs in the data."""
    if recipe.method != "grpo":
        return
    rewarded = set(recipe.rewards)
    for task in sorted(rewarded - tasks):
        close = difflib.get_close_matches(task, sorted(tasks), n=2, cutoff=0.5)
        hint = f" (did you mean: {', '.join(close)}?)" if close else ""
        raise UserError(
            f"recipe: key 'rewards.{task}': no training record has task '{task}'{hint}; "
            f"tasks in the data: {', '.join(sorted(tasks))}"
        )
    for task in sorted(tasks - rewarded):
        raise UserError(
            f"recipe: key 'rewards': the training data has task '{task}' but no reward for it "
            f"(add rewards.{task}; rewards are given for: {', '.join(sorted(rewarded)) or 'none'})"
        )


def world_size(launch: LaunchSettings) -> int:
    """Processes over all machines: WORLD_SIZE inside a launched worker, else the launch
    settings (`num_processes` counts all machines' processes, as in accelerate)."""
    env = os.environ.get("WORLD_SIZE")
    if env:
        return int(env)
    return int(effective_launch(launch).get("num_processes") or 1)


def sharding_of(launch: LaunchSettings) -> str | None:
    """ "ZeRO-3" or "FSDP" when the launch shards parameters across processes, else None.
    Read from the accelerate config file (and its DeepSpeed JSON), or inside a launched
    worker from the variables accelerate sets."""
    import json

    data = accelerate_config(launch)
    if data:
        kind = str(data.get("distributed_type") or "").upper()
        if kind == "FSDP":
            return "FSDP"
        if kind == "DEEPSPEED":
            ds = data.get("deepspeed_config") or {}
            stage = ds.get("zero_stage")
            ds_file = ds.get("deepspeed_config_file")
            if ds_file and Path(ds_file).is_file():
                try:
                    stage = (
                        json.loads(Path(ds_file).read_text(encoding="utf-8")).get(
                            "zero_optimization"
                        )
                        or {}
                    ).get("stage", stage)
                except (ValueError, AttributeError):
                    pass  # DeepSpeed reports its own file's errors
            return "ZeRO-3" if str(stage) == "3" else None
        return None
    if os.environ.get("ACCELERATE_USE_FSDP", "").lower() == "true":
        return "FSDP"
    if os.environ.get("ACCELERATE_DEEPSPEED_ZERO_STAGE") == "3":
        return "ZeRO-3"
    return None


def needs_vision_keepalive(launch: LaunchSettings, n_text: int, n_image: int) -> bool:
    """Text-only beside image samples on several processes: a rank's batch may have no image
    while another's has. Under ZeRO-3/FSDP (`sharding_of`) its vision tower must still run,
    or the collective gathers of the tower's shards would hang the run; vlmr1 then runs the
    tower on a dummy input whose contribution is exactly zero (train/vision_keepalive.py).
    Under DDP it makes every parameter take part in every step, too."""
    return bool(n_text and n_image) and world_size(launch) > 1


def check_batch(recipe: Recipe, n_text: int, n_image: int) -> None:
    """GRPO batch arithmetic and the mixed text/image logging trap, before any model loads."""
    if recipe.method != "grpo":
        return
    t = recipe.training
    processes = world_size(recipe.launch)
    if t.get("log_multimodal") and n_text and n_image and processes > 1:
        # TRL 1.16 gathers the logged images only on ranks whose batch has images: a rank
        # with a text-only batch skips the collective and the run hangs.
        raise UserError(
            "recipe: key 'training.log_multimodal': must stay false when text-only and image "
            "samples train together on several processes (TRL would hang)"
        )
    g = t.get("num_generations", 8)
    per_device = t.get("per_device_train_batch_size", 8)
    steps = t.get("steps_per_generation") or t.get("gradient_accumulation_steps", 1)
    if t.get("generation_batch_size"):
        total, how = int(t["generation_batch_size"]), "generation_batch_size"
    else:
        total = int(per_device) * int(steps) * processes
        how = f"per_device_train_batch_size {per_device} x {steps} steps x {processes} processes"
    if g and total % int(g):
        raise UserError(
            f"recipe: key 'training.num_generations': the generation batch ({how} = {total} "
            f"completions) must be a multiple of num_generations ({g})"
        )


def check_vllm(training: dict) -> None:
    if training.get("use_vllm") and importlib.util.find_spec("vllm") is None:
        raise UserError(
            "recipe: key 'training.use_vllm': vLLM is not installed (pip install 'vlmr1[vllm]')"
        )

"""Pre-flight checks: what can be wrong in a recipe is found here, before any weights load,
and reported as one line naming the recipe key (or the file and line of a record)."""

from __future__ import annotations

import difflib
import importlib.util
import os
from pathlib import Path

from vlmr1_cli.errors import UserError


def check_data_files(recipe: dict) -> None:
    if not recipe["data"]["train"]:
        raise UserError("recipe: key 'data.train' is empty: name at least one JSONL file")
    for split in ("train", "eval"):
        for i, src in enumerate(recipe["data"][split]):
            if not Path(src["path"]).is_file():
                raise UserError(
                    f"recipe: key 'data.{split}[{i}].path': file not found: {src['path']}"
                )
            if not Path(src["image_root"]).is_dir():
                raise UserError(
                    f"recipe: key 'data.{split}[{i}].image_root': folder not found: {src['image_root']}"
                )
            if float(src["weight"]) <= 0:
                raise UserError(
                    f"recipe: key 'data.{split}[{i}].weight': must be > 0, got {src['weight']}"
                )


def check_modes(recipe: dict) -> None:
    """Training-mode combinations that would silently train nothing (or not what was asked)."""
    freeze, peft = recipe["freeze"], recipe["peft"]
    if peft.get("enabled") and (freeze.get("vision") or freeze.get("language")):
        raise UserError(
            "recipe: key 'freeze' has no effect with peft.enabled: LoRA trains only its adapters "
            "(the vision tower is left out unless peft.include_vision is true)"
        )
    if freeze.get("vision") and freeze.get("language"):
        raise UserError(
            "recipe: key 'freeze': freezing both vision and language leaves nothing to train"
        )


def check_family(recipe: dict, family, meta: dict) -> None:
    """The recipe's expected family/frame against the checkpoint's (and the frame a vlmr1
    checkpoint was trained in, from its vlmr1.json)."""
    m = recipe["model"]
    if m.get("family") and m["family"] != family.name:
        raise UserError(
            f"recipe: key 'model.family': the recipe is written for '{m['family']}' but "
            f"{m['path']} is a '{family.name}' model (frame {family.frame_name})"
        )
    if m.get("frame") and m["frame"] != family.frame_name:
        raise UserError(
            f"recipe: key 'model.frame': the recipe's boxes are in frame '{m['frame']}' but "
            f"{m['path']} ({family.name}) answers in frame '{family.frame_name}'"
        )
    saved = meta.get("frame")
    if saved and saved != family.frame_name:
        raise UserError(
            f"{m['path']}: vlmr1.json says frame '{saved}' but the model is a {family.name} "
            f"(frame '{family.frame_name}'): the folder mixes two models"
        )


def check_tasks(recipe: dict, tasks: set[str]) -> None:
    """GRPO: every task in the data has rewards, and every reward task occurs in the data."""
    if recipe["method"] != "grpo":
        return
    from vlmr1_cli.train.reward_funcs import reward_spec

    rewarded = set(reward_spec(recipe))
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


def accelerate_config(launch: dict) -> dict:
    """The accelerate config file named by `launch.config_file`, as a mapping ({} if none)."""
    cfg = launch.get("config_file")
    if not (cfg and Path(cfg).is_file()):
        return {}
    import yaml

    try:
        data = yaml.safe_load(Path(cfg).read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise UserError(f"{cfg}: invalid YAML: {getattr(e, 'problem', e)}") from None
    if not isinstance(data, dict):
        raise UserError(f"{cfg}: an accelerate config must be a YAML mapping")
    return data


def effective_launch(launch: dict) -> dict:
    """The launch settings accelerate will use: the config file's, overridden by those set."""
    data = accelerate_config(launch)
    out = (
        {
            k: data.get(k)
            for k in (
                "num_processes",
                "num_machines",
                "machine_rank",
                "main_process_ip",
                "main_process_port",
            )
        }
        if data
        else {}
    )
    out.update({k: v for k, v in launch.items() if v is not None})
    return out


def world_size(recipe: dict) -> int:
    """Processes over all machines: WORLD_SIZE inside a launched worker, else the launch
    settings (`num_processes` counts all machines' processes, as in accelerate)."""
    env = os.environ.get("WORLD_SIZE")
    if env:
        return int(env)
    return int(effective_launch(recipe["launch"]).get("num_processes") or 1)


def sharding_of(launch: dict) -> str | None:
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


def needs_vision_keepalive(recipe: dict, n_text: int, n_image: int) -> bool:
    """Text-only beside image samples on several processes: a rank's batch may have no image
    while another's has. Under ZeRO-3/FSDP (`sharding_of`) its vision tower must still run,
    or the collective gathers of the tower's shards would hang the run; vlmr1 then runs the
    tower on a dummy input whose contribution is exactly zero (train/vision_keepalive.py).
    Under DDP it makes every parameter take part in every step, too."""
    return bool(n_text and n_image) and world_size(recipe) > 1


def check_batch(recipe: dict, n_text: int, n_image: int) -> None:
    """GRPO batch arithmetic and the mixed text/image logging trap, before any model loads."""
    if recipe["method"] != "grpo":
        return
    t = recipe["training"]
    if t.get("log_multimodal") and n_text and n_image and world_size(recipe) > 1:
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
        total = int(per_device) * int(steps) * world_size(recipe)
        how = f"per_device_train_batch_size {per_device} x {steps} steps x {world_size(recipe)} processes"
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


def check_launch_config(launch: dict) -> None:
    cfg = launch.get("config_file")
    if cfg and not Path(cfg).is_file():
        raise UserError(f"recipe: key 'launch.config_file': file not found: {cfg}")
    eff = effective_launch(launch)
    machines = int(eff.get("num_machines") or 1)
    if machines > 1 and not eff.get("main_process_ip"):
        raise UserError(
            "recipe: key 'launch.main_process_ip' (--main-process-ip) is required with "
            f"{machines} machines"
        )
    if int(eff.get("machine_rank") or 0) >= machines:
        raise UserError(
            f"recipe: key 'launch.machine_rank': {eff['machine_rank']} is not below the "
            f"number of machines ({machines})"
        )

"""What the memory plan reads (train/memory_terms.py computes it): the recipe's training
settings over TRL's defaults, the accelerate config's parallelism, the workload they make
with the model (train/plan_model.py: its config, processor pixel limits and exact parameter
counts) and the typical prompt (train/plan_prompts.py: a sample of the training records),
and the device's memory; `plan_for_recipe` puts them together.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path
from typing import Any

from vlmr1_cli.errors import UserError
from vlmr1_cli.recipes.schema import LaunchSettings, Recipe
from vlmr1_cli.train.memory_fixes import cheapest_fix
from vlmr1_cli.train.memory_plan import (
    GIB,
    MemoryPlan,
    ModelShape,
    Parallelism,
    Workload,
)
from vlmr1_cli.train.memory_terms import build_plan
from vlmr1_cli.train.plan_model import model_files, model_shape, pixel_limits
from vlmr1_cli.train.plan_prompts import PromptSample, sample_prompts

DEFAULT_DEVICE_MEMORY = 80 * GIB  # the plan's device when there is no GPU: an 80 GB card


def training_settings(recipe: Recipe, cuda: bool = True) -> dict:
    """The recipe's `training` section over TRL's defaults, with the rules TRL applies after
    construction (steps_per_generation, bf16, activation checkpointing)."""
    from vlmr1_cli.recipes.trl_fields import trainer_config_fields

    fields = trainer_config_fields(recipe.method)
    out: dict[str, Any] = {}
    for name, f in fields.items():
        if f.default is not dataclasses.MISSING:
            out[name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[name] = f.default_factory()
    out.update({k: v for k, v in recipe.training.items() if v is not None})
    if out.get("activation_checkpointing") is None:
        out["activation_checkpointing"] = bool(out.get("gradient_checkpointing"))
    if out.get("bf16") is None:
        out["bf16"] = not out.get("fp16")
    if not cuda:  # vlmr1's trainer_args on a machine without CUDA, where the recipe is silent
        out["bf16"] = bool(recipe.training.get("bf16", False))
        out["fp16"] = bool(recipe.training.get("fp16", False))
    if not out.get("steps_per_generation"):
        out["steps_per_generation"] = out.get("gradient_accumulation_steps") or 1
    out["optim"] = str(getattr(out.get("optim"), "value", out.get("optim")))
    return out


def parallelism_of(launch: LaunchSettings) -> Parallelism:
    """Processes, ZeRO stage, FSDP and offload from the accelerate config."""
    from vlmr1_cli.recipes.launch_settings import accelerate_config, effective_launch
    from vlmr1_cli.train.checks import sharding_of, world_size

    data = accelerate_config(launch)
    processes = world_size(launch)
    machines = int(effective_launch(launch).get("num_machines") or 1)
    name = Path(launch.config_file).stem if launch.config_file else None
    kind = str(data.get("distributed_type") or "").upper()
    if kind == "DEEPSPEED":
        ds = data.get("deepspeed_config") or {}
        stage, off_opt, off_par = (
            ds.get("zero_stage"),
            ds.get("offload_optimizer_device"),
            ds.get("offload_param_device"),
        )
        ds_file = ds.get("deepspeed_config_file")
        if ds_file and Path(ds_file).is_file():
            try:
                zero = (
                    json.loads(Path(ds_file).read_text(encoding="utf-8")).get("zero_optimization")
                    or {}
                )
            except ValueError:
                raise UserError(f"{ds_file}: invalid JSON (DeepSpeed config)") from None
            stage = zero.get("stage", stage)
            off_opt = (zero.get("offload_optimizer") or {}).get("device", off_opt)
            off_par = (zero.get("offload_param") or {}).get("device", off_par)
        stage = 3 if sharding_of(launch) == "ZeRO-3" else int(stage or 0)
        return Parallelism(
            processes,
            "deepspeed",
            stage,
            _offloaded(off_opt),
            _offloaded(off_par) and stage == 3,
            config_name=name,
            machines=machines,
        )
    if kind == "FSDP":
        fsdp = data.get("fsdp_config") or {}
        offload = str(fsdp.get("fsdp_offload_params", False)).lower() == "true"
        upcast = str(data.get("mixed_precision") or "no").lower() != "no"
        return Parallelism(
            processes, "fsdp", 0, offload, offload, upcast, config_name=name, machines=machines
        )
    return Parallelism(
        processes, "ddp" if processes > 1 else "single", config_name=name, machines=machines
    )


def _offloaded(device: Any) -> bool:
    return str(device or "none").lower() in ("cpu", "nvme")


def workload_of(
    recipe: Recipe,
    settings: dict,
    shape: ModelShape,
    family: Any,
    limits: Any,
    sample: PromptSample,
    processes: int,
) -> Workload:
    t = settings
    method = recipe.method
    text_tokens, answer = sample.text(), sample.answer()
    image_tokens, patches = sample.images(shape, family, limits)
    batch = int(t.get("per_device_train_batch_size") or 1)
    if method == "grpo":
        if t.get("generation_batch_size"):
            generation = int(t["generation_batch_size"]) // max(processes, 1)
        else:
            generation = batch * int(t["steps_per_generation"])
        completion = int(t.get("max_completion_length") or 512)
    else:
        generation = 0
        limit = t.get("max_length")
        completion = answer
        if limit and text_tokens + image_tokens + answer > int(limit):
            completion = max(int(limit) - text_tokens - image_tokens, 0)
    mp = "bf16" if t.get("bf16") else ("fp16" if t.get("fp16") else None)
    dtype = str(recipe.model.dtype or shape.stored_dtype)
    return Workload(
        method=method,
        batch=batch,
        generation_batch=generation,
        gradient_accumulation=int(t.get("gradient_accumulation_steps") or 1),
        prompt_text_tokens=text_tokens,
        image_tokens=image_tokens,
        vision_patches=patches,
        completion_tokens=completion,
        activation_checkpointing=bool(t.get("activation_checkpointing")),
        beta=float(t.get("beta") or 0.0) if method == "grpo" else 0.0,
        lora=recipe.peft.enabled,
        lora_dropout=float(recipe.peft.lora_dropout),
        freeze_vision=recipe.freeze.vision,
        freeze_language=recipe.freeze.language,
        weight_dtype=dtype,
        mixed_precision=mp,
        optimizer=str(t.get("optim") or "adamw_torch"),
        attention=str(recipe.model.attn_implementation or "sdpa"),
        vllm_mode=str(t.get("vllm_mode") or "colocate") if t.get("use_vllm") else None,
        vllm_memory_fraction=float(t.get("vllm_gpu_memory_utilization") or 0.3)
        if t.get("use_vllm")
        else 0.0,
        ds3_gather_for_generation=bool(t.get("ds3_gather_for_generation", True)),
        max_pixels=limits.max_pixels,
        prompt_source=sample.source,
    )


def device_memory_of(given: int | None, device_type: str) -> tuple[int, str]:
    """The device's memory: given (--device-memory), else the CUDA device's, else (planning
    for a GPU on a machine without one) 80 GiB; for a CPU run, the machine's memory."""
    if given:
        return int(given), "--device-memory"
    if device_type == "cuda":
        import torch

        if torch.cuda.is_available():
            props = torch.cuda.get_device_properties(0)
            return int(props.total_memory), props.name
        return DEFAULT_DEVICE_MEMORY, "assumed: an 80 GB GPU"
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"), "this machine's memory"
    except (ValueError, OSError, AttributeError):  # no sysconf (Windows)
        return DEFAULT_DEVICE_MEMORY, "assumed"


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B?|B)?\s*$", re.IGNORECASE)
_UNITS = {
    "": GIB,
    "B": 1,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
    "KIB": 2**10,
    "MIB": 2**20,
    "GIB": 2**30,
    "TIB": 2**40,
    "K": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "KI": 2**10,
    "MI": 2**20,
    "GI": 2**30,
    "TI": 2**40,
}


def parse_memory(text: str, option: str = "--device-memory") -> int:
    """`80GB`, `80GiB`, `81559MiB`, `80` (GiB) -> bytes; anything else is one line."""
    m = _SIZE.match(str(text))
    if not m or float(m.group(1)) <= 0:
        raise UserError(f"{option} '{text}': not a memory size (e.g. 80GB, 80GiB, 81559MiB)")
    return int(float(m.group(1)) * _UNITS[(m.group(2) or "").upper()])


def parse_image_size(text: str, option: str = "--image-size") -> tuple[int, int]:
    m = re.match(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$", str(text))
    if not m or int(m.group(1)) < 1 or int(m.group(2)) < 1:
        raise UserError(f"{option} '{text}': expected WIDTHxHEIGHT in pixels, e.g. 640x480")
    return int(m.group(1)), int(m.group(2))


def plan_for_recipe(
    recipe: Recipe,
    device_memory: int | None = None,
    device_type: str | None = None,
    image_size: tuple[int, int] | None = None,
    suggest: bool = True,
) -> MemoryPlan:
    """The memory plan of a loaded recipe (launch settings applied). `device_type` is what the
    plan is for: "cuda" (the default when planning, GPU or not) or "cpu"."""
    from vlmr1_cli.models.registry import family_for_path

    device_type = device_type or "cuda"
    folder = model_files(recipe)
    family = family_for_path(folder)
    shape = model_shape(folder, family, recipe.peft)
    par = parallelism_of(recipe.launch)
    settings = training_settings(recipe, cuda=device_type == "cuda")
    limits = pixel_limits(recipe, folder, family)
    sample = sample_prompts(recipe, family, limits, folder, image_size)
    work = workload_of(recipe, settings, shape, family, limits, sample, par.processes)
    memory, source = device_memory_of(device_memory, device_type)
    label = str(recipe.model.path or recipe.model.adapter)
    plan = build_plan(label, shape, work, par, device_type, memory, source)
    if suggest and not plan.fits:

        def prompt_at(max_pixels: int) -> tuple[int, int] | None:
            if max_pixels < limits.min_pixels:
                return None
            return sample.images(
                shape, family, dataclasses.replace(limits, max_pixels=max_pixels, longest_edge=None)
            )

        plan.suggestion = cheapest_fix(plan, prompt_at, int(settings.get("num_generations") or 1))
    return plan


def announce_plan(recipe: Recipe) -> None:
    """The plan's one line on stderr as a run starts, for the device it trains on. The run's
    own checks have passed: a plan that cannot be made is a note, never the run's end."""
    import torch

    from vlmr1_cli.progress import info, note

    try:
        plan = plan_for_recipe(recipe, device_type="cuda" if torch.cuda.is_available() else "cpu")
    except UserError as e:
        note(f"no memory plan: {e}")
        return
    except Exception as e:  # an estimate must not stop a run that passed its checks
        note(f"no memory plan: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
        return
    info(("" if plan.fits else "warning: ") + plan.summary_line())

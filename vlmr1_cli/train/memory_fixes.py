"""Suggestions of a memory plan: the cheapest change (activation checkpointing, LoRA, ZeRO-3,
CPU offload, layer-by-layer generation, fewer pixels, a smaller per-device batch) that makes a
plan that does not fit, fit, with the command-line arguments that make it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator

from vlmr1_cli.train.memory_plan import GIB, MemoryPlan, Parallelism, Workload
from vlmr1_cli.train.memory_terms import build_plan

ZERO3 = Parallelism(kind="deepspeed", zero_stage=3, config_name="zero3")
ZERO3_OFFLOAD = Parallelism(
    kind="deepspeed",
    zero_stage=3,
    offload_optimizer=True,
    offload_params=True,
    config_name="zero3_offload",
)
MAX_PIXEL_HALVINGS = 6  # down to 1/64 of the area
# A change: the workload and parallelism it gives, how to say it, the command-line arguments.
Variant = tuple[Workload, Parallelism, str, list[str]]


def cheapest_fix(
    plan: MemoryPlan, prompt_at: Callable[[int], tuple[int, int] | None], num_generations: int = 1
) -> dict | None:
    """The first change that fits, in order of cost: activation checkpointing, LoRA, ZeRO-3,
    ZeRO-3 with CPU offload, layer-by-layer generation under ZeRO-3, fewer pixels, a
    smaller per-device batch (the same effective batch); if none alone fits, the same
    changes together, in that order. None when nothing tried fits.

    `prompt_at(max_pixels)` gives (image tokens, vision patches) of the planned prompt at a
    smaller pixel limit, None below the processor's minimum."""
    n, machines = plan.parallelism.processes, plan.parallelism.machines

    def total_if_fits(work: Workload, par: Parallelism) -> int | None:
        trial = build_plan(
            plan.model,
            plan.shape,
            work,
            par,
            plan.device_type,
            plan.device_memory,
            plan.device_memory_source,
        )
        return trial.total if trial.fits else None

    def sharded(target: Parallelism) -> Parallelism:
        return dataclasses.replace(target, processes=n, machines=machines)

    def checkpointing(w: Workload, p: Parallelism) -> Iterator[Variant]:
        if not w.activation_checkpointing:
            yield (
                dataclasses.replace(w, activation_checkpointing=True),
                p,
                "activation checkpointing",
                ["--set activation_checkpointing=true"],
            )

    def lora(w: Workload, p: Parallelism) -> Iterator[Variant]:
        if not w.lora:
            yield (
                dataclasses.replace(w, lora=True, freeze_vision=False, freeze_language=False),
                p,
                "LoRA",
                ["--set peft.enabled=true"],
            )

    def zero3(w: Workload, p: Parallelism) -> Iterator[Variant]:
        if not p.shards_params and n > 1:
            yield w, sharded(ZERO3), "ZeRO-3", ["--config-file zero3"]

    def offload(w: Workload, p: Parallelism) -> Iterator[Variant]:
        if not p.offload_optimizer:
            yield (
                w,
                sharded(ZERO3_OFFLOAD),
                "ZeRO-3 with CPU offload",
                ["--config-file zero3_offload"],
            )

    def layerwise_generation(w: Workload, p: Parallelism) -> Iterator[Variant]:
        if w.method == "grpo" and w.ds3_gather_for_generation and w.vllm_mode is None:
            zero3_now = p.kind == "deepspeed" and p.zero_stage == 3
            target = p if zero3_now else sharded(ZERO3_OFFLOAD)
            args = ([] if zero3_now else ["--config-file zero3_offload"]) + [
                "--set ds3_gather_for_generation=false"
            ]
            yield (
                dataclasses.replace(w, ds3_gather_for_generation=False),
                target,
                "ZeRO-3 generating layer by layer" + ("" if zero3_now else " with CPU offload"),
                args,
            )

    def fewer_pixels(w: Workload, p: Parallelism) -> Iterator[Variant]:
        pixels = w.max_pixels
        for _ in range(MAX_PIXEL_HALVINGS if w.image_tokens else 0):
            pixels //= 2
            cost = prompt_at(pixels)
            if cost is None:
                return
            yield (
                dataclasses.replace(
                    w, image_tokens=cost[0], vision_patches=cost[1], max_pixels=pixels
                ),
                p,
                f"max_pixels {pixels:,}",
                [f"--set model.max_pixels={pixels}"],
            )

    def smaller_batch(w: Workload, p: Parallelism) -> Iterator[Variant]:
        batch, steps = w.batch, w.gradient_accumulation
        while batch > 1:
            batch, steps = batch // 2, steps * 2
            if w.method == "grpo" and (batch * steps * n) % max(num_generations, 1):
                return  # the generation batch must stay a multiple of num_generations
            yield (
                dataclasses.replace(
                    w,
                    batch=batch,
                    gradient_accumulation=steps,
                    generation_batch=batch * steps if w.method == "grpo" else 0,
                ),
                p,
                f"per-device batch {batch} x {steps} accumulation steps (the same effective batch)",
                [
                    f"--set per_device_train_batch_size={batch}",
                    f"--set gradient_accumulation_steps={steps}",
                ],
            )

    candidates = (
        checkpointing,
        lora,
        zero3,
        offload,
        layerwise_generation,
        fewer_pixels,
        smaller_batch,
    )
    for candidate in candidates:
        for work, par, text, args in candidate(plan.workload, plan.parallelism):
            total = total_if_fits(work, par)
            if total is not None:
                return {"change": text, "arguments": args, "bytes": total, "gib": total / GIB}
    work, par = plan.workload, plan.parallelism
    texts: list[str] = []
    arguments: list[str] = []
    for candidate in candidates:
        last = None
        for last in candidate(work, par):
            total = total_if_fits(last[0], last[1])
            if total is not None:
                return {
                    "change": " + ".join([*texts, last[2]]),
                    "arguments": _merge_arguments(arguments, last[3]),
                    "bytes": total,
                    "gib": total / GIB,
                }
        if last is not None:  # the strongest step of this change, then the next change on top
            work, par = last[0], last[1]
            texts.append(last[2])
            arguments = _merge_arguments(arguments, last[3])
    return None


def _merge_arguments(earlier: list[str], later: list[str]) -> list[str]:
    """Command-line arguments of two changes together: a later --config-file replaces an
    earlier one."""
    if any(a.startswith("--config-file") for a in later):
        earlier = [a for a in earlier if not a.startswith("--config-file")]
    return earlier + later

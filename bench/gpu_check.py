"""The GPU check: GRPO steps on a Qwen2.5-VL at the 3B model's dimensions, the memory plan
against the measured peak, and the mixed-batch invariant, on whatever device is here.

Builds the model locally with random weights (bench/gpu_step.py's builder, no download):
Qwen2.5-VL-3B's text dimensions (hidden 2048, 36 layers, 16 heads, 2 KV heads, MLP 11008)
and a 32-block 1280-wide vision tower (gpu_step's builder sets the vision MLP to 4 x width,
5120, where the released model has 3420). Then, for LoRA and for full fine-tuning:
a few GRPO steps through vlmr1's trainer, `torch.cuda.max_memory_allocated` against the
memory plan's per-device peak (vlmr1_cli/train/plan_inputs.py: plan_for_recipe). Last, the mixed-batch
invariant on the device (train/vision_keepalive.py): on a text-only batch the vision tower
runs, the loss is bit-identical to the loss without it, and the tower's gradients are
exactly zero.

    python -m bench.gpu_check --json bench/results/gpu_check.json        # on a CUDA machine
    python -m bench.gpu_check --size tiny --image 84x56 --completion 8    # CPU, in the tests

Prints one `SUMMARY {...}` line (bench/summary.py) and exits 1 if a check fails.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from bench import gpu_step
from bench.summary import emit

if TYPE_CHECKING:
    from vlmr1_cli.recipes.schema import Recipe

# Qwen2.5-VL-3B-Instruct's config.json dimensions
gpu_step.SIZES.setdefault(
    "3b",
    dict(
        hidden=2048,
        intermediate=11008,
        layers=36,
        heads=16,
        kv_heads=2,
        vision_hidden=1280,
        vision_depth=32,
        vision_heads=16,
    ),
)


def grpo_arm(args, model_dir: Path, data: Path, out: Path, lora: bool) -> dict:
    """GRPO steps through vlmr1's trainer, timed and measured by gpu_step.measure."""
    import yaml

    from vlmr1_cli.recipes.loading import load_recipe
    from vlmr1_cli.train.grpo import build_trainer
    from vlmr1_cli.train.setup import prepare_run

    settings = gpu_step.settings(args, out)
    settings["learning_rate"] = 1e-5 if lora else 1e-6
    recipe_path = out.parent / f"recipe-{'lora' if lora else 'full'}.yaml"
    recipe_path.write_text(
        yaml.safe_dump(
            {
                "method": "grpo",
                "model": {
                    "path": str(model_dir),
                    "dtype": "bfloat16" if settings["bf16"] else "float32",
                    "attn_implementation": "sdpa",
                },
                "data": {"train": [{"path": str(data), "image_root": str(data.parent)}]},
                "prompt": {
                    "templates": {
                        "rec": "Locate {problem}. Output the box in <answer>[x1, y1, x2, y2]</answer>."
                    }
                },
                "rewards": {"rec": [{"name": "rec_iou"}]},
                "peft": {"enabled": lora, "r": 16, "lora_alpha": 32, "lora_dropout": 0.0},
                "training": settings,
            }
        )
    )
    recipe = load_recipe(recipe_path)
    result = gpu_step.measure(build_trainer(prepare_run(recipe)), args)
    result["plan"] = memory_plan(recipe, result)
    return result


def memory_plan(recipe: Recipe, measured: dict) -> dict:
    """The plan's per-device peak beside the measured one (CUDA only: the plan is for GPUs)."""
    import torch

    from vlmr1_cli.train.plan_inputs import plan_for_recipe

    if not torch.cuda.is_available():
        plan = plan_for_recipe(recipe, device_type="cpu", suggest=False)
        return {"planned_gib": round(plan.total / 2**30, 3), "measured_gib": None, "ratio": None}
    plan = plan_for_recipe(
        recipe,
        device_memory=torch.cuda.get_device_properties(0).total_memory,
        device_type="cuda",
        suggest=False,
    )
    planned = plan.total / 2**30
    peak = measured["peak_gpu_gib"]
    return {
        "planned_gib": round(planned, 2),
        "measured_gib": peak,
        "ratio": round(planned / peak, 3),
        "peak_phase": plan.peak_phase,
    }


def mixed_batch_invariant(model_dir: Path) -> dict:
    """On the device: the text-only batch's loss with and without the dummy vision pass."""
    import torch
    from transformers import AutoModelForImageTextToText

    from vlmr1_cli.models.registry import family_for_path
    from vlmr1_cli.train.model_setup import _under
    from vlmr1_cli.train.vision_keepalive import keep_vision_alive

    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    family = family_for_path(str(model_dir))
    processor = family.load_processor(str(model_dir))
    model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=dtype).to(device)
    text = processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "text", "text": "1 plus 1?"}]}],
        add_generation_prompt=True,
    )
    inputs = processor(text=[text], return_tensors="pt").to(device)

    def loss():
        model.zero_grad(set_to_none=True)
        out = model(**inputs, labels=inputs["input_ids"])
        out.loss.backward()
        return out.loss.detach().clone()

    torch.manual_seed(0)
    without = loss()
    kept = keep_vision_alive(model, family, processor)
    torch.manual_seed(0)
    with_dummy = loss()
    grads = [p.grad for n, p in model.named_parameters() if _under(n, family.vision_prefixes)]
    result = {
        "device": device,
        "dtype": str(dtype).removeprefix("torch."),
        "dummy_runs": kept.dummy_runs,
        "loss_bit_identical": bool(torch.equal(without, with_dummy)),
        "vision_grads_all_present": all(g is not None for g in grads),
        "vision_grads_exactly_zero": all(g is not None and not g.any() for g in grads),
        "vision_tensors": len(grads),
    }
    kept.remove()
    model.to("cpu")  # frees the device for whatever runs next
    if device == "cuda":
        torch.cuda.empty_cache()
    return result


def main() -> int:
    import torch

    p = argparse.ArgumentParser(
        prog="python -m bench.gpu_check", description=__doc__.splitlines()[0]
    )
    p.add_argument("--size", choices=sorted(gpu_step.SIZES), default="3b")
    p.add_argument("--image", default="448x336", help="WxH of the training images")
    p.add_argument("--completion", type=int, default=64, help="max completion tokens")
    p.add_argument("--G", type=int, default=4, help="generations per prompt")
    p.add_argument("--prompts", type=int, default=1, help="prompts per step")
    p.add_argument("--steps", type=int, default=2, help="timed steps per arm")
    p.add_argument("--warmup", type=int, default=1, help="untimed first steps per arm")
    p.add_argument("--arms", default="lora,full", help="comma-separated: lora, full")
    p.add_argument("--json", type=Path, help="also write the result here")
    args = p.parse_args()
    width, height = (int(v) for v in args.image.lower().split("x"))
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="vlmr1-gpu-check-") as tmp:
        folder = Path(tmp)
        pixels = width * height
        n_params, tokenizer = gpu_step.build_model(
            args.size, folder / "model", 0, min(pixels, 56 * 56), max(pixels, 56 * 56)
        )
        data = gpu_step.write_data(folder / "data", 16, width, height, 0)
        result = {
            "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
            "size": args.size,
            "params": n_params,
            "tokenizer": tokenizer,
            "image": args.image,
            "G": args.G,
            "completion": args.completion,
        }
        for arm in [a.strip() for a in args.arms.split(",") if a.strip()]:
            result[arm] = grpo_arm(
                args, folder / "model", data, folder / f"out-{arm}", lora=arm == "lora"
            )
        result["mixed_batch"] = mixed_batch_invariant(folder / "model")
    result["wall_s"] = round(time.perf_counter() - start, 1)
    mixed = result["mixed_batch"]
    met = (
        mixed["loss_bit_identical"]
        and mixed["vision_grads_exactly_zero"]
        and mixed["dummy_runs"] == 1
    )
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    ratios = [
        result[a]["plan"]["ratio"]
        for a in ("lora", "full")
        if a in result and result[a]["plan"]["ratio"]
    ]
    emit(
        "gpu_check",
        "memory plan (per-device peak)",
        "torch.cuda.max_memory_allocated",
        ratios[0] if ratios else float("nan"),
        "GRPO steps run (LoRA, full); text-only loss bit-identical, vision grads exactly zero",
        met,
        device=result["device"],
        size=args.size,
        wall_s=result["wall_s"],
    )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())

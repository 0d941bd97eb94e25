"""SFT baseline: TRL's SFTTrainer on the same JSONL data, trained on the answer only."""

from __future__ import annotations

from functools import cache

from vlmr1_cli.train import setup


@cache
def trainer_class():
    """SFTTrainer whose resume loads the checkpoint's weights (exact_resume.py)."""
    from trl import SFTTrainer

    from vlmr1_cli.train.exact_resume import ResumeWeightsMixin

    class VlmSFTTrainer(ResumeWeightsMixin, SFTTrainer):
        pass

    return VlmSFTTrainer


def build_trainer(ctx: setup.RunContext):
    from vlmr1_cli.train.callbacks import RunFilesCallback
    from vlmr1_cli.train.model_setup import load_policy_model, lora_config

    recipe = ctx.recipe
    args = setup.trainer_args(ctx)
    model = load_policy_model(
        ctx.model_path, ctx.family, recipe, ctx.adapter.folder if ctx.adapter else None
    )
    trainer = trainer_class()(
        model=model,
        args=args,
        train_dataset=ctx.train_dataset,
        eval_dataset=ctx.eval_dataset,
        processing_class=ctx.processor,
        peft_config=lora_config(model, ctx.family, recipe.peft),
        callbacks=[
            RunFilesCallback(ctx.output_dir, lambda folder: setup.write_run_files(ctx, folder))
        ],
    )
    if ctx.vision_keepalive:  # text-only beside image batches on several processes
        from vlmr1_cli.train.vision_keepalive import keep_trainer_vision_alive

        keep_trainer_vision_alive(trainer, ctx.family, ctx.processor)
    return trainer

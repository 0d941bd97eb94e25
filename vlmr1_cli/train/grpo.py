"""GRPO: TRL's GRPOTrainer, built from a recipe (wrapped, not forked)."""

from __future__ import annotations

from vlmr1_cli.train import setup


def build_trainer(recipe: dict, ctx: setup.RunContext | None = None):
    from trl import GRPOTrainer

    from vlmr1_cli.data.loader import build_dataset
    from vlmr1_cli.train.callbacks import RunFilesCallback
    from vlmr1_cli.train.rewards import build_reward_funcs

    ctx = ctx or setup.prepare_run(recipe)
    funcs, weights = build_reward_funcs(recipe)
    data = recipe["data"]
    train = build_dataset(data["train"], ctx.family, ctx.limits, recipe["prompt"], seed=data["seed"],
                          max_samples=data["max_samples"])
    args = setup.trainer_args(ctx, {"reward_weights": weights})
    model = setup.load_model(ctx)
    return GRPOTrainer(
        model=model,
        reward_funcs=funcs,
        args=args,
        train_dataset=train,
        processing_class=ctx.processor,
        peft_config=setup.lora_config(model, ctx.family, recipe["peft"]),
        callbacks=[RunFilesCallback(ctx.output_dir, lambda folder: setup.write_run_files(ctx, folder))],
    )

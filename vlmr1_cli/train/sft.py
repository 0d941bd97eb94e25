"""SFT baseline: TRL's SFTTrainer on the same JSONL data, trained on the answer only."""

from __future__ import annotations

from vlmr1_cli.train import setup


def build_trainer(recipe: dict, ctx: setup.RunContext | None = None):
    from trl import SFTTrainer

    from vlmr1_cli.data.loader import build_dataset
    from vlmr1_cli.train.callbacks import RunFilesCallback

    ctx = ctx or setup.prepare_run(recipe)
    data = recipe["data"]
    train = build_dataset(data["train"], ctx.family, ctx.limits, recipe["prompt"], with_answers=True,
                          seed=data["seed"], max_samples=data["max_samples"])
    # max_length=None: the default 1024 can cut through image tokens (environment.md §6).
    extra = {} if "max_length" in recipe["training"] else {"max_length": None}
    args = setup.trainer_args(ctx, extra)
    model = setup.load_model(ctx)
    return SFTTrainer(
        model=model,
        args=args,
        train_dataset=train,
        processing_class=ctx.processor,
        peft_config=setup.lora_config(model, ctx.family, recipe["peft"]),
        callbacks=[RunFilesCallback(ctx.output_dir, lambda folder: setup.write_run_files(ctx, folder))],
    )

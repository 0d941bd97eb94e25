"""GRPO: TRL's GRPOTrainer, built from a recipe (wrapped, not forked)."""

from __future__ import annotations

from functools import cache

from vlmr1_cli.train import setup


@cache
def trainer_class():
    """GRPOTrainer with one fix for batches that mix text-only and image prompts (and an exact
    resume: exact_resume.py).

    TRL 1.16 hands the forward pass the image list its generation step built, where a
    text-only prompt is `None`; the processor accepts `[]` but not `None` beside images.
    """
    from trl import GRPOTrainer

    from vlmr1_cli.train.exact_resume import GrpoResumeMixin, ResumeWeightsMixin

    class VlmGRPOTrainer(GrpoResumeMixin, ResumeWeightsMixin, GRPOTrainer):
        def _generate(self, prompts):
            out = super()._generate(prompts)
            images = out[6]
            if images is not None and any(im is None for im in images):
                images = [im if im is not None else [] for im in images]
                out = (*out[:6], images, *out[7:])
            return out

        def _generate_single_turn(self, *args, **kwargs):
            # transformers 5 encodes the images before the prefill forward, outside FSDP2's
            # root pre-forward hook, where the root's own shards (the patch embedding, the
            # merger) are still sharded: gather them for the generation (every rank generates).
            if not getattr(self.accelerator, "is_fsdp2", False):
                return super()._generate_single_turn(*args, **kwargs)
            from torch.distributed.fsdp import FSDPModule  # importable: FSDP2 is running

            root = self.model_wrapped
            if not isinstance(root, FSDPModule):
                return super()._generate_single_turn(*args, **kwargs)
            root.unshard()
            try:
                return super()._generate_single_turn(*args, **kwargs)
            finally:
                root.reshard()

    return VlmGRPOTrainer


def build_trainer(ctx: setup.RunContext):
    from vlmr1_cli.train.callbacks import RunFilesCallback
    from vlmr1_cli.train.model_setup import load_policy_model, lora_config
    from vlmr1_cli.train.reward_funcs import build_reward_funcs
    from vlmr1_cli.train.samples import DEFAULT_LIMIT, SampleLog, SampleLogCallback

    recipe = ctx.recipe
    samples = SampleLog(int(recipe.training.get("num_completions_to_print") or DEFAULT_LIMIT))
    funcs, weights = build_reward_funcs(recipe, samples)
    args = setup.trainer_args(ctx, {"reward_weights": weights})
    model = load_policy_model(
        ctx.model_path, ctx.family, recipe, ctx.adapter.folder if ctx.adapter else None
    )
    trainer = trainer_class()(
        model=model,
        reward_funcs=funcs,
        args=args,
        train_dataset=ctx.train_dataset,
        eval_dataset=ctx.eval_dataset,
        processing_class=ctx.processor,
        peft_config=lora_config(model, ctx.family, recipe.peft),
        callbacks=[
            RunFilesCallback(ctx.output_dir, lambda folder: setup.write_run_files(ctx, folder)),
            SampleLogCallback(samples, ctx.output_dir),
        ],
    )
    if ctx.vision_keepalive:  # text-only beside image batches on several processes
        from vlmr1_cli.train.vision_keepalive import keep_trainer_vision_alive

        keep_trainer_vision_alive(trainer, ctx.family, ctx.processor)
    return trainer

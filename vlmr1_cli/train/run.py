"""Run one training job: in this process (a single process), or through the launcher for
several processes, whose ranks train the run this process prepared (`train_rank`).

Every check runs before anything is written to the output folder, and the folder is locked
for the whole run (run_lock.py: one output folder, one run at a time).
"""

from __future__ import annotations

from pathlib import Path

from vlmr1_cli.recipes.schema import Recipe
from vlmr1_cli.train import setup


def train(recipe: Recipe, resume: bool = False, overwrite: bool = False) -> dict:
    """Check, train, save the final model and processor, and return a summary.

    With `resume`, training continues from the last complete checkpoint in the output folder:
    the trainer restores the optimizer, scheduler, RNG states and step count, and skips the
    batches already seen, so the data order is the uninterrupted run's (exact_resume.py
    restores the rest: the weights, GRPO's generation buffer). A run that already finished
    is not trained further. With `overwrite`, an earlier run's outputs are removed once every
    check has passed.
    """
    from vlmr1_cli.run_lock import locked_folder
    from vlmr1_cli.train.run_folder import RunFinished

    with locked_folder(Path(recipe.output_dir)):
        try:
            ctx = setup.prepare_run(recipe, resume=resume, overwrite=overwrite)
        except RunFinished as done:
            return finished_summary(done)
        return train_prepared(ctx, overwrite)


def train_rank(handover: Path, overwrite: bool = False) -> dict:
    """One rank of a launched run: the run its launcher prepared (setup.take_over), trained
    without checking again. The launcher holds the folder's lock."""
    return train_prepared(setup.take_over(handover), overwrite)


def train_prepared(ctx: setup.RunContext, overwrite: bool) -> dict:
    from vlmr1_cli.train.callbacks import LOG_FILE, trim_jsonl
    from vlmr1_cli.train.model_setup import save_final_model
    from vlmr1_cli.train.run_folder import clear_run
    from vlmr1_cli.train.samples import SAMPLES_FILE

    out = ctx.output_dir
    if ctx.recipe.method == "grpo":
        from vlmr1_cli.train.grpo import build_trainer
    else:
        from vlmr1_cli.train.sft import build_trainer
    trainer = build_trainer(ctx)  # loads the weights: the last check, still before any write
    if setup.is_main_process():
        if overwrite:  # every check has passed: now the earlier run may go
            clear_run(out)
        done = int(Path(ctx.resume_from).name.split("-")[-1]) if ctx.resume_from else None
        for name in (LOG_FILE, SAMPLES_FILE):
            trim_jsonl(out / name, done)
        setup.write_run_files(ctx)
    result = trainer.train(resume_from_checkpoint=ctx.resume_from)
    # staged, config.json last: never beside missing weights
    save_final_model(trainer, ctx.processor, out)
    if trainer.is_world_process_zero():
        setup.write_run_files(ctx)
    trainer.save_state()  # last (rank 0 only): out/trainer_state.json marks the run finished
    return {
        "output_dir": str(Path(out)),
        "global_step": trainer.state.global_step,
        "train_runtime_s": round(float(result.metrics.get("train_runtime", 0.0)), 2),
        "train_loss": result.metrics.get("train_loss"),
        "resumed_from": ctx.resume_from,
    }


def finished_summary(done) -> dict:
    """`--resume` on a finished run: nothing is trained. A run killed after its last
    checkpoint but before its final save gets that checkpoint's model as its final one."""
    from vlmr1_cli.progress import info
    from vlmr1_cli.train.run_folder import finish_from_checkpoint

    copied = finish_from_checkpoint(done.output_dir, done.checkpoint) if done.checkpoint else []
    info(f"{done}" + (f" (final model copied from {done.checkpoint.name})" if copied else ""))
    return {
        "output_dir": str(done.output_dir),
        "global_step": done.step,
        "already_finished": True,
        "final_model_from": done.checkpoint.name if copied else None,
    }


def train_launched(recipe: Recipe, resume: bool = False, overwrite: bool = False) -> dict:
    """Several processes or machines: the run is checked and prepared here once (a bad recipe
    is one line, not one traceback per rank; the data is read once), then `accelerate launch`
    starts the ranks (launch.py), which train what was prepared. With `--overwrite`, rank 0
    clears the folder after loading the model, as a single process does. The main machine
    holds the folder's lock until the ranks exit; another machine sharing the folder neither
    checks nor clears it."""
    import contextlib

    from vlmr1_cli.recipes.launch_settings import effective_launch
    from vlmr1_cli.run_lock import locked_folder
    from vlmr1_cli.train.launch import launch
    from vlmr1_cli.train.run_folder import RunFinished

    main_machine = int(effective_launch(recipe.launch).get("machine_rank") or 0) == 0
    out = Path(recipe.output_dir)
    with locked_folder(out) if main_machine else contextlib.nullcontext():
        try:
            ctx = setup.prepare_run(
                recipe, resume=resume, overwrite=overwrite, launched=not main_machine
            )
        except RunFinished as done:
            return finished_summary(done)
        code = launch(ctx, overwrite=overwrite)
    return {"output_dir": str(out), "exit_code": code}

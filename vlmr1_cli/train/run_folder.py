"""A training output folder: whether it holds a run, whether that run finished, and what
`--overwrite` removes (only what training writes, never a file the user put there).

A folder holds a run when it has any of vlmr1's run files, a `checkpoint-N` folder or model
weights. A new run into it needs `--resume` (continue it) or `--overwrite` (replace it); an
empty or missing folder is fine.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from vlmr1_cli.errors import UserError
from vlmr1_cli.recipes.schema import Recipe
from vlmr1_cli.train.model_setup import FINAL_STAGING  # the final save's staging folder

CHECKPOINT_PREFIX = "checkpoint-"
TRAINER_STATE = "trainer_state.json"
# vlmr1's own files: the metadata, the recipe, the logs, the curves, and the final trainer
# state (run.py saves it last, so its presence means the run finished).
RUN_FILES = (
    "vlmr1.json",
    "vlmr1_recipe.yaml",
    "train_log.jsonl",
    "samples.jsonl",
    "training_curves.png",
    TRAINER_STATE,
)
WEIGHT_PATTERNS = (
    "model.safetensors",
    "model-*-of-*.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model-*-of-*.bin",
    "pytorch_model.bin.index.json",
    "adapter_model.safetensors",
    "adapter_model.bin",
)
# What save_model writes beside the weights: config, generation config, processor, tokenizer,
# the pickled training arguments. Removed with the weights, but no sign of a run on their own
# (a copied base model's processor files are not a run).
MODEL_FILES = (
    "config.json",
    "generation_config.json",
    "adapter_config.json",
    "training_args.bin",
    "processor_config.json",
    "preprocessor_config.json",
    "video_preprocessor_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "tokenizer.model",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "merges.txt",
    "chat_template.json",
    "chat_template.jinja",
)
TB_EVENTS = "runs/*/events.out.tfevents.*"  # TensorBoard's default logging_dir
TRL_COMPLETIONS = "completions/completions_*.parquet"  # TRL's log_completions
TRL_CARD = "README.md"  # TRL's model card, removed only when it says it is one
TRL_CARD_MARK = "generated_from_trainer"


class RunFinished(Exception):
    """`--resume` on a run that already reached its last step: nothing to train."""

    def __init__(self, output_dir: Path, step: int, checkpoint: Path | None):
        super().__init__(f"{output_dir}: the run already finished at step {step}; nothing to train")
        self.output_dir = output_dir
        self.step = step
        self.checkpoint = checkpoint  # where the final state was read (None: the folder itself)


def checkpoints(output_dir: Path) -> list[Path]:
    """`checkpoint-N` folders, by N."""
    if not output_dir.is_dir():
        return []
    found = [
        p
        for p in output_dir.iterdir()
        if p.is_dir()
        and p.name.startswith(CHECKPOINT_PREFIX)
        and p.name[len(CHECKPOINT_PREFIX) :].isdigit()
    ]
    return sorted(found, key=lambda p: int(p.name[len(CHECKPOINT_PREFIX) :]))


def complete_checkpoints(output_dir: Path) -> list[Path]:
    """Checkpoints whose trainer state was written (the Trainer writes it last)."""
    return [p for p in checkpoints(output_dir) if (p / TRAINER_STATE).is_file()]


def _weights(folder: Path) -> list[Path]:
    return sorted({p for pattern in WEIGHT_PATTERNS for p in folder.glob(pattern) if p.is_file()})


def _trl_card(folder: Path) -> Path | None:
    card = folder / TRL_CARD
    try:
        head = card.read_text(encoding="utf-8", errors="replace")[:4096]
    except OSError:
        return None
    return card if re.search(rf"^-\s*{TRL_CARD_MARK}\s*$", head, re.MULTILINE) else None


def run_contents(output_dir: Path) -> list[str]:
    """What shows that `output_dir` holds a run: the last checkpoint, run files, weights,
    TensorBoard events (names relative to the folder; empty when there is no run)."""
    if not output_dir.is_dir():
        return []
    found = [p.name for p in checkpoints(output_dir)[-1:]]
    found += [name for name in RUN_FILES if (output_dir / name).is_file()]
    found += [p.name for p in _weights(output_dir)]
    if any(output_dir.glob(TB_EVENTS)) or any(output_dir.glob(TRL_COMPLETIONS)):
        found.append("runs/ or completions/ logs")
    return found


def training_outputs(output_dir: Path) -> list[Path]:
    """Everything a training run writes in `output_dir`: what `--overwrite` removes."""
    if not output_dir.is_dir():
        return []
    found = list(checkpoints(output_dir))
    found += [output_dir / FINAL_STAGING] if (output_dir / FINAL_STAGING).is_dir() else []
    found += [output_dir / n for n in (*RUN_FILES, *MODEL_FILES) if (output_dir / n).is_file()]
    found += _weights(output_dir)
    found += sorted(
        p
        for pattern in (TB_EVENTS, TRL_COMPLETIONS)
        for p in output_dir.glob(pattern)
        if p.is_file()
    )
    card = _trl_card(output_dir)
    return found + ([card] if card else [])


def clear_run(output_dir: Path) -> list[Path]:
    """Remove the earlier run's outputs (and the `runs/`, `completions/` folders they leave
    empty); returns what was removed."""
    removed = training_outputs(output_dir)
    for path in removed:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    for logs in (
        *sorted(output_dir.glob("runs/*")),
        output_dir / "runs",
        output_dir / "completions",
    ):
        if logs.is_dir() and not logs.is_symlink() and not any(logs.iterdir()):
            logs.rmdir()
    return removed


def _state(path: Path) -> dict:
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def reached_end(state: dict, training: dict) -> bool:
    """Whether a trainer state is at the end the recipe asks for (`max_steps`, or else the
    planned steps of `num_train_epochs` epochs)."""
    step = state.get("global_step")
    if not isinstance(step, int) or step <= 0:
        return False
    max_steps = training.get("max_steps")
    if isinstance(max_steps, int) and max_steps > 0:
        return step >= max_steps
    planned, epochs = state.get("max_steps"), state.get("num_train_epochs")
    wanted = float(training.get("num_train_epochs", 3.0))
    return (
        isinstance(planned, int)
        and planned > 0
        and step >= planned
        and isinstance(epochs, (int, float))
        and float(epochs) >= wanted
    )


def finished_at(output_dir: Path, training: dict) -> tuple[int, Path | None] | None:
    """(step, checkpoint) when the run in `output_dir` reached its end: by its final trainer
    state (checkpoint None), or by its last complete checkpoint (killed before the final save)."""
    final = _state(output_dir / TRAINER_STATE)
    if reached_end(final, training):
        return int(final["global_step"]), None
    done = complete_checkpoints(output_dir)
    if done:
        state = _state(done[-1] / TRAINER_STATE)
        if reached_end(state, training):
            return int(state["global_step"]), done[-1]
    return None


def check_output_dir(
    output_dir: Path, resume: bool, overwrite: bool, recipe: Recipe, launched: bool = False
) -> str | None:
    """The checkpoint to resume from (None: a fresh run). Refuses a new run into a folder that
    holds one; raises `RunFinished` for `--resume` on a finished run. `launched`: a process
    started by the launcher, which made these checks (and cleared the folder) already."""
    training = recipe.training
    if resume and overwrite:
        raise UserError(
            "--resume and --overwrite exclude each other: continue the run, or replace it"
        )
    model = Path(str(recipe.model.path))
    if overwrite and model.is_dir() and model.resolve() == output_dir.resolve():
        raise UserError(
            f"recipe: key 'training.output_dir': {output_dir} is the model being trained "
            "(model.path): --overwrite would delete it; choose another output_dir"
        )
    if resume:
        if not launched:
            end = finished_at(output_dir, training)
            if end:
                raise RunFinished(output_dir, *end)
        complete = complete_checkpoints(output_dir)
        if not complete:
            raise UserError(f"--resume: no complete checkpoint-* folder in {output_dir}")
        from vlmr1_cli.models.integrity import check_resume_checkpoint

        check_resume_checkpoint(complete)  # a truncated optimizer/weights file: one line naming it
        return str(complete[-1])
    if launched or overwrite:
        return None
    held = run_contents(output_dir)
    if held:
        shown = ", ".join(held[:3]) + (", ..." if len(held) > 3 else "")
        raise UserError(
            f"recipe: key 'training.output_dir': {output_dir} already holds {shown}: pass --resume "
            "to continue that run, --overwrite to replace it, or choose another output_dir"
        )
    return None


def finish_from_checkpoint(output_dir: Path, checkpoint: Path) -> list[str]:
    """A run killed between its last checkpoint and its final save: the final model is that
    checkpoint's, so its model and run files are copied up (nothing is trained). Each file is
    copied under a temporary name and renamed, config.json after the weights (as the final
    save does) and the trainer state last, marking the run finished. The files are checked
    whole first (models/integrity.py): a truncated checkpoint never becomes the final model."""
    import os

    if _weights(output_dir):
        return []
    wanted = [
        src
        for src in sorted(checkpoint.iterdir())
        if src.is_file()
        and (
            src.name in MODEL_FILES
            or src.name in RUN_FILES[:2]
            or any(src.match(pattern) for pattern in WEIGHT_PATTERNS)
        )
    ]
    wanted.sort(key=lambda src: src.name == "config.json")
    _check_final_files(output_dir, checkpoint, [*wanted, checkpoint / TRAINER_STATE])
    for src in [*wanted, checkpoint / TRAINER_STATE]:
        partial = output_dir / f".{src.name}.partial"
        shutil.copy2(src, partial)
        os.replace(partial, output_dir / src.name)
    return [src.name for src in wanted]


def _check_final_files(output_dir: Path, checkpoint: Path, files: list[Path]) -> None:
    """Every file that would become part of the final model is whole, or one line naming the
    first broken one and the way out (the checkpoint before it, or a new run)."""
    from vlmr1_cli.models.integrity import file_problem, weight_files

    broken = [
        (path, "missing (named by the sharded index)")
        for path in weight_files(checkpoint)
        if not path.is_file()
    ]
    broken += [(path, why) for path in files for why in [file_problem(path)] if why is not None]
    if not broken:
        return
    path, why = broken[0]
    earlier = [c for c in complete_checkpoints(output_dir) if c != checkpoint]
    then = (
        f"delete the folder {checkpoint} and --resume from {earlier[-1].name} (its last steps "
        "are trained again)"
        if earlier
        else f"it is the only checkpoint: delete the folder {checkpoint} and train again without --resume"
    )
    raise UserError(
        f"--resume: the run finished, but its final model would be copied from "
        f"{path}, which is {why}; {then}"
    )

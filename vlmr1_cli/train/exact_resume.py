"""What a checkpoint must give back for `--resume` to continue exactly where the run stopped:
a killed-and-resumed run ends with the same weights, bit for bit, as an uninterrupted one.

The Trainer restores the optimizer, scheduler, RNG states and data position itself. Two more
things are needed:

- The weights. transformers 5 saves a vision-language model's weights under their original
  checkpoint names (Qwen2.5-VL's `visual.*`, `model.layers.*`), but
  `Trainer._load_from_checkpoint` hands them to `load_state_dict`, which expects the
  model's own names (`model.visual.*`, `model.language_model.*`): nothing matches, a
  warning lists every key, and training "resumes" from the base model's weights with the
  checkpoint's optimizer (transformers issue #43701). `from_pretrained` applies the
  model's key conversions, so the checkpoint is loaded through it.
- GRPO's generation buffer. GRPOTrainer samples completions once per
  `steps_per_generation x num_iterations` micro-steps and reuses them in between; its step
  counter and buffer are not in the checkpoint, so a run resumed between two generations
  sampled afresh, from other weights, where the uninterrupted run reused its buffer.
  Each process saves both in `vlmr1_generation-rank{K}.pt` before the trainer state (a
  checkpoint is complete once `trainer_state.json` is written).
- GRPO's data order after the first epoch. Its RepeatSampler shuffles each epoch with the
  next permutation of one seeded generator, which a resumed run creates afresh: resumed in
  epoch 3, it replayed epoch 1's order. The sampler is wrapped so that the trainer's
  `set_epoch(e)` puts the generator where the uninterrupted run has it (seeded, then `e`
  permutations drawn): the same order as TRL's, whatever epoch the run starts in.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the classes the mixins are mixed into; not imported at run time
    from transformers import Trainer as _TrainerBase
    from trl import GRPOConfig
    from trl import GRPOTrainer as _GrpoTrainerBase
else:
    _TrainerBase = _GrpoTrainerBase = object

FULL_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")
GENERATION_STATE = "vlmr1_generation-rank{rank}.pt"


def has_full_weights(checkpoint: str | Path) -> bool:
    return any((Path(checkpoint) / name).is_file() for name in FULL_WEIGHT_FILES)


def load_full_weights(model, checkpoint: str | Path) -> None:
    """Copy the weights saved in `checkpoint` into `model` (every tensor, strictly)."""
    import torch

    saved = type(model).from_pretrained(str(checkpoint), dtype="auto", local_files_only=True)
    with torch.no_grad():
        # strict: a key that did not match would silently keep the base model's value
        model.load_state_dict(saved.state_dict(), strict=True)
    del saved


class ResumeWeightsMixin(_TrainerBase):
    """For a Trainer subclass: resume loads the full weights with the key conversions applied.

    LoRA adapters (PEFT loads them by its own names), DeepSpeed and FSDP (their own state
    files, in the model's names) keep the Trainer's own loading.
    """

    def _load_from_checkpoint(self, resume_from_checkpoint, model=None):
        from transformers.trainer import _is_peft_model

        target = self.model if model is None else model
        plain = not (
            getattr(self, "is_fsdp_enabled", False) or getattr(self, "is_deepspeed_enabled", False)
        )
        if (
            plain
            and target is self.model
            and not _is_peft_model(target)
            and has_full_weights(resume_from_checkpoint)
        ):
            load_full_weights(target, resume_from_checkpoint)
            return
        super()._load_from_checkpoint(resume_from_checkpoint, model)


def generation_state_path(checkpoint: str | os.PathLike[str], rank: int) -> Path:
    return Path(checkpoint) / GENERATION_STATE.format(rank=rank)


class EpochOrderedSampler:
    """TRL's RepeatSampler with `set_epoch`: epoch `e` shuffles with the generator's
    (e+1)-th permutation after seeding, as an uninterrupted run does."""

    def __init__(self, inner):
        self.inner = inner
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        import torch

        self.epoch = epoch
        self.inner.generator.manual_seed(self.inner.seed)
        for _ in range(epoch):  # the earlier epochs' permutations, drawn and dropped
            torch.randperm(self.inner.num_samples, generator=self.inner.generator)

    def __getattr__(self, name: str):
        # The sampler's other attributes: accelerate synchronises `generator` across ranks.
        if name == "inner":  # not set yet (unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.inner, name)

    def __iter__(self):
        return iter(self.inner)

    def __len__(self) -> int:
        return len(self.inner)


class GrpoResumeMixin(_GrpoTrainerBase):
    """For a GRPOTrainer subclass: its micro-step counter and generation buffer in each
    checkpoint, restored on resume, and each epoch's data order independent of where the
    run started."""

    if TYPE_CHECKING:
        args: GRPOConfig  # GRPOTrainer's arguments are its config

    def _get_train_sampler(self, dataset=None):
        sampler = super()._get_train_sampler(dataset)
        if getattr(sampler, "shuffle", False) and getattr(sampler, "seed", None) is not None:
            return EpochOrderedSampler(sampler)
        return sampler

    def _save_checkpoint(self, model, trial):
        import torch

        from vlmr1_cli.io import atomic_open

        folder = Path(self._get_output_dir(trial=trial)) / f"checkpoint-{self.state.global_step}"
        folder.mkdir(parents=True, exist_ok=True)
        steps_per_generation = self.args.steps_per_generation
        assert steps_per_generation is not None  # GRPOConfig.__post_init__ fills it in
        every = steps_per_generation * self.num_iterations
        # The buffer only matters between two generations; at a boundary the next step samples.
        buffer = self._buffered_inputs if self._step % every else None
        with atomic_open(
            generation_state_path(folder, self.args.process_index), "wb", encoding=None
        ) as fh:
            torch.save({"step": self._step, "buffer": buffer}, fh)
        super()._save_checkpoint(model, trial)

    def train(self, resume_from_checkpoint=None, *args, **kwargs):
        if isinstance(resume_from_checkpoint, (str, os.PathLike)):
            self._restore_generation_state(resume_from_checkpoint)
        return super().train(resume_from_checkpoint, *args, **kwargs)

    def _restore_generation_state(self, checkpoint: str | os.PathLike) -> None:
        import torch

        path = generation_state_path(checkpoint, self.args.process_index)
        if not path.is_file():  # a checkpoint from before vlmr1 saved it: the next step samples
            return
        saved = torch.load(path, map_location=self.args.device, weights_only=True)
        self._step = int(saved["step"])
        self._buffered_inputs = saved["buffer"]

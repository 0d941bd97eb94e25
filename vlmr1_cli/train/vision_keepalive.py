"""Text-only batches beside image batches under parameter sharding: every rank runs the
vision tower in every forward pass that could run it.

ZeRO-3 and FSDP gather a module's sharded parameters collectively as it runs (and reduce its
gradients collectively in the backward pass). A rank whose batch has no image would skip the
vision tower while the others run it, and the run would hang without an error. So on such a
batch the tower runs on the family's smallest dummy input (`ModelFamily.dummy_vision_inputs`)
and its output enters the computation multiplied by zero:

- the training forward (and evaluation, and TRL's log-prob passes): the model embeds the
  tokens first and then encodes the images, so the dummy runs in a hook on the input
  embeddings, whose output becomes `embeddings + 0 * sum(vision output)`. The loss is
  bit-identical to the loss without it (x + 0.0 == x), the tower's parameters get gradients
  that are exactly zero (not None: the backward collectives match the other ranks');
- generation (transformers encodes the images before the prefill forward, into
  `mm_encoder_outputs`): the dummy runs before the prefill forward, under no_grad, and is
  discarded. Decoding steps run the tower on no rank.

The zero term is NaN-safe: a non-finite sum becomes 0 before the multiplication.
"""

from __future__ import annotations

from typing import Any

from vlmr1_cli.models.base import ModelFamily
from vlmr1_cli.train.model_setup import _under


def _float_sum(obj: Any):
    """Sum of every floating tensor in a model output (tensors, tuples, lists, ModelOutputs):
    all of the tower's outputs (Qwen3-VL's deepstack features too) take part in the graph."""
    import torch

    if isinstance(obj, torch.Tensor):
        return obj.float().sum() if obj.is_floating_point() else None
    if isinstance(obj, dict):
        items = list(obj.values())
    elif isinstance(obj, (list, tuple)):
        items = list(obj)
    else:
        return None
    total = None
    for item in items:
        part = _float_sum(item)
        if part is not None:
            total = part if total is None else total + part
    return total


def _first_pass(kwargs: dict) -> bool:
    """A forward with no cached tokens: training, evaluation, or generation's prefill."""
    cache = kwargs.get("cache", kwargs.get("past_key_values"))
    if cache is None:
        return True
    length = getattr(cache, "get_seq_length", None)
    return length is None or int(length()) == 0


def _has_images(kwargs: dict) -> bool:
    encoded = kwargs.get("mm_encoder_outputs") or {}
    return kwargs.get("pixel_values") is not None or encoded.get("image") is not None


class VisionKeepAlive:
    """Hooks on one model (the transformers model, under any PEFT/DeepSpeed/FSDP wrapper)."""

    def __init__(self, model: Any, family: ModelFamily, processor: Any):
        import torch

        self.model = model
        self.family = family
        self.processor = processor
        self.dummy_runs = 0  # forward passes that ran the tower on the dummy input
        self._pending = False
        vision = [p for n, p in model.named_parameters() if _under(n, family.vision_prefixes)]
        self.dtype = vision[0].dtype if vision else torch.float32
        self._handles = [
            model.register_forward_pre_hook(self._before_forward, with_kwargs=True),
            model.get_input_embeddings().register_forward_hook(self._after_embeddings),
        ]

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def zero_term(self, device: Any):
        """The dummy's vision output, summed, times zero: a 0-dim float32 tensor in the graph."""
        import torch

        inputs = self.family.dummy_vision_inputs(self.processor, device, self.dtype)
        total = _float_sum(self.model.get_image_features(**inputs))
        self.dummy_runs += 1
        return torch.nan_to_num(total, nan=0.0, posinf=0.0, neginf=0.0) * 0.0

    def _before_forward(self, module, args, kwargs):
        self._pending = False
        if args or _has_images(kwargs) or not _first_pass(kwargs):
            return None
        if "mm_encoder_outputs" in kwargs:
            # generate(): the image ranks encoded their images before this forward
            self.zero_term(self._device(kwargs))
        else:
            self._pending = True
        return None

    def _after_embeddings(self, module, args, output):
        if not self._pending:
            return None
        self._pending = False
        return output + self.zero_term(output.device).to(output.dtype)

    @staticmethod
    def _device(kwargs: dict):
        ids = kwargs.get("input_ids")
        if ids is None:
            ids = kwargs.get("inputs_embeds")
        return ids.device if ids is not None else None


def keep_vision_alive(model: Any, family: ModelFamily, processor: Any) -> VisionKeepAlive:
    """Install the hooks on `model` (a transformers model, or a PEFT/DeepSpeed wrapper of one)."""
    return VisionKeepAlive(transformers_model(model), family, processor)


def transformers_model(model: Any) -> Any:
    """The transformers model inside DeepSpeed's engine (`.module`) and PEFT's wrappers."""
    seen = 0
    while seen < 8:
        seen += 1
        if hasattr(model, "get_base_model"):  # PeftModel
            model = model.get_base_model()
        elif hasattr(model, "module") and not hasattr(model, "get_image_features"):
            model = model.module
        else:
            break
    return model


def keep_trainer_vision_alive(
    trainer: Any, family: ModelFamily, processor: Any
) -> list[VisionKeepAlive]:
    """The hooks on a trainer's model and, where TRL built one (GRPO with beta > 0 and no
    LoRA), on its reference model: it is sharded too and runs on the same batches."""
    kept = [keep_vision_alive(trainer.model, family, processor)]
    ref = getattr(trainer, "ref_model", None)
    if ref is not None:
        kept.append(keep_vision_alive(ref, family, processor))
    return kept

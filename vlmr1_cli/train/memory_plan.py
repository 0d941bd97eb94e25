"""A memory plan before launch: per-device memory of a training run, from the model's config
on the meta device (no weights loaded), the recipe and the accelerate config.

What is estimated is tensor memory, what `torch.cuda.max_memory_allocated()` reports on a GPU
(and the live tensor storage a test counts on CPU): the CUDA context and the caching
allocator's slack are not tensors, so the verdict compares the total with `USABLE_FRACTION` of
the device. The terms and their formulas are documented in docs/training.md ("Memory plan");
in short, per device:

- always: policy weights, the reference model (GRPO with beta > 0, unless LoRA), optimizer
  states, the gather buffers of sharded setups (ZeRO-3/FSDP), DDP's gradient buckets;
- training step: gradients, saved activations of one micro-batch (all layers, or with
  activation checkpointing the layer inputs plus one layer's working set), TRL's fused LM
  head (a tile of logits, the fp32 gradient of the head), the loss;
- generation (GRPO): the KV cache of the generation batch, the prefill working set, the
  full weights ZeRO-3 gathers for generation.

The peak is "always" plus the larger phase. Parameter counts are exact (the model class
built from its config on the meta device); the rest is arithmetic on the config's sizes.

This module holds the plan's types (the model's shape, the parallelism, the workload, the
terms, the plan and its verdict); `memory_terms` computes the terms, `memory_fixes` finds the
cheapest change that makes a plan fit.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

GIB = 2**30
# The share of a GPU's memory a run's tensors may take: the CUDA context (~0.5-1 GiB) and the
# caching allocator's fragmentation (typically 5-10 %) take the rest.
USABLE_FRACTION = 0.9
DTYPE_BYTES = {"float32": 4, "float": 4, "bfloat16": 2, "float16": 2, "half": 2, "float64": 8}


@dataclass(frozen=True)
class ModelShape:
    """What the plan needs to know about the model: exact parameter counts (from the meta
    device) and the sizes the activation formulas use."""

    model_type: str
    family: str
    params: int  # every parameter, tied weights once
    vision_params: int
    language_params: int  # language model and LM head
    largest_unit_params: int  # the largest decoder layer / vision block / embedding
    lora_params: int  # LoRA adapters for the recipe's `peft` section (even when disabled)
    lora_inputs: int  # the in_features of every adapted linear layer, summed
    stored_dtype: str
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    gated_mlp: bool
    vision_hidden: int
    vision_depth: int
    vision_intermediate: int
    vision_gated_mlp: bool
    patch_size: int
    merge_size: (
        int  # Qwen's spatial merge (patches per image token = merge^2); 1 for tiling families
    )
    tile_tokens: int  # tiling families (Idefics3): image tokens per tile; 0 otherwise
    tile_patches: int  # tiling families: vision patches per tile; 0 otherwise


@dataclass(frozen=True)
class Parallelism:
    """How the run is spread: from the accelerate config (train/checks.py reads it)."""

    processes: int = 1
    kind: str = "single"  # single | ddp | deepspeed | fsdp
    zero_stage: int = 0
    offload_optimizer: bool = False
    offload_params: bool = False
    fsdp_upcast: bool = (
        False  # accelerate keeps FSDP's trainable parameters in fp32 under mixed precision
    )
    config_name: str | None = None
    machines: int = 1

    @property
    def shards_params(self) -> bool:
        return self.kind == "fsdp" or (self.kind == "deepspeed" and self.zero_stage == 3)

    def describe(self) -> str:
        if self.kind == "deepspeed":
            off = [
                w
                for w, on in (
                    ("optimizer", self.offload_optimizer),
                    ("parameters", self.offload_params),
                )
                if on
            ]
            text = f"DeepSpeed ZeRO-{self.zero_stage}" + (
                f", {' and '.join(off)} offloaded to CPU" if off else ""
            )
        elif self.kind == "fsdp":
            text = "FSDP" + (", parameters offloaded to CPU" if self.offload_params else "")
        elif self.kind == "ddp":
            text = "DDP"
        else:
            return "one process"
        return f"{text} on {self.processes} process{'es' if self.processes != 1 else ''}"


@dataclass(frozen=True)
class Workload:
    """One device's share of a step: batch, sequence lengths, images, training mode."""

    method: str  # grpo | sft
    batch: int  # sequences per micro-batch (per_device_train_batch_size)
    generation_batch: int  # sequences generated at once (GRPO: batch x steps_per_generation)
    gradient_accumulation: int
    prompt_text_tokens: int
    image_tokens: int  # per record, all its images
    vision_patches: int  # per record, before merging
    completion_tokens: int  # GRPO: max_completion_length; SFT: the answer
    activation_checkpointing: bool
    beta: float
    lora: bool
    lora_dropout: float
    freeze_vision: bool
    freeze_language: bool
    weight_dtype: str  # the dtype the weights load in
    mixed_precision: str | None  # "bf16"/"fp16" when the trainer autocasts, else None
    optimizer: str
    attention: str  # sdpa | eager | flash_attention_2 ...
    vllm_mode: str | None = None  # colocate | server when use_vllm
    vllm_memory_fraction: float = 0.0
    ds3_gather_for_generation: bool = True
    max_pixels: int = 0
    prompt_source: str = ""

    @property
    def sequence(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def prompt_tokens(self) -> int:
        return self.prompt_text_tokens + self.image_tokens


@dataclass
class Term:
    name: str
    bytes: int
    phase: str  # always | training | generation | optimizer | cpu
    note: str = ""

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "bytes": int(self.bytes),
            "gib": round(self.bytes / GIB, 3),
            "phase": self.phase,
            "note": self.note,
        }


@dataclass
class MemoryPlan:
    model: str
    shape: ModelShape
    parallelism: Parallelism
    workload: Workload
    device_type: str
    terms: list[Term]
    device_memory: int
    device_memory_source: str
    notes: list[str] = field(default_factory=list)
    suggestion: dict | None = None

    def phase_total(self, phase: str) -> int:
        return sum(t.bytes for t in self.terms if t.phase == phase)

    @property
    def peak_phase(self) -> str:
        return max(("training", "generation", "optimizer"), key=self.phase_total)

    @property
    def total(self) -> int:
        """Per-device bytes at the peak: what is always there plus the largest phase."""
        return self.phase_total("always") + self.phase_total(self.peak_phase)

    @property
    def host_bytes(self) -> int:
        """CPU memory per process taken by offloaded states."""
        return self.phase_total("cpu")

    @property
    def host_bytes_per_machine(self) -> int:
        return self.host_bytes * max(
            self.parallelism.processes // max(self.parallelism.machines, 1), 1
        )

    @property
    def usable(self) -> int:
        return int(self.device_memory * USABLE_FRACTION)

    @property
    def fits(self) -> bool:
        return self.total <= self.usable

    def summary_line(self) -> str:
        verdict = "fits" if self.fits else "does NOT fit"
        head = (
            f"memory plan: {self.total / GIB:.1f} GiB per device at the peak ({self.peak_phase}) of "
            f"{self.device_memory / GIB:.0f} GiB ({self.device_memory_source}): {verdict}; "
            f"{self.parallelism.describe()}"
        )
        if self.host_bytes:
            head += f"; {self.host_bytes_per_machine / GIB:.0f} GiB of CPU memory per machine for offloaded states"
        if self.suggestion:
            head += f"; {self.suggestion['change']} would fit ({self.suggestion['gib']:.1f} GiB)"
        return head

    def as_dict(self) -> dict:
        return {
            "model": self.model,
            "parameters": self.shape.params,
            "trainable_parameters": trainable_params(self.shape, self.workload),
            "shape": dataclasses.asdict(self.shape),
            "parallelism": {
                **dataclasses.asdict(self.parallelism),
                "description": self.parallelism.describe(),
            },
            "workload": {**dataclasses.asdict(self.workload), "sequence": self.workload.sequence},
            "device_type": self.device_type,
            "terms": [t.as_dict() for t in self.terms],
            "peak_phase": self.peak_phase,
            "total_bytes": self.total,
            "total_gib": round(self.total / GIB, 3),
            "host_bytes": self.host_bytes,
            "host_bytes_per_machine": self.host_bytes_per_machine,
            "device_memory_bytes": self.device_memory,
            "device_memory_source": self.device_memory_source,
            "usable_bytes": self.usable,
            "fits": self.fits,
            "suggestion": self.suggestion,
            "notes": list(self.notes),
        }


def dtype_bytes(name: str) -> int:
    return DTYPE_BYTES.get(str(name).replace("torch.", ""), 4)


def trainable_params(shape: ModelShape, w: Workload) -> int:
    if w.lora:
        return shape.lora_params
    frozen = (shape.vision_params if w.freeze_vision else 0) + (
        shape.language_params if w.freeze_language else 0
    )
    return max(shape.params - frozen, 0)

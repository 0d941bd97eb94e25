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
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

GIB = 2**30
# The share of a GPU's memory a run's tensors may take: the CUDA context (~0.5-1 GiB) and the
# caching allocator's fragmentation (typically 5-10 %) take the rest.
USABLE_FRACTION = 0.9
# TRL 1.16's fused LM head (trl/trainer/utils.py, kernels/chunked_logprob.py): logits are
# computed in tiles of up to TOKEN_TILE tokens x VOCAB_TILE vocabulary entries.
TOKEN_TILE = 4096
VOCAB_TILE = 32768
# Without Triton (CPU) TRL folds each tile in torch: its backward keeps about seven fp32
# tile-sized temporaries alive at once (z, log p, p, the gradient and the products of the
# loss's two terms). Triton kernels (CUDA) fuse them away.
CPU_TILE_COPIES_BACKWARD = 7
DTYPE_BYTES = {"float32": 4, "float": 4, "bfloat16": 2, "float16": 2, "half": 2, "float64": 8}


# ------------------------------------------------------------------------------- the plan


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


# ------------------------------------------------------------------------------- estimate


def dtype_bytes(name: str) -> int:
    return DTYPE_BYTES.get(str(name).replace("torch.", ""), 4)


def trainable_params(shape: ModelShape, w: Workload) -> int:
    if w.lora:
        return shape.lora_params
    frozen = (shape.vision_params if w.freeze_vision else 0) + (
        shape.language_params if w.freeze_language else 0
    )
    return max(shape.params - frozen, 0)


def _optimizer_state_bytes(optimizer: str, param_bytes: int) -> int:
    """Bytes of optimizer state per trainable parameter for torch/transformers optimizers."""
    name = optimizer.lower()
    if "8bit" in name:
        return 2  # two 8-bit moments
    if name.startswith("adafactor"):
        return 0  # factored second moments: negligible
    if name.startswith("sgd"):
        return 0
    if name.startswith("lion") or name.startswith("rmsprop") or name == "adagrad":
        return param_bytes
    return 2 * param_bytes  # Adam(W): two moments in the parameters' dtype


def _text_layer_bytes(s: ModelShape, w: Workload, b: int, seq: int) -> int:
    """Saved activations of one decoder layer, per token (docs/training.md, "Memory plan").

    RMSNorm keeps an fp32 copy of its input and its output twice (4h + 2bh, two norms);
    attention keeps q after RoPE, its output and o_proj's input (3bh) and k, v (2b kv'),
    where kv' = h when SDPA runs with a padding mask (transformers repeats the KV heads
    then) and kv_heads x head_dim otherwise; the gated MLP keeps gate, up, act(gate) and
    their product (4bI; a plain MLP 2bI). Eager attention adds the score matrix (fp32 and
    cast: heads x seq x (4 + b))."""
    h, inter = s.hidden, s.intermediate
    kv = h if s.kv_heads != s.heads else s.kv_heads * s.head_dim
    per = 2 * (4 * h + 2 * b * h) + 3 * b * h + 2 * b * kv + (4 if s.gated_mlp else 2) * b * inter
    if w.attention == "eager":
        per += s.heads * seq * (4 + b)
    return per


def _lora_bytes(s: ModelShape, w: Workload, b: int, adapter_bytes: int) -> int:
    """What LoRA adds per token (all layers): each adapted layer's input passes PEFT's
    dropout (its output in the adapters' dtype and a byte mask are kept) after a cast to the
    adapters' fp32 when the base is bf16 (measured at about one more byte per element)."""
    if not w.lora:
        return 0
    cast = adapter_bytes != b
    per = (
        (adapter_bytes + 1 + (1 if cast else 0))
        if w.lora_dropout > 0
        else (adapter_bytes if cast else 0)
    )
    return s.lora_inputs * per


def _vision_block_bytes(s: ModelShape, b: int) -> int:
    """Saved activations of one vision block, per patch: two norms, the fused qkv output
    (kept: v is a view of it), rotated q and k, the attention output, and the MLP."""
    vh, vi = s.vision_hidden, s.vision_intermediate
    return 2 * (4 * vh + 2 * b * vh) + 6 * b * vh + (4 if s.vision_gated_mlp else 2) * b * vi


def _text_layer_transient(s: ModelShape, b: int) -> int:
    """Peak working memory of one decoder layer without autograd, per token (generation's
    prefill, a recomputed layer's backward): the residual stream and either attention's
    fp32 norm copy, q, k and v, or the MLP's act(gate), up and their product."""
    h = s.hidden
    kv = s.kv_heads * s.head_dim
    attention = 4 * h + b * (h + 2 * kv)
    mlp = (3 if s.gated_mlp else 2) * b * s.intermediate
    return 2 * b * h + max(attention, mlp)


def _vision_block_transient(s: ModelShape, b: int) -> int:
    vh = s.vision_hidden
    return 2 * b * vh + max(
        4 * vh + 3 * b * vh, (3 if s.vision_gated_mlp else 2) * b * s.vision_intermediate
    )


def activation_bytes(w: Workload) -> int:
    if w.mixed_precision and dtype_bytes(w.weight_dtype) == 4:
        return 2  # autocast computes in bf16/fp16
    return dtype_bytes(w.weight_dtype)


def estimate(
    shape: ModelShape, w: Workload, par: Parallelism, device_type: str = "cuda"
) -> list[Term]:
    """The plan's terms, per device (bytes). Pure arithmetic: no torch."""
    terms: list[Term] = []
    n = max(par.processes, 1)
    wb = dtype_bytes(w.weight_dtype)
    b = activation_bytes(w)
    trainable = trainable_params(shape, w)
    frozen = shape.params - trainable
    deepspeed = par.kind == "deepspeed"
    if deepspeed and w.mixed_precision:
        wb = 2  # DeepSpeed casts the model to its bf16/fp16 compute dtype
    # PEFT keeps adapters in fp32 when the base model is bf16/fp16 (autocast_adapter_dtype);
    # DeepSpeed casts everything to its compute dtype
    tb = 4 if w.lora and not deepspeed else wb
    if par.kind == "fsdp" and par.fsdp_upcast:
        tb = 4  # accelerate upcasts FSDP's trainable parameters to fp32 under mixed precision

    # --- weights ------------------------------------------------------------------------
    if w.lora:
        weights = shape.params * wb + trainable * tb  # the frozen base and the adapters
    else:
        weights = frozen * wb + trainable * tb
    if par.shards_params:
        weights //= n
        if par.offload_params:
            terms.append(
                Term("policy weights (offloaded)", weights, "cpu", "CPU memory per process")
            )
            weights = 0
    terms.append(
        Term(
            "policy weights",
            weights,
            "always",
            f"{shape.params / 1e9:.3g} B parameters x {wb} bytes"
            + (f" / {n} shards" if par.shards_params else ""),
        )
    )
    if par.shards_params:
        # gathered in the compute dtype (bf16 under FSDP's mixed precision)
        gather = 2 * shape.largest_unit_params * (2 if par.fsdp_upcast else wb)
        terms.append(
            Term(
                "gathered layers (sharded)",
                gather,
                "always",
                "the largest layer gathered whole, and the next one prefetched",
            )
        )

    # --- reference model (GRPO, beta > 0, full fine-tuning) ----------------------------------
    if w.method == "grpo" and w.beta > 0 and not w.lora:
        ref = shape.params * wb
        if par.shards_params:
            ref //= n
            if par.offload_params:
                terms.append(
                    Term("reference model (offloaded)", ref, "cpu", "CPU memory per process")
                )
                ref = 0
        terms.append(
            Term("reference model", ref, "always", "TRL's frozen copy for the KL term (beta > 0)")
        )

    # --- optimizer ----------------------------------------------------------------------
    if deepspeed:
        # DeepSpeed casts the model to bf16/fp16 and keeps fp32 master weights, momentum and
        # variance (12 bytes per parameter; 8 when the weights are fp32 already), sharded
        # from ZeRO-1 on.
        opt = (12 if w.mixed_precision else 8) * trainable
        if par.zero_stage >= 1:
            opt //= n
    else:
        opt = _optimizer_state_bytes(w.optimizer, tb) * trainable
        if par.kind == "fsdp":
            opt //= n
    if par.offload_optimizer:
        terms.append(Term("optimizer states (offloaded)", opt, "cpu", "CPU memory per process"))
        opt = 0
    terms.append(
        Term("optimizer states", opt, "always", f"{trainable / 1e6:.4g} M trainable parameters")
    )
    if par.kind == "ddp" and n > 1:
        terms.append(
            Term(
                "DDP gradient buckets",
                trainable * tb,
                "always",
                "a flat copy of the gradients for all-reduce",
            )
        )

    # --- training step -----------------------------------------------------------------
    grads = trainable * tb
    if (deepspeed and par.zero_stage >= 2) or par.kind == "fsdp":
        grads //= n
    # DeepSpeed keeps its gradient partitions between steps; torch frees the gradients after
    # each optimizer step (zero_grad sets them to None), so with one accumulation step they
    # are not there yet when the LM head's backward, the step's peak, runs.
    grads_kept = deepspeed or w.gradient_accumulation > 1
    # Offloading moves the gradient partitions to CPU memory too, where the optimizer steps
    # (DeepSpeed's CPU Adam; FSDP2's CPU offload policy)
    grads_offloaded = (deepspeed and par.offload_optimizer) or (
        par.kind == "fsdp" and par.offload_params
    )
    if grads_offloaded:
        terms.append(
            Term(
                "gradients (offloaded)",
                grads * (4 // tb if deepspeed else 1),
                "cpu",
                "CPU memory per process",
            )
        )
        grads = 0
    elif grads_kept:
        terms.append(
            Term(
                "gradients",
                grads,
                "training",
                "kept across accumulation steps"
                if not deepspeed
                else "DeepSpeed's gradient partitions",
            )
        )
    if w.mixed_precision and wb == 4 and device_type == "cuda":
        terms.append(
            Term(
                "autocast weight copies",
                trainable * 2,
                "training",
                "fp32 weights cast to bf16/fp16 once per forward",
            )
        )

    seq = w.sequence
    tokens = w.batch * seq
    patches = w.batch * w.vision_patches
    vision_grads = not (w.freeze_vision or w.lora)
    text_layer = _text_layer_bytes(shape, w, b, seq)
    vision_block = _vision_block_bytes(shape, b) if vision_grads else 0
    if w.activation_checkpointing:
        acts = shape.layers * b * shape.hidden * tokens
        acts += shape.vision_depth * b * shape.vision_hidden * patches if vision_grads else 0
        how = f"checkpointed: each layer's input, {w.batch} x {seq} tokens"
    else:
        acts = shape.layers * text_layer * tokens + shape.vision_depth * vision_block * patches
        how = f"every layer's, {w.batch} x {seq} tokens"
    lora_extra = _lora_bytes(shape, w, b, tb) * tokens
    if not w.activation_checkpointing:
        acts += lora_extra  # (checkpointed: part of the recomputed layer's working set)
    # outside the layers: final norm and the LM head's input (text); merger, patch inputs (vision)
    acts += (4 * shape.hidden + 3 * b * shape.hidden) * tokens
    if vision_grads:
        acts += (
            4 * shape.vision_hidden + 5 * b * shape.vision_hidden + 6 * shape.patch_size**2 * b
        ) * patches
    acts += w.batch * seq * seq * (b if w.attention == "eager" else 1)  # the attention mask
    terms.append(Term("activations", acts, "training", how))

    # The backward's working set. It starts with TRL's fused LM head: on CUDA only the
    # completion (labelled) positions are scored, on CPU every position; one tile of logits,
    # and the fp32 gradients of the head's input and (trained) weight. With activation
    # checkpointing each layer is then recomputed: its activations and its backward's
    # transient, beside the gradients made so far (at most all of them).
    scored = w.batch * (w.completion_tokens if device_type == "cuda" else seq - 1)
    tile_tokens = min(scored, TOKEN_TILE)
    head = tile_tokens * VOCAB_TILE * b + scored * shape.hidden * 4
    if not (w.lora or w.freeze_language):
        head += shape.vocab * shape.hidden * 4
    if device_type != "cuda":
        head += CPU_TILE_COPIES_BACKWARD * tile_tokens * min(VOCAB_TILE, shape.vocab) * 4
    backward, what = head, f"the LM head's: fused log-probabilities over {scored} positions"
    if w.activation_checkpointing:
        layer = max(
            (text_layer + _text_layer_transient(shape, b)) * tokens + lora_extra // shape.layers,
            (vision_block + _vision_block_transient(shape, b)) * patches if vision_grads else 0,
        )
        if layer + (0 if grads_kept else grads) > backward:
            backward = layer + (0 if grads_kept else grads)
            what = "one recomputed layer's" + (
                "" if grads_kept else ", beside the gradients made so far"
            )
    terms.append(Term("backward working set", backward, "training", what))
    if w.method == "grpo":
        # per completion token: log-probs (policy, old, reference), advantages, ratios,
        # clipped ratios, KL, masks, losses: about 16 fp32 values
        terms.append(Term("GRPO loss", 16 * 4 * w.batch * w.completion_tokens, "training"))

    # --- generation (GRPO) ------------------------------------------------------------------
    if w.method == "grpo":
        g = w.generation_batch
        if w.vllm_mode == "colocate":
            terms.append(Term("vLLM (colocate)", 0, "generation", "reserved by vLLM, see below"))
        elif w.vllm_mode != "server":
            per_token_kv = shape.layers * 2 * shape.kv_heads * shape.head_dim * b
            kv = g * seq * per_token_kv
            terms.append(
                Term(
                    "KV cache",
                    kv,
                    "generation",
                    f"{g} sequences x {seq} tokens x {shape.layers} layers",
                )
            )
            # The prefill (the cache then holds the prompts only), or a decoding step: the
            # last token's fp32 logits and the samplers' copies, one layer's cache copied as
            # it grows.
            prefill = g * w.prompt_tokens * (_text_layer_transient(shape, b) + b * shape.hidden)
            prefill += (
                g * w.vision_patches * (_vision_block_transient(shape, b) + b * shape.vision_hidden)
            )
            prefill += g * w.prompt_tokens**2  # the prefill's attention mask
            prefill -= g * w.completion_tokens * per_token_kv
            decode = g * shape.vocab * 4 * 4 + kv // max(shape.layers, 1)
            terms.append(
                Term(
                    "generation working set",
                    max(prefill, decode),
                    "generation",
                    f"the prefill of {g} prompts of {w.prompt_tokens} tokens"
                    if prefill > decode
                    else "a decoding step",
                )
            )
            if par.kind == "deepspeed" and par.zero_stage == 3 and w.ds3_gather_for_generation:
                terms.append(
                    Term(
                        "weights gathered for generation",
                        shape.params * wb - shape.params * wb // n,
                        "generation",
                        "ZeRO-3 with ds3_gather_for_generation (TRL's default)",
                    )
                )

    # --- optimizer step ------------------------------------------------------------------
    if not grads_offloaded:
        fused = "fused" in w.optimizer.lower()
        terms.append(
            Term(
                "gradients and optimizer step",
                grads + (0 if fused else grads),
                "optimizer",
                "all gradients, plus one temporary of their size unless the optimizer is fused",
            )
        )
    return terms


def build_plan(
    model: str,
    shape: ModelShape,
    work: Workload,
    par: Parallelism,
    device_type: str,
    memory: int,
    source: str,
) -> MemoryPlan:
    terms = estimate(shape, work, par, device_type)
    notes = [
        f"prompt: {work.prompt_text_tokens} text + {work.image_tokens} image tokens ({work.prompt_source})"
    ]
    if work.vllm_mode == "colocate":
        terms.append(
            Term(
                "vLLM (colocate)",
                int(memory * work.vllm_memory_fraction),
                "always",
                f"vllm_gpu_memory_utilization {work.vllm_memory_fraction:g} of the device",
            )
        )
    if not work.activation_checkpointing:
        notes.append("activation checkpointing is off: every layer's activations are kept")
    return MemoryPlan(model, shape, par, work, device_type, terms, memory, source, notes)


# ------------------------------------------------------------------------------- suggestions


ZERO3 = Parallelism(kind="deepspeed", zero_stage=3, config_name="zero3")
ZERO3_OFFLOAD = Parallelism(
    kind="deepspeed",
    zero_stage=3,
    offload_optimizer=True,
    offload_params=True,
    config_name="zero3_offload",
)
MAX_PIXEL_HALVINGS = 6  # down to 1/64 of the area
# A change: the workload and parallelism it gives, how to say it, the command-line arguments.
Variant = tuple[Workload, Parallelism, str, list[str]]


def cheapest_fix(
    plan: MemoryPlan, prompt_at: Callable[[int], tuple[int, int] | None], num_generations: int = 1
) -> dict | None:
    """The first change that fits, in order of cost: activation checkpointing, LoRA, ZeRO-3,
    ZeRO-3 with CPU offload, layer-by-layer generation under ZeRO-3, fewer pixels, a
    smaller per-device batch (the same effective batch); if none alone fits, the same
    changes together, in that order. None when nothing tried fits.

    `prompt_at(max_pixels)` gives (image tokens, vision patches) of the planned prompt at a
    smaller pixel limit, None below the processor's minimum."""
    n, machines = plan.parallelism.processes, plan.parallelism.machines

    def total_if_fits(work: Workload, par: Parallelism) -> int | None:
        trial = build_plan(
            plan.model,
            plan.shape,
            work,
            par,
            plan.device_type,
            plan.device_memory,
            plan.device_memory_source,
        )
        return trial.total if trial.fits else None

    def sharded(target: Parallelism) -> Parallelism:
        return dataclasses.replace(target, processes=n, machines=machines)

    def checkpointing(w: Workload, p: Parallelism) -> Iterator[Variant]:
        if not w.activation_checkpointing:
            yield (
                dataclasses.replace(w, activation_checkpointing=True),
                p,
                "activation checkpointing",
                ["--set activation_checkpointing=true"],
            )

    def lora(w: Workload, p: Parallelism) -> Iterator[Variant]:
        if not w.lora:
            yield (
                dataclasses.replace(w, lora=True, freeze_vision=False, freeze_language=False),
                p,
                "LoRA",
                ["--set peft.enabled=true"],
            )

    def zero3(w: Workload, p: Parallelism) -> Iterator[Variant]:
        if not p.shards_params and n > 1:
            yield w, sharded(ZERO3), "ZeRO-3", ["--config-file zero3"]

    def offload(w: Workload, p: Parallelism) -> Iterator[Variant]:
        if not p.offload_optimizer:
            yield (
                w,
                sharded(ZERO3_OFFLOAD),
                "ZeRO-3 with CPU offload",
                ["--config-file zero3_offload"],
            )

    def layerwise_generation(w: Workload, p: Parallelism) -> Iterator[Variant]:
        if w.method == "grpo" and w.ds3_gather_for_generation and w.vllm_mode is None:
            zero3_now = p.kind == "deepspeed" and p.zero_stage == 3
            target = p if zero3_now else sharded(ZERO3_OFFLOAD)
            args = ([] if zero3_now else ["--config-file zero3_offload"]) + [
                "--set ds3_gather_for_generation=false"
            ]
            yield (
                dataclasses.replace(w, ds3_gather_for_generation=False),
                target,
                "ZeRO-3 generating layer by layer" + ("" if zero3_now else " with CPU offload"),
                args,
            )

    def fewer_pixels(w: Workload, p: Parallelism) -> Iterator[Variant]:
        pixels = w.max_pixels
        for _ in range(MAX_PIXEL_HALVINGS if w.image_tokens else 0):
            pixels //= 2
            cost = prompt_at(pixels)
            if cost is None:
                return
            yield (
                dataclasses.replace(
                    w, image_tokens=cost[0], vision_patches=cost[1], max_pixels=pixels
                ),
                p,
                f"max_pixels {pixels:,}",
                [f"--set model.max_pixels={pixels}"],
            )

    def smaller_batch(w: Workload, p: Parallelism) -> Iterator[Variant]:
        batch, steps = w.batch, w.gradient_accumulation
        while batch > 1:
            batch, steps = batch // 2, steps * 2
            if w.method == "grpo" and (batch * steps * n) % max(num_generations, 1):
                return  # the generation batch must stay a multiple of num_generations
            yield (
                dataclasses.replace(
                    w,
                    batch=batch,
                    gradient_accumulation=steps,
                    generation_batch=batch * steps if w.method == "grpo" else 0,
                ),
                p,
                f"per-device batch {batch} x {steps} accumulation steps (the same effective batch)",
                [
                    f"--set per_device_train_batch_size={batch}",
                    f"--set gradient_accumulation_steps={steps}",
                ],
            )

    candidates = (
        checkpointing,
        lora,
        zero3,
        offload,
        layerwise_generation,
        fewer_pixels,
        smaller_batch,
    )
    for candidate in candidates:
        for work, par, text, args in candidate(plan.workload, plan.parallelism):
            total = total_if_fits(work, par)
            if total is not None:
                return {"change": text, "arguments": args, "bytes": total, "gib": total / GIB}
    work, par = plan.workload, plan.parallelism
    texts: list[str] = []
    arguments: list[str] = []
    for candidate in candidates:
        last = None
        for last in candidate(work, par):
            total = total_if_fits(last[0], last[1])
            if total is not None:
                return {
                    "change": " + ".join([*texts, last[2]]),
                    "arguments": _merge_arguments(arguments, last[3]),
                    "bytes": total,
                    "gib": total / GIB,
                }
        if last is not None:  # the strongest step of this change, then the next change on top
            work, par = last[0], last[1]
            texts.append(last[2])
            arguments = _merge_arguments(arguments, last[3])
    return None


def _merge_arguments(earlier: list[str], later: list[str]) -> list[str]:
    """Command-line arguments of two changes together: a later --config-file replaces an
    earlier one."""
    if any(a.startswith("--config-file") for a in later):
        earlier = [a for a in earlier if not a.startswith("--config-file")]
    return earlier + later

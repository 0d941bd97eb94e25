"""The terms of a memory plan: per-device bytes of weights, optimizer states, gradients,
activations, the fused LM head, the KV cache and the gather buffers (docs/training.md,
"Memory plan"). Pure arithmetic on the model's shape, the workload and the parallelism: no torch.
"""

from __future__ import annotations

from vlmr1_cli.train.memory_plan import (
    MemoryPlan,
    ModelShape,
    Parallelism,
    Term,
    Workload,
    dtype_bytes,
    trainable_params,
)

# TRL 1.16's fused LM head (trl/trainer/utils.py, kernels/chunked_logprob.py): logits are
# computed in tiles of up to TOKEN_TILE tokens x VOCAB_TILE vocabulary entries.
TOKEN_TILE = 4096
VOCAB_TILE = 32768
# Without Triton (CPU) TRL folds each tile in torch: its backward keeps about seven fp32
# tile-sized temporaries alive at once (z, log p, p, the gradient and the products of the
# loss's two terms). Triton kernels (CUDA) fuse them away.
CPU_TILE_COPIES_BACKWARD = 7


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

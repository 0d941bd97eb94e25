"""What the memory plan reads (train/memory_plan.py computes it): the model's config and its
processor's pixel limits (for a Hub id only config.json and the processor config are
fetched), exact parameter counts from the model class built on the meta device, the
recipe's training settings over TRL's defaults, the accelerate config's parallelism, and the
typical prompt from a sample of the training records.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from vlmr1_cli.errors import UserError
from vlmr1_cli.train.memory_plan import (
    GIB,
    MemoryPlan,
    ModelShape,
    Parallelism,
    Workload,
    build_plan,
    cheapest_fix,
)

DEFAULT_DEVICE_MEMORY = 80 * GIB  # the plan's device when there is no GPU: an 80 GB card
# Records read per training file to find the typical prompt (text and image tokens).
DATA_SAMPLE = 512
# The prompt length planned for: this quantile of the sampled records. Batches are padded to
# their longest prompt, and the longest of 8 random records sits near the 90th percentile.
PROMPT_QUANTILE = 0.9
# Without a tokenizer (a Hub id, whose config alone is fetched): characters per token of
# English text in a BPE vocabulary, and the chat template's own tokens (role markers, the
# default system prompt).
CHARS_PER_TOKEN = 4.0
CHAT_TEMPLATE_TOKENS = 24


def training_settings(recipe: dict, cuda: bool = True) -> dict:
    """The recipe's `training` section over TRL's defaults, with the rules TRL applies after
    construction (steps_per_generation, bf16, activation checkpointing)."""
    from vlmr1_cli.recipes import trainer_config_fields

    fields = trainer_config_fields(recipe["method"])
    out: dict[str, Any] = {}
    for name, f in fields.items():
        if f.default is not dataclasses.MISSING:
            out[name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[name] = f.default_factory()
    out.update({k: v for k, v in recipe["training"].items() if v is not None})
    if out.get("activation_checkpointing") is None:
        out["activation_checkpointing"] = bool(out.get("gradient_checkpointing"))
    if out.get("bf16") is None:
        out["bf16"] = not out.get("fp16")
    if not cuda:  # vlmr1's trainer_args on a machine without CUDA, where the recipe is silent
        out["bf16"] = bool(recipe["training"].get("bf16", False))
        out["fp16"] = bool(recipe["training"].get("fp16", False))
    if not out.get("steps_per_generation"):
        out["steps_per_generation"] = out.get("gradient_accumulation_steps") or 1
    out["optim"] = str(getattr(out.get("optim"), "value", out.get("optim")))
    return out


def parallelism_of(recipe: dict) -> Parallelism:
    """Processes, ZeRO stage, FSDP and offload from the accelerate config (checks.py reads it)."""
    from vlmr1_cli.train.checks import accelerate_config, effective_launch, sharding_of, world_size

    launch = recipe["launch"]
    data = accelerate_config(launch)
    processes = world_size(recipe)
    machines = int(effective_launch(launch).get("num_machines") or 1)
    name = Path(launch["config_file"]).stem if launch.get("config_file") else None
    kind = str(data.get("distributed_type") or "").upper()
    if kind == "DEEPSPEED":
        ds = data.get("deepspeed_config") or {}
        stage, off_opt, off_par = (
            ds.get("zero_stage"),
            ds.get("offload_optimizer_device"),
            ds.get("offload_param_device"),
        )
        ds_file = ds.get("deepspeed_config_file")
        if ds_file and Path(ds_file).is_file():
            try:
                zero = (
                    json.loads(Path(ds_file).read_text(encoding="utf-8")).get("zero_optimization")
                    or {}
                )
            except ValueError:
                raise UserError(f"{ds_file}: invalid JSON (DeepSpeed config)") from None
            stage = zero.get("stage", stage)
            off_opt = (zero.get("offload_optimizer") or {}).get("device", off_opt)
            off_par = (zero.get("offload_param") or {}).get("device", off_par)
        stage = 3 if sharding_of(launch) == "ZeRO-3" else int(stage or 0)
        return Parallelism(
            processes,
            "deepspeed",
            stage,
            _offloaded(off_opt),
            _offloaded(off_par) and stage == 3,
            config_name=name,
            machines=machines,
        )
    if kind == "FSDP":
        fsdp = data.get("fsdp_config") or {}
        offload = str(fsdp.get("fsdp_offload_params", False)).lower() == "true"
        upcast = str(data.get("mixed_precision") or "no").lower() != "no"
        return Parallelism(
            processes, "fsdp", 0, offload, offload, upcast, config_name=name, machines=machines
        )
    return Parallelism(
        processes, "ddp" if processes > 1 else "single", config_name=name, machines=machines
    )


def _offloaded(device: Any) -> bool:
    return str(device or "none").lower() in ("cpu", "nvme")


def model_files(recipe: dict) -> Path:
    """The folder holding the model's config.json: a local folder or preset as is; for a
    Hub id only config.json and preprocessor_config.json are fetched (and cached)."""
    from vlmr1_cli.models.hub import is_hub_id
    from vlmr1_cli.models.loading import adapter_origin
    from vlmr1_cli.models.presets import resolve_model_path

    m = recipe["model"]
    if m.get("adapter") is not None or (
        m.get("path") and adapter_origin(resolve_model_path(str(m["path"])))[0]
    ):
        from vlmr1_cli.train.model_setup import locate_training_model

        # training on from a LoRA adapter: its base, as the run resolves it
        revision = None if m.get("revision") is None else str(m["revision"])
        return Path(locate_training_model(recipe, revision)[0])
    given = str(m["path"])
    path = resolve_model_path(given)
    if Path(path).is_dir():
        if not (Path(path) / "config.json").is_file():
            raise UserError(f"recipe: key 'model.path': {given} has no config.json")
        return Path(path)
    if not is_hub_id(path):
        raise UserError(f"recipe: key 'model.path': folder not found: {given}")
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    from vlmr1_cli.models.hub import describe_failure

    revision = recipe["model"].get("revision")
    revision = None if revision is None else str(revision)
    try:
        config = Path(hf_hub_download(path, "config.json", revision=revision))
    except Exception as e:  # every Hub/network failure becomes one line
        raise UserError(describe_failure(path, revision, e)) from None
    for name in ("preprocessor_config.json", "processor_config.json"):
        try:
            hf_hub_download(path, name, revision=revision)
            break
        except EntryNotFoundError:
            continue  # neither: the family's default pixel limits apply
        except Exception as e:
            raise UserError(describe_failure(path, revision, e)) from None
    return config.parent


def _config_dtype(config: Any) -> str:
    dtype = getattr(config, "dtype", None) or getattr(config, "torch_dtype", None)
    if dtype is None:
        text = getattr(config, "get_text_config", lambda: None)()
        dtype = getattr(text, "dtype", None) or getattr(text, "torch_dtype", None)
    return str(dtype or "float32").replace("torch.", "")


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


_UNIT = re.compile(r"\.(layers|blocks)\.\d+$")


def model_shape(folder: Path, family: Any, peft: dict) -> ModelShape:
    """Parameter counts from the model class built on the meta device (no memory, no
    weights), and the sizes from its config."""
    import torch
    from transformers import AutoConfig, AutoModelForImageTextToText

    from vlmr1_cli.train.model_setup import lora_config

    try:
        config = AutoConfig.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError, KeyError) as e:
        raise UserError(
            f"{folder / 'config.json'}: cannot read the model config: {str(e).splitlines()[0]}"
        ) from None
    with torch.device("meta"):
        model = AutoModelForImageTextToText.from_config(config)
    names = dict(model.named_parameters())  # tied weights once
    params = sum(p.numel() for p in names.values())
    vision = sum(p.numel() for n, p in names.items() if _under(n, family.vision_prefixes))
    language = sum(p.numel() for n, p in names.items() if _under(n, family.language_prefixes))
    units = [
        sum(p.numel() for p in m.parameters()) for n, m in model.named_modules() if _UNIT.search(n)
    ]
    embed = model.get_input_embeddings().weight.numel()
    lora = lora_inputs = 0
    modules = dict(model.named_modules())
    lora_cfg = lora_config(model, family, {**peft, "enabled": True})
    targets = lora_cfg.target_modules
    targets = [targets] if isinstance(targets, str) else list(targets)
    for name, mod in modules.items():
        if isinstance(mod, torch.nn.Linear) and any(
            name == t or name.endswith("." + t) for t in targets
        ):
            lora += int(peft.get("r") or 8) * (mod.in_features + mod.out_features)
            lora_inputs += mod.in_features
    text = config.get_text_config()
    vcfg = getattr(config, "vision_config", None)
    vh = int(getattr(vcfg, "embed_dim", None) or getattr(vcfg, "hidden_size", 0) or 0)
    vi = int(
        getattr(vcfg, "intermediate_size", None) or vh * float(getattr(vcfg, "mlp_ratio", 4) or 4)
    )
    vdepth = int(getattr(vcfg, "depth", None) or getattr(vcfg, "num_hidden_layers", 0) or 0)
    patch = int(getattr(vcfg, "patch_size", 14) or 14)
    merge = int(getattr(vcfg, "spatial_merge_size", 0) or 0)
    tile_tokens = tile_patches = 0
    if not merge:  # a tiling family: SigLIP tiles of image_size, pixel-shuffled by scale_factor
        side = int(getattr(vcfg, "image_size", 0) or 0) // patch
        scale = int(getattr(config, "scale_factor", 1) or 1)
        tile_patches, tile_tokens, merge = side * side, side * side // (scale * scale), 1
    heads = int(text.num_attention_heads)
    gated = any(
        n.endswith("mlp.gate_proj") for n in modules if not _under(n, family.vision_prefixes)
    )
    vgated = any(n.endswith("mlp.gate_proj") for n in modules if _under(n, family.vision_prefixes))
    return ModelShape(
        model_type=str(config.model_type),
        family=family.name,
        params=params,
        vision_params=vision,
        language_params=language,
        largest_unit_params=max([*units, embed]),
        lora_params=lora,
        lora_inputs=lora_inputs,
        stored_dtype=_config_dtype(config),
        hidden=int(text.hidden_size),
        layers=int(text.num_hidden_layers),
        heads=heads,
        kv_heads=int(getattr(text, "num_key_value_heads", None) or heads),
        head_dim=int(getattr(text, "head_dim", None) or text.hidden_size // heads),
        intermediate=int(text.intermediate_size),
        vocab=int(text.vocab_size),
        gated_mlp=gated,
        vision_hidden=vh,
        vision_depth=vdepth,
        vision_intermediate=vi,
        vision_gated_mlp=vgated,
        patch_size=patch,
        merge_size=merge,
        tile_tokens=tile_tokens,
        tile_patches=tile_patches,
    )


def pixel_limits(recipe: dict, folder: Path, family: Any):
    """The processor's pixel limits from preprocessor_config.json (the family reads them as
    from a loaded processor), with the recipe's model.min_pixels/max_pixels over them."""
    from vlmr1_cli.models.base import PixelLimits

    data: dict = {}
    # transformers 5 saves processor_config.json with an "image_processor" section; older
    # checkpoints (the Qwen2.5-VL Hub repos) a flat preprocessor_config.json
    for name, section in (
        ("preprocessor_config.json", None),
        ("processor_config.json", "image_processor"),
    ):
        path = folder / name
        if not path.is_file():
            continue
        try:
            found = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            raise UserError(f"{path}: invalid JSON") from None
        found = found.get(section) if section and isinstance(found, dict) else found
        if isinstance(found, dict):
            data = found
            break
    base = family.pixel_limits(
        SimpleNamespace(**{k: v for k, v in data.items() if k.isidentifier()})
    )
    m = recipe["model"]
    if m.get("min_pixels") or m.get("max_pixels"):
        base = PixelLimits(
            int(m.get("min_pixels") or base.min_pixels),
            int(m.get("max_pixels") or base.max_pixels),
            base.factor,
            None if m.get("max_pixels") else base.longest_edge,
        )
    return base


def image_cost(
    shape: ModelShape, family: Any, limits: Any, width: int, height: int
) -> tuple[int, int]:
    """(image tokens, vision patches) of one image at its model-input size."""
    w, h = family.input_size(int(width), int(height), limits)
    if shape.tile_tokens:
        rows, cols = family.tile_grid(int(width), int(height), limits)
        tiles = rows * cols + 1
        return tiles * shape.tile_tokens, tiles * shape.tile_patches
    patches = (w // shape.patch_size) * (h // shape.patch_size)
    return patches // (shape.merge_size**2), patches


def _quantile(values: list[int], q: float) -> int:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(math.ceil(q * len(ordered))) - 1)] if ordered else 0


def _tokenizer(folder: Path) -> Any:
    try:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return tok if getattr(tok, "chat_template", None) else None


def _text_tokens(tok: Any, system: str | None, text: str, answer: str | None = None) -> int:
    if tok is None:
        chars = len(text) + len(system or "") + len(answer or "")
        return int(math.ceil(chars / CHARS_PER_TOKEN)) + CHAT_TEMPLATE_TOKENS
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": text}
    ]
    if answer is not None:
        messages.append({"role": "assistant", "content": answer})
    ids = tok.apply_chat_template(messages, tokenize=True, add_generation_prompt=answer is None)
    if isinstance(ids, Mapping):  # a BatchEncoding in transformers 5
        ids = ids["input_ids"]
    return len(ids)


@dataclass(frozen=True)
class PromptSample:
    """The prompts planned for: per record, its text tokens (chat template and the vision
    markers included), its SFT answer's tokens and its images' original sizes."""

    text_tokens: list[int]
    answer_tokens: list[int]
    image_sizes: list[list[tuple[int, int]]]
    source: str

    def text(self) -> int:
        return _quantile(self.text_tokens, PROMPT_QUANTILE)

    def answer(self) -> int:
        return _quantile(self.answer_tokens, PROMPT_QUANTILE)

    def images(self, shape: ModelShape, family: Any, limits: Any) -> tuple[int, int]:
        """(image tokens, vision patches) per prompt at these pixel limits."""
        costs = [
            [image_cost(shape, family, limits, w, h) for w, h in sizes]
            for sizes in self.image_sizes
        ]
        return (
            _quantile([sum(c[0] for c in cs) for cs in costs], PROMPT_QUANTILE),
            _quantile([sum(c[1] for c in cs) for cs in costs], PROMPT_QUANTILE),
        )


def sample_prompts(
    recipe: dict, family: Any, limits: Any, folder: Path, image_size: tuple[int, int] | None
) -> PromptSample:
    """Up to DATA_SAMPLE records of each training file; when the files are not at hand (or
    `image_size` is given), the recipe's template with one image of `image_size`, default
    one at max_pixels (the worst case)."""
    from vlmr1_cli.data.loader import (
        answer_text,
        iter_records,
        prompt_text,
        solution_to_model_frame,
    )

    prompt = recipe["prompt"]
    system = prompt.get("system")
    tok = _tokenizer(folder)
    sources = [s for s in recipe["data"]["train"] if Path(s["path"]).is_file()]
    if sources and image_size is None:
        texts, answers, sizes = [], [], []
        for src in sources:
            for rec in iter_records(
                src["path"], src["image_root"], max_samples=DATA_SAMPLE, check_images=False
            ):
                question = prompt_text(rec, prompt["templates"])
                bare = _text_tokens(tok, system, question)
                answer = 0
                if recipe["method"] == "sft":
                    inputs = [
                        family.input_size(int(w), int(h), limits) for w, h in rec["image_sizes"]
                    ]
                    target = answer_text(
                        rec,
                        solution_to_model_frame(rec, family, inputs),
                        family,
                        prompt["answer_templates"],
                    )
                    answer = _text_tokens(tok, system, question, target) - bare
                texts.append(bare + 2 * len(rec["image_sizes"]))  # vision start/end markers
                answers.append(answer)
                sizes.append([(int(w), int(h)) for w, h in rec["image_sizes"]])
        where = f"{len(texts)} training records sampled, their {PROMPT_QUANTILE:.0%} quantile"
        return PromptSample(texts, answers, sizes, where)
    task = next(iter(recipe.get("rewards") or {}), None) or next(iter(prompt["templates"]), "rec")
    question = prompt["templates"].get(task, "{problem}")
    question = question.replace("{problem}", "the object on the left").replace(
        "{labels}", "['object']"
    )
    answer = 0
    if recipe["method"] == "sft":  # a one-box answer
        target = prompt["answer_templates"].get(task, "{solution}")
        target = target.replace("{think}", "").replace("{box}", "[120, 80, 360, 300]")
        target = target.replace(
            "{objects}", '[{"bbox_2d": [120, 80, 360, 300], "label": "object"}]'
        )
        answer = _text_tokens(
            tok, system, question, target.replace("{solution}", "42")
        ) - _text_tokens(tok, system, question)
    side = math.isqrt(limits.max_pixels)
    w, h = image_size or (side, side)
    where = (
        f"one {w}x{h} image per prompt (--image-size)"
        if image_size
        else f"no training data at hand: one image at max_pixels ({limits.max_pixels:,} pixels), the worst "
        "case (--image-size sets a typical size)"
    )
    return PromptSample([_text_tokens(tok, system, question) + 2], [answer], [[(w, h)]], where)


def workload_of(
    recipe: dict,
    settings: dict,
    shape: ModelShape,
    family: Any,
    limits: Any,
    sample: PromptSample,
    processes: int,
) -> Workload:
    t = settings
    method = recipe["method"]
    text_tokens, answer = sample.text(), sample.answer()
    image_tokens, patches = sample.images(shape, family, limits)
    batch = int(t.get("per_device_train_batch_size") or 1)
    if method == "grpo":
        if t.get("generation_batch_size"):
            generation = int(t["generation_batch_size"]) // max(processes, 1)
        else:
            generation = batch * int(t["steps_per_generation"])
        completion = int(t.get("max_completion_length") or 512)
    else:
        generation = 0
        limit = t.get("max_length")
        completion = answer
        if limit and text_tokens + image_tokens + answer > int(limit):
            completion = max(int(limit) - text_tokens - image_tokens, 0)
    mp = "bf16" if t.get("bf16") else ("fp16" if t.get("fp16") else None)
    dtype = str(recipe["model"].get("dtype") or shape.stored_dtype)
    return Workload(
        method=method,
        batch=batch,
        generation_batch=generation,
        gradient_accumulation=int(t.get("gradient_accumulation_steps") or 1),
        prompt_text_tokens=text_tokens,
        image_tokens=image_tokens,
        vision_patches=patches,
        completion_tokens=completion,
        activation_checkpointing=bool(t.get("activation_checkpointing")),
        beta=float(t.get("beta") or 0.0) if method == "grpo" else 0.0,
        lora=bool(recipe["peft"].get("enabled")),
        lora_dropout=float(recipe["peft"].get("lora_dropout") or 0.0),
        freeze_vision=bool(recipe["freeze"].get("vision")),
        freeze_language=bool(recipe["freeze"].get("language")),
        weight_dtype=dtype,
        mixed_precision=mp,
        optimizer=str(t.get("optim") or "adamw_torch"),
        attention=str(recipe["model"].get("attn_implementation") or "sdpa"),
        vllm_mode=str(t.get("vllm_mode") or "colocate") if t.get("use_vllm") else None,
        vllm_memory_fraction=float(t.get("vllm_gpu_memory_utilization") or 0.3)
        if t.get("use_vllm")
        else 0.0,
        ds3_gather_for_generation=bool(t.get("ds3_gather_for_generation", True)),
        max_pixels=limits.max_pixels,
        prompt_source=sample.source,
    )


def device_memory_of(given: int | None, device_type: str) -> tuple[int, str]:
    """The device's memory: given (--device-memory), else the CUDA device's, else (planning
    for a GPU on a machine without one) 80 GiB; for a CPU run, the machine's memory."""
    if given:
        return int(given), "--device-memory"
    if device_type == "cuda":
        import torch

        if torch.cuda.is_available():
            props = torch.cuda.get_device_properties(0)
            return int(props.total_memory), props.name
        return DEFAULT_DEVICE_MEMORY, "assumed: an 80 GB GPU"
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"), "this machine's memory"
    except (ValueError, OSError, AttributeError):  # no sysconf (Windows)
        return DEFAULT_DEVICE_MEMORY, "assumed"


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B?|B)?\s*$", re.IGNORECASE)
_UNITS = {
    "": GIB,
    "B": 1,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
    "KIB": 2**10,
    "MIB": 2**20,
    "GIB": 2**30,
    "TIB": 2**40,
    "K": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "KI": 2**10,
    "MI": 2**20,
    "GI": 2**30,
    "TI": 2**40,
}


def parse_memory(text: str, option: str = "--device-memory") -> int:
    """`80GB`, `80GiB`, `81559MiB`, `80` (GiB) -> bytes; anything else is one line."""
    m = _SIZE.match(str(text))
    if not m or float(m.group(1)) <= 0:
        raise UserError(f"{option} '{text}': not a memory size (e.g. 80GB, 80GiB, 81559MiB)")
    return int(float(m.group(1)) * _UNITS[(m.group(2) or "").upper()])


def parse_image_size(text: str, option: str = "--image-size") -> tuple[int, int]:
    m = re.match(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$", str(text))
    if not m or int(m.group(1)) < 1 or int(m.group(2)) < 1:
        raise UserError(f"{option} '{text}': expected WIDTHxHEIGHT in pixels, e.g. 640x480")
    return int(m.group(1)), int(m.group(2))


def plan_for_recipe(
    recipe: dict,
    device_memory: int | None = None,
    device_type: str | None = None,
    image_size: tuple[int, int] | None = None,
    suggest: bool = True,
) -> MemoryPlan:
    """The memory plan of a loaded recipe (launch settings applied). `device_type` is what the
    plan is for: "cuda" (the default when planning, GPU or not) or "cpu"."""
    from vlmr1_cli.models.registry import family_for_path

    device_type = device_type or "cuda"
    folder = model_files(recipe)
    family = family_for_path(folder)
    shape = model_shape(folder, family, recipe["peft"])
    par = parallelism_of(recipe)
    settings = training_settings(recipe, cuda=device_type == "cuda")
    limits = pixel_limits(recipe, folder, family)
    sample = sample_prompts(recipe, family, limits, folder, image_size)
    work = workload_of(recipe, settings, shape, family, limits, sample, par.processes)
    memory, source = device_memory_of(device_memory, device_type)
    label = str(recipe["model"].get("path") or recipe["model"].get("adapter"))
    plan = build_plan(label, shape, work, par, device_type, memory, source)
    if suggest and not plan.fits:

        def prompt_at(max_pixels: int) -> tuple[int, int] | None:
            if max_pixels < limits.min_pixels:
                return None
            return sample.images(
                shape, family, dataclasses.replace(limits, max_pixels=max_pixels, longest_edge=None)
            )

        plan.suggestion = cheapest_fix(plan, prompt_at, int(settings.get("num_generations") or 1))
    return plan


def announce_plan(recipe: dict) -> None:
    """The plan's one line on stderr as a run starts, for the device it trains on. The run's
    own checks have passed: a plan that cannot be made is a note, never the run's end."""
    import torch

    from vlmr1_cli.progress import info, note

    try:
        plan = plan_for_recipe(recipe, device_type="cuda" if torch.cuda.is_available() else "cpu")
    except UserError as e:
        note(f"no memory plan: {e}")
        return
    except Exception as e:  # an estimate must not stop a run that passed its checks
        note(f"no memory plan: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
        return
    info(("" if plan.fits else "warning: ") + plan.summary_line())

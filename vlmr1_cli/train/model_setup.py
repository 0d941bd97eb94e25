"""The trainable model: loading it, the four training modes (full fine-tuning, LoRA with the
vision tower left out by default, frozen vision tower, frozen language model), and LoRA
continued from an adapter (`model.adapter`, or `model.path` naming an adapter folder)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlmr1_cli.errors import UserError
from vlmr1_cli.models.base import ModelFamily
from vlmr1_cli.recipes.schema import FreezeSettings, PeftSettings, Recipe


def check_model_weights(model_path: str, given: str | None) -> None:
    """The weights files are whole (headers only, no tensor read): called before the data
    is built, so a truncated download or copy fails in seconds, naming the file (as the
    recipe's model.path names it, `given`)."""
    from vlmr1_cli.models.integrity import check_model_files

    check_model_files(model_path, label=str(given or model_path))


@dataclass(frozen=True)
class StartingAdapter:
    """A LoRA adapter that training continues from, unmerged."""

    given: str  # as the recipe names it
    key: str  # the recipe key naming it: model.adapter, or model.path naming an adapter folder
    folder: str  # its local folder (a Hub id downloaded)
    recorded_base: str  # adapter_config.json's base_model_name_or_path
    base: str  # the base trained on, as named: model.path if given beside model.adapter, else recorded_base
    base_revision: str | None  # the base's Hub revision, if any


def locate_training_model(
    recipe: Recipe, revision: str | None
) -> tuple[str, StartingAdapter | None]:
    """(the base model's folder, the adapter training continues from or None), no weights read.

    `model.adapter` set: the base is `model.path` if given (the adapter's own base may be
    another folder of the same family: a copy, another machine's path), else the base named
    by adapter_config.json. `model.path` naming an adapter folder means the same as
    `model.adapter` with no `model.path`. `revision` is model.path's; with model.adapter
    alone, the revision of the adapter's base (a Hub id)."""
    from vlmr1_cli.models.loading import adapter_origin, resolve_model

    m = recipe.model
    path = str(m.path) if m.path else None
    if m.adapter is None:
        # recipes.loading.load_recipe requires model.path without an adapter
        assert path is not None
        folder = resolve_model(path, revision)
        recorded, recorded_revision = adapter_origin(folder)
        if recorded is None:
            return folder, None
        adapter = StartingAdapter(path, "model.path", folder, recorded, recorded, recorded_revision)
        check_adapter_modes(recipe, adapter)
        return _recorded_base_folder(adapter), adapter
    given = str(m.adapter)
    try:
        folder = resolve_model(given)
    except UserError as e:
        raise UserError(f"recipe: key 'model.adapter': {e}") from None
    recorded, recorded_revision = adapter_origin(folder)
    if recorded is None:
        raise UserError(
            f"recipe: key 'model.adapter': {given} is not a LoRA adapter folder "
            "(no adapter_config.json)"
        )
    if path is None:
        adapter = StartingAdapter(
            given, "model.adapter", folder, recorded, recorded, revision or recorded_revision
        )
        check_adapter_modes(recipe, adapter)
        return _recorded_base_folder(adapter), adapter
    adapter = StartingAdapter(given, "model.adapter", folder, recorded, path, revision)
    check_adapter_modes(recipe, adapter)
    base_folder = resolve_model(path, revision)
    if adapter_origin(base_folder)[0] is not None:
        raise UserError(
            f"recipe: key 'model.path': {path} is a LoRA adapter too; beside model.adapter, "
            "model.path names the base model"
        )
    _check_same_base(adapter, base_folder)
    return base_folder, adapter


def check_adapter_modes(recipe: Recipe, adapter: StartingAdapter) -> None:
    """Continuing an adapter trains its own LoRA weights: no new LoRA, nothing to freeze."""
    if recipe.peft.enabled:
        raise UserError(
            f"recipe: keys 'peft.enabled' and '{adapter.key}': training continues the adapter "
            "with its own LoRA settings (adapter_config.json); set peft.enabled to false"
        )
    if recipe.freeze.vision or recipe.freeze.language:
        raise UserError(
            f"recipe: keys 'freeze' and '{adapter.key}': an adapter trains only its own weights "
            "(the base model stays as it is); remove the freeze keys"
        )


def _recorded_base_folder(adapter: StartingAdapter) -> str:
    from vlmr1_cli.models.loading import resolve_base

    try:
        return resolve_base(adapter.recorded_base, adapter.base_revision)
    except UserError as e:
        raise UserError(
            f"{Path(adapter.folder) / 'adapter_config.json'}: its base model cannot be found ({e}); "
            "set model.path to the base model"
        ) from None


def _check_same_base(adapter: StartingAdapter, base_folder: str) -> None:
    """model.path beside model.adapter: a base of another family is an error; another folder
    of the same family (a copy, a moved checkout) is allowed, with a note."""
    from vlmr1_cli.models.hub import hub_id_of_cache_path
    from vlmr1_cli.models.loading import read_meta
    from vlmr1_cli.models.presets import resolve_model_path
    from vlmr1_cli.models.registry import family_for_path
    from vlmr1_cli.progress import note

    family = family_for_path(base_folder).name
    recorded_folder = Path(resolve_model_path(adapter.recorded_base))
    here = recorded_folder.is_dir()
    trained_on = read_meta(adapter.folder).get("family") or (
        family_for_path(str(recorded_folder)).name if here else None
    )
    if trained_on and trained_on != family:
        raise UserError(
            f"recipe: keys 'model.path' and 'model.adapter': {adapter.base} is a '{family}' model "
            f"but the adapter {adapter.given} was trained on a '{trained_on}' model"
        )
    cached = hub_id_of_cache_path(base_folder)
    same = (
        adapter.recorded_base == adapter.base
        or (here and recorded_folder.resolve() == Path(base_folder).resolve())
        or (cached is not None and cached[0] == adapter.recorded_base)
    )
    if not same:
        note(
            f"the adapter {adapter.given} was trained on {adapter.recorded_base}; it continues on "
            f"{adapter.base} (model.path)"
        )


def _load_errors() -> tuple[type[BaseException], ...]:
    """What from_pretrained raises on a broken checkpoint (safetensors' own error included)."""
    errors: tuple[type[BaseException], ...] = (OSError, ValueError, KeyError, RuntimeError)
    try:
        from safetensors import SafetensorError

        errors += (SafetensorError,)
    except ImportError:
        pass
    return errors


def load_policy_model(
    model_path: str, family: ModelFamily, recipe: Recipe, adapter_folder: str | None = None
):
    """The model to train: the checkpoint (local files only) with the recipe's dtype,
    attention implementation and freezing. (Inference loads with `models.loading.load_model`.)"""
    import torch
    from transformers import AutoModelForImageTextToText

    m = recipe.model
    check_model_weights(model_path, m.path)
    # `is True`, not bool(): a stray string such as "no" must never turn remote code on.
    kwargs: dict[str, Any] = {
        "local_files_only": True,
        "trust_remote_code": m.trust_remote_code is True,
    }
    if m.dtype:
        kwargs["dtype"] = getattr(torch, m.dtype)
    if m.attn_implementation:
        kwargs["attn_implementation"] = m.attn_implementation
    try:
        model = AutoModelForImageTextToText.from_pretrained(model_path, **kwargs)
    except torch.OutOfMemoryError:
        raise
    except _load_errors() as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise UserError(f"{m.path or model_path}: cannot load model: {first}") from None
    apply_freezing(model, family, recipe.freeze)
    if adapter_folder:  # the LoRA adapter training continues from (model.adapter)
        model = load_trainable_adapter(model, adapter_folder, model_path)
    return model


def load_trainable_adapter(model, folder: str, base_folder: str):
    """The adapter in `folder` on `model`, its LoRA weights trainable (the base's frozen). Its
    saved config then names the base actually trained on, as a LoRA run's adapter does."""
    import torch
    from peft import PeftModel

    try:
        model = PeftModel.from_pretrained(model, folder, is_trainable=True)
    except torch.OutOfMemoryError:
        raise
    except _load_errors() as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise UserError(
            f"{folder}: cannot load the LoRA adapter onto {base_folder}: {first}"
        ) from None
    for config in model.peft_config.values():
        config.base_model_name_or_path = base_folder
    return model


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def apply_freezing(model, family: ModelFamily, freeze: FreezeSettings) -> int:
    """Freeze the vision tower and/or the language model; returns the number of frozen tensors."""
    frozen = 0
    for name, param in model.named_parameters():
        if (freeze.vision and _under(name, family.vision_prefixes)) or (
            freeze.language and _under(name, family.language_prefixes)
        ):
            param.requires_grad_(False)
            frozen += 1
    if (freeze.vision or freeze.language) and frozen == 0:
        raise UserError(
            f"recipe: key 'freeze': no parameters matched the {family.name} module names"
        )
    return frozen


def lora_config(model, family: ModelFamily, peft: PeftSettings):
    """LoRA on the language model's linear layers (lm_head excluded); the vision tower only
    with `peft.include_vision` (vLLM cannot serve vision-tower LoRA)."""
    if not peft.enabled:
        return None
    import torch
    from peft import LoraConfig

    targets = peft.target_modules
    if targets == "all-linear":
        targets = sorted(
            name
            for name, mod in model.named_modules()
            if isinstance(mod, torch.nn.Linear)
            and not name.endswith("lm_head")
            and (peft.include_vision or not _under(name, family.vision_prefixes))
        )
    if not targets:
        raise UserError("recipe: key 'peft.target_modules': no linear layer to adapt")
    return LoraConfig(
        r=int(peft.r),
        lora_alpha=int(peft.lora_alpha),
        lora_dropout=float(peft.lora_dropout),
        target_modules=targets,
        task_type="CAUSAL_LM",
    )


FINAL_STAGING = ".final-model.tmp"  # one name for every rank: save_model is collective
TRL_REFERENCE_ADAPTER = "ref"


def drop_reference_adapter(model, folder: Path) -> None:
    """GRPO with beta > 0 from an adapter: TRL adds a frozen copy of the starting adapter,
    named "ref", as the KL reference, and PEFT saves every adapter (`ref/` beside the trained
    one). The final model is the trained adapter alone; the start is recorded in vlmr1.json.
    (Checkpoints keep it: a resume loads it back.)"""
    import shutil

    if TRL_REFERENCE_ADAPTER in (getattr(model, "peft_config", None) or {}):
        shutil.rmtree(Path(folder) / TRL_REFERENCE_ADAPTER, ignore_errors=True)


def save_final_model(trainer, processor, out: Path) -> None:
    """Save the final model and processor into `out` so that a failure (a full disk, a kill)
    never leaves a config.json beside missing or partial weights: everything is written into
    a staging folder inside `out` first, then moved up file by file, config.json last.

    Every rank calls this (ZeRO-3 and FSDP gather the weights collectively); only the main
    process writes and moves files.
    """
    import os
    import shutil

    main = trainer.is_world_process_zero()
    staging = Path(out) / FINAL_STAGING
    if main and staging.exists():
        shutil.rmtree(staging)  # a killed run's
    try:
        trainer.save_model(str(staging))
        if main:
            drop_reference_adapter(trainer.model, staging)
            processor.save_pretrained(str(staging))
            files = sorted(p for p in staging.rglob("*") if p.is_file())
            for path in sorted(files, key=lambda p: p.relative_to(staging) == Path("config.json")):
                dest = Path(out) / path.relative_to(staging)
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(path, dest)
    except Exception as e:
        if main:
            shutil.rmtree(staging, ignore_errors=True)
        from vlmr1_cli.io import wrapped_os_error, write_problem

        fault = e if isinstance(e, OSError) else wrapped_os_error(e)  # safetensors' "(os error 28)"
        if fault is None:
            raise
        raise UserError(f"cannot save the final model: {write_problem(out, fault)}") from None
    if main:
        shutil.rmtree(staging, ignore_errors=True)

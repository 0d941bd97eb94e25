"""`vlmr1 export`: a training checkpoint -> a clean model folder, written atomically.

The folder holds safetensors weights (sharded at `max_shard_size`), config, generation
config, processor/tokenizer/chat template, `vlmr1.json` (prompt and frame for evaluate),
the resolved recipe and a model card. Optimizer, scheduler, RNG and trainer-state files
are never carried over: weights and processor are re-saved through transformers, not copied.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from vlmr1_cli.errors import UserError
from vlmr1_cli.export import card, merge, verify
from vlmr1_cli.export.source import META_FILE, RECIPE_FILE, ExportSource, locate
from vlmr1_cli.io import make_temp_dir, share_weight_files


@dataclass
class ExportResult:
    output: Path
    source: ExportSource
    weights: str  # "full model" | "LoRA adapter merged into the base" | "LoRA adapter"
    dtype: str | None
    files: list[tuple[str, int]]  # (relative path, bytes)
    checks: list[verify.CheckResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def check_shard_size(size: str) -> str | int:
    from transformers.utils.hub import convert_file_size_to_int

    try:
        value: str | int = int(size) if size.isdigit() else size
        # a byte count a file can have (off_t): larger ones overflow inside save_pretrained
        if not 0 < convert_file_size_to_int(value) < 2**63:
            raise ValueError
    except (ValueError, OverflowError):  # OverflowError: a size beyond a float ("1e400GB")
        raise UserError(
            f"--max-shard-size '{size}': use a whole number and a unit, e.g. 5GB, 500MB, 2GiB"
        ) from None
    return value


def _check_output(output: Path, src: ExportSource, overwrite: bool) -> None:
    out = output.resolve()
    for d in {src.model_dir.resolve(), src.run_root.resolve()}:
        if out == d or d.is_relative_to(out):
            raise UserError(f"--output {output}: would overwrite the training output {d}")
    if output.exists() and not output.is_dir():
        raise UserError(f"--output {output}: exists and is not a folder")
    if output.is_dir() and any(output.iterdir()) and not overwrite:
        raise UserError(f"--output {output}: folder exists and is not empty (pass --overwrite)")


def _replace_dir(tmp: Path, output: Path) -> None:
    """Move the finished temp folder into place; an old export is removed only afterwards."""
    old = None
    if output.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{output.name}.old.", dir=output.parent))
        os.replace(output, old / "x")
    os.replace(tmp, output)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _adapter_base(model_dir: Path) -> str | None:
    from vlmr1_cli.models.loading import adapter_base

    return adapter_base(model_dir)


LOADER_KWARGS = ("local_files_only", "is_local")  # how we loaded it, not what a user should get


def _drop_loader_kwargs(processor) -> None:
    """Loading kwargs that transformers would save into tokenizer_config.json."""
    tok = getattr(processor, "tokenizer", None)
    for obj in (tok, processor):
        kwargs = getattr(obj, "init_kwargs", None)
        if isinstance(kwargs, dict):
            for key in LOADER_KWARGS:
                kwargs.pop(key, None)


def _keep_video_config(source: Path, tmp: Path) -> None:
    """Carry the source's video-processor settings over unchanged. Without torchvision the
    processor loads image-only and saves only a placeholder naming the video processor
    (processor_compat.py); a source with real settings keeps them."""
    import json

    from vlmr1_cli.io import read_json_object
    from vlmr1_cli.models.processor_compat import PROCESSOR_CONFIG, VIDEO_CONFIG, VIDEO_KEY

    src_cfg, src_video, out_cfg = (
        source / PROCESSOR_CONFIG,
        source / VIDEO_CONFIG,
        tmp / PROCESSOR_CONFIG,
    )
    video = read_json_object(src_cfg).get(VIDEO_KEY) if src_cfg.is_file() else None
    if src_video.is_file():
        if video is None:
            video = read_json_object(src_video)
        if not (tmp / VIDEO_CONFIG).exists():
            shutil.copyfile(src_video, tmp / VIDEO_CONFIG)
    if video is None or not out_cfg.is_file():
        return
    saved = json.loads(out_cfg.read_text(encoding="utf-8"))
    if saved.get(VIDEO_KEY) != video:  # the nested entry wins over the separate file
        saved[VIDEO_KEY] = video
        out_cfg.write_text(json.dumps(saved, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _task(meta: dict) -> str | None:
    """vlmr1.json names the task ("task") or the tasks its rewards cover ("tasks")."""
    if isinstance(meta.get("task"), str):
        return meta["task"]
    tasks = meta.get("tasks")
    if isinstance(tasks, list) and tasks and all(isinstance(t, str) for t in tasks):
        return ", ".join(tasks)
    return None


def _write_extras(tmp: Path, src: ExportSource, info: card.CardInfo) -> None:
    if src.meta_path is not None:
        shutil.copyfile(src.meta_path, tmp / META_FILE)
    if src.recipe_path is not None:  # redacted: a run's recipe may predate secret redaction
        (tmp / RECIPE_FILE).write_text(_recipe_text(src.recipe_path), encoding="utf-8")
    (tmp / "README.md").write_text(card.render(info), encoding="utf-8")


def _recipe_text(path: Path) -> str:
    from vlmr1_cli.secrets import redact_recipe_text

    return redact_recipe_text(path.read_text(encoding="utf-8"))


def _listing(folder: Path) -> list[tuple[str, int]]:
    return sorted(
        (p.relative_to(folder).as_posix(), p.stat().st_size)
        for p in folder.rglob("*")
        if p.is_file()
    )


def _merge_and_check(
    model, processor, target: str, device: str | None, tolerance: float | None, where: Path
) -> tuple[object, list[verify.CheckResult]]:
    """Merge the adapter (loaded in float32) and check the result against the adapter model:
    in float32 first (the merge itself), then in the export dtype (the cast)."""
    inputs = verify.sample_inputs(processor, device)
    reference = verify.logits(model, inputs)
    try:
        model = merge.merge_adapter(model)
    except ValueError as e:  # safe_merge found non-finite weights
        raise UserError(f"{where}: LoRA merge failed: {str(e).splitlines()[0]}") from None
    checks = [
        verify.require(
            verify.compare(reference, verify.logits(model, inputs), "float32", tolerance),
            "the merged model (float32)",
        )
    ]
    if target != "float32":
        model = merge.cast(model, target)
        checks.append(
            verify.require(
                verify.compare(reference, verify.logits(model, inputs), target, tolerance),
                f"the merged model in {target}",
            )
        )
    return model, checks


def _str(meta: dict, key: str) -> str | None:
    return meta[key] if isinstance(meta.get(key), str) else None


def _card_info(
    src: ExportSource,
    output: Path,
    family,
    weights: str,
    dtype: str | None,
    adapter_base: str | None,
    checks: list[verify.CheckResult],
) -> card.CardInfo:
    meta = src.meta
    run_name = src.run_root.resolve().name
    name = output.resolve().name
    return card.CardInfo(
        name=name,
        model_id=f"./{name}",
        base_model=_str(meta, "base_model") or adapter_base,
        datasets=card.dataset_names(meta.get("datasets")),
        family=_str(meta, "family") or family.name,
        task=_task(meta),
        method=_str(meta, "method"),
        weights=weights,
        dtype=dtype,
        source=(
            f"`{src.label}` of training run `{run_name}`"
            if src.label != "final model"
            else f"the final model of training run `{run_name}`"
        ),
        adapter_base=adapter_base if weights == "LoRA adapter" else None,
        frame=_str(meta, "frame") or family.frame_name,
        prompt=meta.get("prompt"),
        recipe_name=RECIPE_FILE if src.recipe_path else None,
        recipe_text=_recipe_text(src.recipe_path) if src.recipe_path else None,
        metrics=src.metrics,
        merge_checks=[
            f"{c.dtype}: relative max |Δlogit| {c.error:.2e} (tolerance {c.tolerance:g}, "
            f"{c.positions} positions)"
            for c in checks
        ],
    )


def export_checkpoint(
    checkpoint: str | Path,
    output: str | Path,
    *,
    merge_lora: bool = False,
    dtype: str | None = None,
    max_shard_size: str = "5GB",
    overwrite: bool = False,
    device: str | None = None,
    tolerance: float | None = None,
    revision: str | None = None,
) -> ExportResult:
    """Export the final model or latest checkpoint of a run (or a given checkpoint).
    `revision`: the Hub branch, tag or commit of a LoRA adapter's base given as ORG/NAME."""
    merge.check_export_dtype(dtype)
    shard = check_shard_size(max_shard_size)
    src = locate(checkpoint)
    output = Path(output)
    _check_output(output, src, overwrite)
    notes = list(src.notes)
    if merge_lora and not src.is_adapter:
        notes.append(f"{src.label} is a full model: nothing to merge (--merge-lora ignored)")
    do_merge = merge_lora and src.is_adapter
    adapter_base = _adapter_base(src.model_dir) if src.is_adapter else None

    target: str | None  # the export dtype; None: an adapter exported unmerged keeps its own
    if do_merge:
        from vlmr1_cli.models.loading import locate_model

        base_dir = locate_model(str(src.model_dir), revision).weights_dir  # a Hub base downloads
        target = merge_dtype = dtype or merge.stored_dtype(base_dir)
        loaded = merge.load_for_export(src.model_dir, "float32", device, revision)
    else:
        target = dtype or (None if src.is_adapter else merge.stored_dtype(src.model_dir))
        loaded = merge.load_for_export(src.model_dir, dtype, device, revision)
    if src.processor_dir is not None and src.processor_dir.resolve() != Path(loaded.path).resolve():
        loaded.processor = loaded.family.load_processor(str(src.processor_dir))
    _drop_loader_kwargs(loaded.processor)

    model = loaded.model
    checks: list[verify.CheckResult] = []
    if do_merge:
        model, checks = _merge_and_check(
            model, loaded.processor, merge_dtype, device, tolerance, src.model_dir
        )
        weights = "LoRA adapter merged into the base"
    elif src.is_adapter:
        weights = "LoRA adapter"
        notes.append(
            f"the adapter loads on top of '{adapter_base}' (from adapter_config.json); "
            "pass --merge-lora for a standalone model"
        )
        if dtype:
            model = merge.cast(model, dtype)
    else:
        weights = "full model"
    info = _card_info(src, output, loaded.family, weights, target, adapter_base, checks)

    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = make_temp_dir(f".{output.name}.tmp.", output.parent)  # 0755 under umask 022
    try:
        if weights == "LoRA adapter":
            model.save_pretrained(tmp)  # PEFT writes the adapter only; shards do not apply
        else:
            model.save_pretrained(tmp, max_shard_size=shard)
        loaded.processor.save_pretrained(tmp)
        share_weight_files(tmp)
        _keep_video_config(src.processor_dir or Path(loaded.base_path), tmp)
        _write_extras(tmp, src, info)
        files = _listing(tmp)
        _replace_dir(tmp, output)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ExportResult(output, src, weights, target, files, checks, notes)

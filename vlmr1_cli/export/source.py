"""Find what to export in a training output folder.

A run folder holds the final model at its root (full weights or a LoRA adapter) and/or
`checkpoint-N/` sub-folders written during training, plus `vlmr1.json` (family, frame,
prompt), the resolved recipe and any evaluation `metrics.json`. Given the run folder or
any checkpoint inside it, `locate` picks the model folder and gathers that metadata.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from vlmr1_cli.errors import UserError
from vlmr1_cli.io import read_json_object

META_FILE = "vlmr1.json"
RECIPE_FILE = "vlmr1_recipe.yaml"
METRICS_FILE = "metrics.json"
# Run bookkeeping that `vlmr1 evaluate` writes beside the scores; not shown as metrics.
# Bookkeeping numbers of metrics.json that are not scores (the card lists scores only).
NOT_METRICS = frozenset(
    {
        "max_new_tokens",
        "generated_now",
        "resumed",
        "generation_s",
        "pixel_limits",
        "samples_per_s",
        "primary",
        "n_predicted_boxes",
        "greedy_counts",
        "discarded_earlier_predictions",
        "batch_size",
        "num_processes",
        "sample",
    }
)
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")
ADAPTER_WEIGHTS = "adapter_model.safetensors"


@dataclass
class MetricsFile:
    path: Path
    label: str  # the path as shown in the card: relative to the run folder
    task: str | None
    data: str | None  # the evaluation file named in it
    values: dict[str, float]  # numeric entries, nested ones flattened as "outer.inner"


@dataclass
class ExportSource:
    model_dir: Path  # the folder whose weights are exported
    run_root: Path  # the training output folder it belongs to
    label: str  # "final model" or "checkpoint-N"
    is_adapter: bool
    meta: dict  # vlmr1.json contents ({} when absent)
    meta_path: Path | None
    recipe_path: Path | None
    processor_dir: Path | None  # where tokenizer/processor files live (None: the base's)
    metrics: list[MetricsFile] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # things the user should know


def model_kind(folder: Path) -> str | None:
    """'adapter', 'full', or None when `folder` holds no loadable weights."""
    if (folder / "adapter_config.json").is_file():
        if (folder / ADAPTER_WEIGHTS).is_file():
            return "adapter"
        if (folder / "adapter_model.bin").is_file():
            raise UserError(
                f"{folder}: adapter weights are a pickle (adapter_model.bin); "
                "only safetensors checkpoints are exported"
            )
        return None
    if (folder / "config.json").is_file():
        if any((folder / f).is_file() for f in WEIGHT_FILES):
            return "full"
        if any(folder.glob("pytorch_model*.bin")):
            raise UserError(
                f"{folder}: weights are pickles (pytorch_model*.bin); "
                "only safetensors checkpoints are exported"
            )
    return None


def checkpoint_step(folder: Path) -> int | None:
    m = _CHECKPOINT.match(folder.name)
    return int(m.group(1)) if m else None


def _pick_model_dir(path: Path, notes: list[str]) -> tuple[Path, Path, str]:
    """(model folder, run folder, label) for a run folder or a checkpoint folder."""
    if checkpoint_step(path) is not None:
        if model_kind(path) is None:
            raise UserError(
                f"{path}: checkpoint has no model weights (model.safetensors or "
                "adapter_model.safetensors)"
            )
        return path, path.parent, path.name
    if model_kind(path) is not None:
        return path, path, "final model"
    steps = sorted(
        (
            (checkpoint_step(d), d)
            for d in path.iterdir()
            if d.is_dir() and checkpoint_step(d) is not None
        ),
        reverse=True,
    )
    for _, d in steps:
        if model_kind(d) is not None:
            return d, path, d.name
        notes.append(f"skipped {d.name}: no model weights (incomplete checkpoint?)")
    raise UserError(
        f"{path}: no model found (neither weights at the top nor a checkpoint-N folder)"
    )


def _numbers(obj: dict, prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    for k, v in obj.items():
        if isinstance(v, bool) or k in NOT_METRICS:
            continue
        if isinstance(v, (int, float)):
            out[prefix + str(k)] = v
        elif isinstance(v, dict) and not prefix:  # one level: per-subset / per-label blocks
            out.update(_numbers(v, f"{k}."))
    return out


def _same_model(value: object, model_dir: Path, run_root: Path) -> bool:
    if not isinstance(value, str) or not value:
        return False
    p = Path(value)
    candidates = [p] if p.is_absolute() else [Path.cwd() / p, run_root / p]
    return any(c.resolve() == model_dir.resolve() for c in candidates)


def find_metrics(model_dir: Path, run_root: Path, notes: list[str]) -> list[MetricsFile]:
    """metrics.json files that describe `model_dir`.

    Its own `metrics.json` and `eval*/metrics.json`. For a checkpoint, the run folder's
    files count too when their "model" key names that checkpoint.
    """
    own = [model_dir / METRICS_FILE, *sorted(model_dir.glob(f"eval*/{METRICS_FILE}"))]
    shared = []
    if model_dir != run_root:
        shared = [run_root / METRICS_FILE, *sorted(run_root.glob(f"eval*/{METRICS_FILE}"))]
    found = []
    for f in own + shared:
        if not f.is_file():
            continue
        try:
            obj = read_json_object(f)
        except UserError as e:
            notes.append(f"skipped {e}")
            continue
        if f in shared and not _same_model(obj.get("model"), model_dir, run_root):
            continue
        values = _numbers(obj)
        if not values:
            notes.append(f"skipped {f}: no metric numbers")
            continue
        label = f.relative_to(run_root).as_posix()
        task = obj.get("task") if isinstance(obj.get("task"), str) else None
        data = obj.get("data") if isinstance(obj.get("data"), str) else None
        found.append(MetricsFile(f, label, task, data, values))
    return found


def locate(checkpoint: str | Path) -> ExportSource:
    path = Path(checkpoint)
    if not path.is_dir():
        raise UserError(f"{path}: checkpoint folder not found")
    notes: list[str] = []
    model_dir, run_root, label = _pick_model_dir(path, notes)
    is_adapter = model_kind(model_dir) == "adapter"

    meta_path = next(
        (d / META_FILE for d in (model_dir, run_root) if (d / META_FILE).is_file()), None
    )
    meta = read_json_object(meta_path) if meta_path else {}
    if meta_path is None:
        notes.append(
            f"no {META_FILE} found: the export carries no prompt template or frame, "
            "so `vlmr1 evaluate` will use the family defaults"
        )

    saved_recipe = meta.get("recipe")
    recipe_name = saved_recipe if isinstance(saved_recipe, str) else RECIPE_FILE
    recipe_path = None
    for d in (model_dir, run_root):
        cand = d / recipe_name
        if cand.is_file() and cand.resolve().is_relative_to(d.resolve()):
            recipe_path = cand
            break
    if recipe_path is None:
        notes.append(f"no recipe file ({recipe_name}) found: the card cannot cite one")

    processor_dir = next(
        (d for d in (model_dir, run_root) if (d / "tokenizer_config.json").is_file()), None
    )
    if processor_dir is None and not is_adapter:
        raise UserError(f"{model_dir}: no tokenizer/processor files here or in {run_root}")

    return ExportSource(
        model_dir,
        run_root,
        label,
        is_adapter,
        meta,
        meta_path,
        recipe_path,
        processor_dir,
        find_metrics(model_dir, run_root, notes),
        notes,
    )

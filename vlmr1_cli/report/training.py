"""The report of a training run folder: the recipe, the curves of `train_log.jsonl`, and the
completions `samples.jsonl` sampled over training with their rewards; for REC and OVD
samples the image, the ground truth and the box the completion gives (read with the
evaluation parser, mapped to original pixels through the family's frame in `vlmr1.json`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vlmr1_cli.errors import UserError
from vlmr1_cli.geometry import is_number
from vlmr1_cli.report.gallery import MODEL_COLORS, gallery_data
from vlmr1_cli.report.page import esc, kv_table, write_page

# The run folder's files (train/callbacks.py, train/samples.py, train/setup.py; named here
# because those modules import transformers, which would cost a report seconds).
LOG_FILE = "train_log.jsonl"
SAMPLES_FILE = "samples.jsonl"
RECIPE_FILE = "vlmr1_recipe.yaml"
META_FILE = "vlmr1.json"
# Curves in this order when logged; each reward component (`rewards/<name>/mean`) follows `reward`.
CURVES = (
    "reward",
    "kl",
    "completions/mean_length",
    "ovd/pred_to_gt_boxes",
    "loss",
    "reward_std",
    "completions/clipped_ratio",
    "entropy",
    "clip_ratio/region_mean",
    "grad_norm",
    "learning_rate",
    "mean_token_accuracy",
    "eval_loss",
)


def is_run_folder(folder: Path) -> bool:
    return any((folder / name).is_file() for name in (LOG_FILE, SAMPLES_FILE, RECIPE_FILE))


def curve_series(history: list[dict]) -> dict[str, list[tuple[float, float]]]:
    """Curve name -> (step, value) points, in CURVES order with reward components after `reward`."""
    keys = {k for h in history for k, v in h.items() if is_number(v)}
    components = sorted(k for k in keys if k.startswith("rewards/") and k.endswith("/mean"))
    names: list[str] = []
    for k in CURVES:
        if k in keys:
            names.append(k)
        if k == "reward":
            names.extend(components)
    return {
        k: [
            (float(h["step"]), float(h[k]))
            for h in history
            if is_number(h.get(k)) and is_number(h.get("step"))
        ]
        for k in names
    }


def _records_by_id(recipe: dict, ids: set[str]) -> tuple[dict[str, dict], str | None]:
    """The training records of the sampled ids (read until all are found); a note when the
    data cannot be read from here."""
    from vlmr1_cli.data.loader import iter_records

    found: dict[str, dict] = {}
    sources = ((recipe.get("data") or {}).get("train") or []) if isinstance(recipe, dict) else []
    for src in sources:
        if not isinstance(src, dict) or not src.get("path"):
            continue
        try:
            for rec in iter_records(src["path"], src.get("image_root"), check_images=False):
                if rec["id"] in ids:
                    found[rec["id"]] = rec
                    if len(found) == len(ids):
                        return found, None
        except UserError as e:
            return found, f"training data not readable from here ({e}): images not shown"
    missing = len(ids) - len(found)
    return found, (
        f"{missing} sampled ids not found in the recipe's training data" if missing else None
    )


def _frame(meta: dict) -> tuple[Any, Any] | None:
    """(family, pixel limits) the run trained with, from vlmr1.json; None when unknown."""
    from vlmr1_cli.models.base import PixelLimits
    from vlmr1_cli.models.registry import family_by_name

    try:
        return family_by_name(str(meta["family"])), PixelLimits(**meta["pixel_limits"])
    except (KeyError, TypeError, UserError):
        return None


def _sample(
    row: dict, rec: dict | None, frame: tuple[Any, Any] | None, store: Any, index: int
) -> dict:
    from vlmr1_cli.data.loader import input_sizes
    from vlmr1_cli.evaluate.tasks import read_answer
    from vlmr1_cli.report.samples import base_sample, score_sample

    rewards = {str(k): v for k, v in (row.get("rewards") or {}).items() if is_number(v)}
    total = sum(rewards.values())
    step = row.get("step")
    text = str(row.get("completion", ""))
    reward_line = ", ".join(f"{k} {v:.3f}" for k, v in rewards.items()) or "no reward recorded"
    tags = ["rewarded" if total > 0 else "zero"]
    if rec is not None and rec["task"] in ("rec", "ovd") and rec["images"]:
        sample = base_sample(rec["task"], rec, store)
        lines = [f"reward sum {total:.3f}"]
        ok = None
        if frame is not None:
            family, limits = frame
            answer_row = {
                "image_sizes": rec["image_sizes"],
                "input_sizes": input_sizes(rec, family, limits),
                "box_image": rec.get("box_image") or 0,
            }
            answer = read_answer(rec["task"], text, answer_row, family)
            score = score_sample(rec["task"], rec, answer)
            tags += score.tags
            lines += score.lines
            ok = score.ok
            sample["labels"] = sorted(set(sample["labels"]) | set(score.labels))
            sample["sort"].update(score.sort)
            boxes = score.boxes
        else:
            boxes = []
        sample["preds"] = [{"boxes": boxes, "text": text, "lines": lines, "ok": ok}]
    else:
        sample = {
            "id": str(row.get("id")),
            "img": None,
            "w": 1,
            "h": 1,
            "query": rec["problem"] if rec else "",
            "labels": [],
            "gt": [],
            "sort": {},
            "preds": [
                {"boxes": [], "text": text, "lines": [f"reward sum {total:.3f}"], "ok": None}
            ],
        }
    sample.update(
        group=f"step {step}", tags=tags, info=[f"step {step} · completion {index}", reward_line]
    )
    sample["sort"].update({"reward": total, **({"step": float(step)} if is_number(step) else {})})
    return sample


def write_training_report(run_dir: str | Path, output: str | Path | None = None) -> Path:
    """Write `report.html` (and `report_files/`) for a training output folder; returns its path."""
    import yaml

    from vlmr1_cli.io import iter_jsonl, read_json_object
    from vlmr1_cli.progress import track
    from vlmr1_cli.report.charts import line_chart
    from vlmr1_cli.report.images import ImageStore

    run_dir = Path(run_dir)
    if not is_run_folder(run_dir):
        raise UserError(
            f"{run_dir}: not a training run folder (no {LOG_FILE}, {SAMPLES_FILE} or {RECIPE_FILE})"
        )
    out = Path(output) if output is not None else run_dir
    history = (
        [obj for _, obj in iter_jsonl(run_dir / LOG_FILE)] if (run_dir / LOG_FILE).is_file() else []
    )
    rows = (
        [obj for _, obj in iter_jsonl(run_dir / SAMPLES_FILE)]
        if (run_dir / SAMPLES_FILE).is_file()
        else []
    )
    recipe_text = (
        (run_dir / RECIPE_FILE).read_text(encoding="utf-8")
        if (run_dir / RECIPE_FILE).is_file()
        else ""
    )
    try:
        recipe = yaml.safe_load(recipe_text) or {}
    except yaml.YAMLError as e:
        raise UserError(
            f"{run_dir / RECIPE_FILE}: not valid YAML ({str(e).splitlines()[0]})"
        ) from None
    meta = read_json_object(run_dir / META_FILE) if (run_dir / META_FILE).is_file() else {}
    notes = []
    records, note = _records_by_id(recipe, {str(r.get("id")) for r in rows}) if rows else ({}, None)
    if note:
        notes.append(note)
    frame = _frame(meta)
    if rows and frame is None:
        notes.append(
            f"{META_FILE} names no known family and pixel limits: predicted boxes not drawn"
        )
    store = ImageStore(out)
    samples = []
    per_step: dict[Any, int] = {}
    for row in track(rows, "report samples"):
        k = per_step[row.get("step")] = per_step.get(row.get("step"), -1) + 1
        samples.append(_sample(row, records.get(str(row.get("id"))), frame, store, k))

    series = curve_series(history)
    charts = [
        line_chart(name, [(name, MODEL_COLORS[i % len(MODEL_COLORS)], pts)])
        for i, (name, pts) in enumerate(series.items())
    ]
    last = history[-1] if history else {}
    model = recipe.get("model") if isinstance(recipe, dict) else None
    summary = [
        (
            "method",
            meta.get("method") or (recipe.get("method") if isinstance(recipe, dict) else None),
        ),
        (
            "base model",
            meta.get("base_model") or (model.get("path") if isinstance(model, dict) else None),
        ),
        ("family", meta.get("family")),
        ("frame", meta.get("frame")),
        ("pixel limits", meta.get("pixel_limits")),
        ("steps logged", len(history)),
        ("last step", last.get("step")),
        ("last reward", last.get("reward")),
        ("sampled completions", len(rows)),
    ]
    body = [
        f'<section id="run"><h2>Run</h2>{kv_table("run", summary)}'
        + "".join(f'<p class="note">{esc(n)}</p>' for n in notes)
        + "</section>"
    ]
    body.append(
        '<section id="curves"><h2>Curves</h2>'
        + (
            f'<div class="charts">{"".join(charts)}</div>'
            if charts
            else f'<p class="note">no {LOG_FILE}</p>'
        )
        + "</section>"
    )
    if recipe_text:
        body.append(
            f'<section id="recipe"><h2>Recipe</h2><pre class="file">{esc(recipe_text)}</pre></section>'
        )
    statuses = [
        ("rewarded", "reward sum > 0"),
        ("zero", "reward sum 0"),
        ("unparsed", "format failures (no box)"),
        ("hit", "hits (REC IoU >= 0.5; OVD all found)"),
        ("miss", "misses"),
    ]
    sorts = [("step", "step"), ("reward", "reward sum"), ("iou", "IoU (REC)")]
    data = gallery_data(samples, store.urls, ["policy"], statuses, sorts, group_name="step")
    title = f"Training run: {run_dir.resolve().name}"
    return write_page(
        out,
        title,
        f"{run_dir.resolve()} · {len(history)} logged steps · {len(rows)} sampled completions",
        "\n".join(body),
        data,
    )

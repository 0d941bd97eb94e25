"""`evaluate` on a model: generate for every sample (resumable), parse, score, write files.

Outputs in the output folder: `predictions.jsonl` (appended as batches finish; a rerun skips
finished ids), `metrics.json` (atomic), and optionally pictures.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlmr1_cli.errors import UserError
from vlmr1_cli.evaluate.predictions import PredictionWriter, read_done
from vlmr1_cli.io import write_json
from vlmr1_cli.progress import track

PREDICTIONS = "predictions.jsonl"
METRICS = "metrics.json"


@dataclass
class EvalOptions:
    batch_size: int = 16
    max_new_tokens: int = 256
    template: str | None = None  # overrides the checkpoint's prompt template for the task
    system: str | None = None
    compat: bool = False  # VLM-R1's discrete IoU > 0.5 as the headline REC accuracy
    max_samples: int | None = None
    dtype: str | None = None
    device: str | None = None
    visualize: int = 0
    extra: dict = field(default_factory=dict)


def prompt_config(meta: dict, task: str, opts: EvalOptions) -> dict:
    from vlmr1_cli.recipes import DEFAULTS

    prompt = dict(DEFAULTS["prompt"])
    prompt["templates"] = dict(prompt["templates"])
    saved = meta.get("prompt") or {}
    prompt["templates"].update(saved.get("templates") or {})
    prompt["system"] = saved.get("system")
    if opts.template:
        prompt["templates"][task] = opts.template
    if opts.system is not None:
        prompt["system"] = opts.system
    return prompt


def evaluate(model_ref: str, data: str | Path, output_dir: str | Path, image_root: str | None = None,
             opts: EvalOptions | None = None) -> dict[str, Any]:
    from vlmr1_cli.data.loader import build_rows, load_records
    from vlmr1_cli.evaluate.generation import generate_batch, length_sorted_batches
    from vlmr1_cli.evaluate.tasks import SCORERS, read_answer
    from vlmr1_cli.models.loading import load_model

    opts = opts or EvalOptions()
    out = Path(output_dir)
    records = load_records(data, image_root, max_samples=opts.max_samples)
    tasks = sorted({r["task"] for r in records})
    if len(tasks) != 1:
        raise UserError(f"{data}: mixes tasks {tasks}; evaluate one task per file")
    task = tasks[0]
    if task not in SCORERS:
        raise UserError(f"{data}: task '{task}' has no scorer (supported: {', '.join(sorted(SCORERS))})")
    loaded = load_model(model_ref, dtype=opts.dtype, device=opts.device)
    prompt = prompt_config(loaded.meta, task, opts)
    rows = build_rows(records, loaded.family, loaded.limits, prompt, with_answers=False)
    pred_path = out / PREDICTIONS
    done = read_done(pred_path)
    todo = [r for r in rows if r["id"] not in done]
    t0 = time.perf_counter()
    batches = list(length_sorted_batches(todo, opts.batch_size))
    with PredictionWriter(pred_path) as writer:
        for batch in track(batches, f"evaluate {Path(data).name}"):
            texts = generate_batch(loaded.model, loaded.processor, batch, opts.max_new_tokens)
            finished = []
            for row, text in zip(batch, texts, strict=True):
                pred = {"id": row["id"], "completion": text,
                        **read_answer(task, text, row, loaded.family)}
                finished.append(pred)
                done[row["id"]] = pred
            writer.write(finished)
    gen_s = time.perf_counter() - t0
    preds = [done[r["id"]] for r in records]
    metrics = SCORERS[task](preds, records, {"compat": opts.compat, **opts.extra})
    metrics.update({
        "task": task, "model": str(model_ref), "data": str(data),
        "frame": loaded.family.frame_name, "pixel_limits": loaded.limits.as_dict(),
        "max_new_tokens": opts.max_new_tokens, "decoding": "greedy",
        "generated_now": len(todo), "resumed": len(rows) - len(todo),
        "generation_s": round(gen_s, 3),
    })
    write_json(out / METRICS, metrics)
    if opts.visualize:
        from vlmr1_cli.evaluate.pictures import draw_predictions

        metrics["pictures"] = draw_predictions(records, preds, out / "pictures", opts.visualize)
    return metrics

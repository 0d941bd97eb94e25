"""`evaluate` on a model: generate for every sample (resumable, optionally sharded), parse,
score, write files.

Outputs in the output folder: `predictions.jsonl` (appended as batches finish; a rerun skips
finished ids), `metrics.json` (atomic), `run.json` (what the predictions were generated
with: a rerun with other settings is refused instead of mixing two runs), the COCO files of
OVD tasks, and optionally `pictures/`.

The work is split so that nothing heavy happens before the input is known to be good:
`prepare` reads and checks the data and the model's files (no weights), `generate_missing`
loads the model and generates the batches of one rank, `finish` merges and scores.
"""

from __future__ import annotations

import random
import time
from collections.abc import Container
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from vlmr1_cli.errors import UserError
from vlmr1_cli.evaluate.predictions import (
    PREDICTIONS,
    PredictionWriter,
    merge_shards,
    read_all_done,
)
from vlmr1_cli.io import write_json
from vlmr1_cli.progress import track

METRICS = "metrics.json"
RUN_FILE = "run.json"
BACKENDS = ("hf", "vllm")


@dataclass
class EvalOptions:
    batch_size: int = 16
    max_new_tokens: int = 256
    template: str | None = None  # overrides the checkpoint's prompt template for the task
    system: str | None = None
    compat: bool = False  # VLM-R1's parser and discrete IoU > 0.5 as the headline REC accuracy
    task: str | None = None  # rec | coco | ovdeval | d3 | ovd (default: from the records)
    labels: str | None = None  # coco: all | positive (default: as the records list them)
    max_samples: int | None = None  # the first N records
    sample: int | None = None  # VLM-R1's protocol: shuffle with `seed`, keep the first N
    seed: int = 42
    dtype: str | None = None
    device: str | None = None
    backend: str = "hf"
    num_processes: int = 1
    visualize: int = 0
    overwrite: bool = False  # discard earlier predictions in the output folder
    trust_remote_code: bool = False
    revision: str | None = None  # Hub branch, tag or commit of a model given as ORG/NAME

    def check(self) -> None:
        for name in ("batch_size", "max_new_tokens", "num_processes"):
            if getattr(self, name) < 1:
                raise UserError(
                    f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}"
                )
        for name in ("max_samples", "sample"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise UserError(
                    f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}"
                )
        if self.max_samples is not None and self.sample is not None:
            raise UserError(
                "--max-samples and --sample exclude each other (--sample shuffles first)"
            )
        if self.visualize < 0:
            raise UserError(f"--visualize must be >= 0, got {self.visualize}")
        from vlmr1_cli.devices import check_device

        check_device(self.device)  # cuda without CUDA: one line, before any weights load
        if self.backend not in BACKENDS:
            raise UserError(f"--backend '{self.backend}': choose one of {', '.join(BACKENDS)}")
        if self.backend == "vllm":
            from vlmr1_cli.evaluate.vllm_backend import require_vllm

            require_vllm()


@dataclass
class Plan:
    """Everything known before any weights load: the checked data, the model's files, the
    prompts, the fixed batch partition."""

    model_ref: str
    data: str
    image_root: str | None
    out: Path
    opts: EvalOptions
    task: str
    records: list[dict]
    source: Any  # models.loading.ModelSource
    processor: Any
    family: Any
    limits: Any
    prompt: dict
    prompt_source: str
    batches: list[list[dict]]

    def fingerprint(self) -> dict:
        """The settings that decide what a prediction is; a resumed run must match them."""
        return {
            "model": str(Path(self.source.path).resolve()),
            "data": str(Path(self.data).resolve()),
            "task": self.task,
            "prompt": self.prompt,
            "max_new_tokens": self.opts.max_new_tokens,
            "labels": self.opts.labels,
            "frame": self.family.frame_name,
            "pixel_limits": self.limits.as_dict(),
            "dtype": self.opts.dtype,
            "backend": self.opts.backend,
        }

    def weights_stamp(self) -> dict:
        """Size and modification time of the weight files: retraining into the same folder
        makes earlier predictions stale."""
        folders = {self.source.weights_dir, self.source.path}
        return {
            str(f): [f.stat().st_size, f.stat().st_mtime_ns]
            for d in sorted(folders)
            for f in sorted(Path(d).glob("*.safetensors"))
        }


def prompt_config(meta: dict, task: str, opts: EvalOptions) -> tuple[dict, str]:
    """The prompt of the checkpoint's recipe (vlmr1.json), with --template/--system on top."""
    from vlmr1_cli.prompts import DEFAULT_TEMPLATES

    saved = meta.get("prompt") or {}
    templates: dict[str, str] = {**DEFAULT_TEMPLATES, **(saved.get("templates") or {})}
    prompt = {"system": saved.get("system"), "templates": templates}
    source = "checkpoint recipe" if saved.get("templates") else "default (paper)"
    if opts.template:
        templates[task] = opts.template
        source = "--template"
    if opts.system is not None:
        prompt["system"] = opts.system
    return prompt, source


def select_records(records: list[dict], opts: EvalOptions) -> list[dict]:
    if opts.sample is not None:
        records = list(records)
        random.Random(opts.seed).shuffle(records)  # == random.seed(seed); random.shuffle(...)
        records = records[: opts.sample]
    return records


def prepare(
    model_ref: str,
    data: str | Path,
    output_dir: str | Path,
    image_root: str | None,
    opts: EvalOptions,
) -> Plan:
    from vlmr1_cli.data.loader import build_rows, check_image_sizes, load_records
    from vlmr1_cli.evaluate.generation import add_prompt_texts, plan_batches
    from vlmr1_cli.evaluate.tasks import RECORD_TASK, category_names, resolve_task, set_query_labels
    from vlmr1_cli.models.context import check_records_text, context_tokens
    from vlmr1_cli.models.loading import load_processor_for, locate_model

    opts.check()
    data = str(data)
    records = load_records(data, image_root, max_samples=None if opts.sample else opts.max_samples)
    records = select_records(records, opts)
    check_image_sizes(
        records
    )  # boxes are scored in the frame the records state: before any model loads
    task = resolve_task(records, opts.task, data)
    if opts.labels is not None:
        if task != "coco":
            raise UserError(f"--labels applies to the coco task, not '{task}'")
        from vlmr1_cli.evaluate.coco_results import gt_file_of

        gt_path = gt_file_of(records, data)
        cats = None
        if gt_path is not None:
            from vlmr1_cli.data.coco_json import load_coco

            cats = load_coco(gt_path).categories
        set_query_labels(records, opts.labels, category_names(records, cats))
        if opts.labels == "positive":
            records = [
                r for r in records if r["labels"]
            ]  # nothing to ask for (as the importer does)
            if not records:
                raise UserError(f"{data}: --labels positive leaves no record with a box to ask for")
    src = locate_model(model_ref, opts.revision)  # a Hub id downloads on first use
    processor, family, limits = load_processor_for(src.processor_dir, family_dir=src.weights_dir)
    # before the tokenizer sees them: a 200 MB problem would take tens of GB to tokenize
    check_records_text(records, data, context_tokens(src.weights_dir, processor))
    prompt, prompt_source = prompt_config(src.meta, RECORD_TASK[task], opts)
    rows = build_rows(records, family, limits, prompt, with_answers=False)
    add_prompt_texts(rows, processor, limits.factor)
    return Plan(
        model_ref,
        data,
        image_root,
        Path(output_dir),
        opts,
        task,
        records,
        src,
        processor,
        family,
        limits,
        prompt,
        prompt_source,
        plan_batches(rows, opts.batch_size),
    )


def check_resume(plan: Plan) -> tuple[dict[str, dict], str | None]:
    """Earlier predictions to keep, and why any were discarded.

    Predictions made with other settings are refused (the output folder was probably not
    meant); predictions of weights that have changed since (retrained into the same
    folder) are stale and discarded, as with --overwrite.
    """
    from vlmr1_cli.evaluate.predictions import SHARD_GLOB
    from vlmr1_cli.io import read_json

    out = plan.out
    run_file = out / RUN_FILE
    settings = plan.fingerprint()
    current = {**settings, "weights": plan.weights_stamp()}
    discarded = "--overwrite" if plan.opts.overwrite else None
    done = read_all_done(out) if not plan.opts.overwrite else {}
    if done and not run_file.is_file():
        raise UserError(
            f"{out}: holds predictions without the {RUN_FILE} that says how they were made; "
            "use another --output or --overwrite"
        )
    if done:
        before = read_json(run_file)
        for key, value in settings.items():
            if key not in before:
                raise UserError(
                    f"{out}: holds predictions whose '{key}' was not recorded; "
                    "use another --output or --overwrite"
                )
            if before.get(key) != value:
                raise UserError(
                    f"{out}: holds predictions made with another '{key}' "
                    f"({before.get(key)!r}); use another --output or --overwrite"
                )
        if before.get("weights") != current["weights"]:
            discarded = "the model's weights changed since they were made"
    if discarded:
        for f in [out / PREDICTIONS, *out.glob(SHARD_GLOB)]:
            f.unlink(missing_ok=True)
        done = {}
    write_json(run_file, current)
    return done, discarded


def make_generator(plan: Plan, device: str | None):
    opts = plan.opts
    if opts.backend == "vllm":
        from vlmr1_cli.evaluate.vllm_backend import VLLMGenerator

        src = plan.source
        return VLLMGenerator(
            src.weights_dir,
            src.processor_dir,
            src.path if src.is_adapter else None,
            plan.limits,
            opts.max_new_tokens,
            max(len(r["images"]) for r in plan.records),
            opts.dtype,
            opts.trust_remote_code,
            family=plan.family,
        )
    from vlmr1_cli.evaluate.generation import HFGenerator
    from vlmr1_cli.models.loading import load_model

    # the located source: a Hub id is not resolved (nor the Hub asked) a second time
    loaded = load_model(
        plan.source, dtype=opts.dtype, device=device, trust_remote_code=opts.trust_remote_code
    )
    return HFGenerator(loaded.model, plan.processor, opts.max_new_tokens)


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def generate_missing(
    plan: Plan,
    done: Container[str],
    rank: int = 0,
    world: int = 1,
    path: Path | None = None,
    device: str | None = None,
) -> int:
    """Generate this rank's share of the unfinished batches (batch i goes to rank i % world)
    and append them to `path`; returns how many samples were generated."""
    from vlmr1_cli.evaluate.tasks import read_answer

    todo = []
    for i, batch in enumerate(plan.batches):
        if i % world == rank:
            missing = [r for r in batch if r["id"] not in done]
            if missing:
                todo.append(missing)
    if not todo:
        return 0
    generator = make_generator(plan, device or plan.opts.device or default_device())
    n = 0
    with PredictionWriter(path or plan.out / PREDICTIONS) as writer:
        for batch in track(todo, f"evaluate {Path(plan.data).name}"):
            texts = generator.generate(batch)
            writer.write(
                [
                    {
                        "id": row["id"],
                        "completion": text,
                        **read_answer(plan.task, text, row, plan.family),
                    }
                    for row, text in zip(batch, texts, strict=True)
                ]
            )
            n += len(batch)
    return n


def finish(plan: Plan, generated: int, gen_s: float, notes: dict | None = None) -> dict[str, Any]:
    from vlmr1_cli.evaluate.scoring import score

    done = merge_shards(plan.out, [r["id"] for r in plan.records])
    missing = [r["id"] for r in plan.records if r["id"] not in done]
    if missing:
        raise UserError(
            f"{plan.out}: {len(missing)} samples have no prediction (first: '{missing[0]}'); "
            "a worker failed: rerun to resume"
        )
    preds = {r["id"]: done[r["id"]] for r in plan.records}
    metrics = score(
        plan.task, plan.records, preds, plan.out, plan.data, {"compat": plan.opts.compat}
    )
    opts = plan.opts
    metrics.update(
        {
            "task": plan.task,
            "model": str(plan.model_ref),
            "data": plan.data,
            # resolved, so `vlmr1 report` finds the images from any folder
            "image_root": str(Path(plan.image_root).resolve()) if plan.image_root else None,
            "is_adapter": plan.source.is_adapter,
            "prompt_source": plan.prompt_source,
            "frame": plan.family.frame_name,
            "pixel_limits": plan.limits.as_dict(),
            "max_new_tokens": opts.max_new_tokens,
            "decoding": "greedy",
            "backend": opts.backend,
            "dtype": opts.dtype or "as stored",
            "labels_mode": opts.labels,
            "sample": {"n": opts.sample, "seed": opts.seed} if opts.sample else None,
            "generated_now": generated,
            "resumed": len(plan.records) - generated,
            "generation_s": round(gen_s, 3),
            "samples_per_s": round(generated / gen_s, 3) if generated and gen_s > 0 else None,
            **(notes or {}),
        }
    )
    write_json(plan.out / METRICS, metrics)
    if opts.visualize:
        from vlmr1_cli.evaluate.pictures import draw_predictions

        metrics["pictures"] = draw_predictions(
            plan.records,
            [preds[r["id"]] for r in plan.records],
            plan.out / "pictures",
            opts.visualize,
        )
    return metrics


def evaluate(
    model_ref: str,
    data: str | Path,
    output_dir: str | Path,
    image_root: str | None = None,
    opts: EvalOptions | None = None,
) -> dict[str, Any]:
    """Generate (resuming), score, and write the outputs; returns the metrics."""
    from vlmr1_cli.run_lock import locked_folder

    opts = opts or EvalOptions()
    plan = prepare(model_ref, data, output_dir, image_root, opts)
    if opts.num_processes > 1:
        from vlmr1_cli.evaluate.sharding import check_num_processes

        check_num_processes(opts.num_processes, len(plan.records))  # before any worker starts
    # One run per output folder: two runs would interleave their predictions. The settings
    # are checked under the lock, so a second run cannot slip in between check and write.
    with locked_folder(plan.out):
        done, discarded = check_resume(plan)
        t0 = time.perf_counter()
        if opts.num_processes > 1:
            from vlmr1_cli.evaluate.sharding import run_sharded

            run_sharded(plan_args(plan), done, opts.num_processes, plan.out)
            generated = len([r for r in plan.records if r["id"] not in done])
        else:
            generated = generate_missing(plan, done)
        notes = (
            {"discarded_earlier_predictions": discarded}
            if discarded and discarded != "--overwrite"
            else {}
        )
        return finish(plan, generated, time.perf_counter() - t0, notes)


def plan_args(plan: Plan) -> dict:
    """What a worker needs to rebuild the same plan."""
    return {
        "model": plan.model_ref,
        "data": plan.data,
        "image_root": plan.image_root,
        "output_dir": str(plan.out),
        "options": asdict(plan.opts),
    }

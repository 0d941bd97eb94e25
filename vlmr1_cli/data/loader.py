"""JSONL schema v1 -> validated records -> `datasets.Dataset` for TRL, images loaded lazily.

The model's coordinate frame is decided here, once: each image's model-input size comes from
the family's resize rule and the processor's pixel limits; GT boxes are converted into that
frame, and images are pre-resized to exactly that size when loaded, so the processor never
resizes again and the frame the model sees is the frame the rewards use.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from vlmr1_cli.errors import UserError
from vlmr1_cli.data.schema import check_record
from vlmr1_cli.io import iter_jsonl
from vlmr1_cli.models.base import ModelFamily, PixelLimits


def safe_image_path(root: str | Path, rel: str, location: str) -> str:
    """Resolve `rel` under `root`; absolute paths are allowed only if they stay inside it."""
    root_real = os.path.realpath(root)
    full = os.path.realpath(os.path.join(root_real, rel))
    if full != root_real and not full.startswith(root_real + os.sep):
        raise UserError(f"{location}: image path '{rel}' escapes the image root {root}")
    return full


def load_records(path: str | Path, image_root: str | Path | None = None,
                 max_samples: int | None = None, check_images: bool = True) -> list[dict]:
    """Read and validate a JSONL file. Adds `_image_paths` (resolved) to each record."""
    root = Path(image_root) if image_root is not None else Path(path).parent
    records: list[dict] = []
    seen: dict[str, int] = {}
    for lineno, rec in iter_jsonl(path):
        loc = f"{path}:{lineno}"
        check_record(rec, loc)
        if rec["id"] in seen:
            raise UserError(f"{loc}: duplicate id '{rec['id']}' (first on line {seen[rec['id']]})")
        seen[rec["id"]] = lineno
        paths = [safe_image_path(root, p, loc) for p in rec["images"]]
        if check_images:
            for p, rel in zip(paths, rec["images"], strict=True):
                if not os.path.isfile(p):
                    raise UserError(f"{loc}: image not found: {rel} (image root {root})")
        rec["_image_paths"] = paths
        rec["_line"] = lineno
        records.append(rec)
        if max_samples is not None and len(records) >= max_samples:
            break
    if not records:
        raise UserError(f"{path}: no records")
    return records


def input_sizes(rec: dict, family: ModelFamily, limits: PixelLimits) -> list[tuple[int, int]]:
    return [family.input_size(int(w), int(h), limits) for w, h in rec["image_sizes"]]


def solution_to_model_frame(rec: dict, family: ModelFamily, sizes: list[tuple[int, int]]) -> Any:
    """REC/OVD boxes of the (first) image into the model frame; other tasks unchanged."""
    if rec["task"] not in ("rec", "ovd") or not rec["image_sizes"]:
        return rec["solution"]
    orig = tuple(rec["image_sizes"][0])
    inp = sizes[0]
    if rec["task"] == "rec":
        return list(family.to_model_frame(rec["solution"], orig, inp))
    return [{**o, "bbox_2d": list(family.to_model_frame(o["bbox_2d"], orig, inp))} for o in rec["solution"]]


def fill(template: str, **values: str) -> str:
    """Replace `{name}` placeholders; other braces (JSON examples) stay as written."""
    out = template
    for k, v in values.items():
        out = out.replace("{" + k + "}", v)
    return out


def prompt_text(rec: dict, templates: dict[str, str]) -> str:
    template = templates.get(rec["task"], "{problem}")
    return fill(template, problem=rec["problem"].strip().rstrip("."), labels=str(list(rec.get("labels") or [])))


def answer_text(rec: dict, model_solution: Any, family: ModelFamily, templates: dict[str, str]) -> str:
    """The SFT target: the answer a model should write, boxes as integers in its frame."""
    template = templates.get(rec["task"], "<answer>{solution}</answer>")
    think = ""
    if rec["task"] == "rec":
        box = json.dumps(family.format_box(model_solution))
        return fill(template, think=think, box=box, problem=rec["problem"])
    if rec["task"] == "ovd":
        if not model_solution:
            objects = "None"
        else:
            objs = [{"bbox_2d": family.format_box(o["bbox_2d"]), "label": o["label"]} for o in model_solution]
            objects = "```json\n" + json.dumps(objs, ensure_ascii=False) + "\n```"
        return fill(template, think=think, objects=objects)
    return fill(template, think=think, solution=str(model_solution))


def build_rows(records: list[dict], family: ModelFamily, limits: PixelLimits, prompt_cfg: dict,
               with_answers: bool) -> list[dict]:
    rows = []
    for rec in records:
        sizes = input_sizes(rec, family, limits)
        model_solution = solution_to_model_frame(rec, family, sizes)
        prompt = []
        if prompt_cfg.get("system"):
            prompt.append({"role": "system", "content": prompt_cfg["system"]})
        prompt.append({"role": "user", "content": prompt_text(rec, prompt_cfg["templates"])})
        row = {
            "id": rec["id"],
            "task": rec["task"],
            "prompt": prompt,
            "image_paths": rec["_image_paths"],
            "image_sizes": [list(s) for s in rec["image_sizes"]],
            "input_sizes": [list(s) for s in sizes],
            "solution_json": json.dumps(model_solution),
            "labels": list(rec.get("labels") or []),
        }
        if with_answers:
            row["completion"] = [{"role": "assistant",
                                  "content": answer_text(rec, model_solution, family, prompt_cfg["answer_templates"])}]
        rows.append(row)
    return rows


def load_image(path: str, size: tuple[int, int] | list[int]):
    """Open an image as RGB at exactly `size` (width, height): the model-input size."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            img = im.convert("RGB")
    except OSError as e:
        raise UserError(f"{path}: unreadable image ({e})") from None
    size = (int(size[0]), int(size[1]))
    if img.size != size:
        img = img.resize(size, Image.Resampling.BICUBIC)
    return img


def _materialise(batch: dict) -> dict:
    """datasets transform: load images at their input size and decode the solution."""
    out = {k: v for k, v in batch.items() if k not in ("solution_json", "image_paths")}
    out["images"] = [[load_image(p, s) for p, s in zip(paths, sizes, strict=True)]
                     for paths, sizes in zip(batch["image_paths"], batch["input_sizes"], strict=True)]
    out["solution"] = [json.loads(s) for s in batch["solution_json"]]
    return out


def build_dataset(sources: list[dict], family: ModelFamily, limits: PixelLimits, prompt_cfg: dict,
                  with_answers: bool = False, seed: int = 0, max_samples: int | None = None):
    """One `datasets.Dataset` from one or more weighted JSONL sources.

    Several sources are mixed with `datasets.interleave_datasets` by weight (sampling until
    every source is exhausted once), so a 2:1 weight gives about twice the share.
    """
    from datasets import Dataset, interleave_datasets

    parts = []
    for src in sources:
        recs = load_records(src["path"], src.get("image_root"), max_samples=src.get("max_samples") or max_samples)
        rows = build_rows(recs, family, limits, prompt_cfg, with_answers)
        parts.append(Dataset.from_list(rows))
    if len(parts) == 1:
        ds = parts[0]
    else:
        for i in range(1, len(parts)):  # align Arrow schemas (empty lists infer null types)
            parts[i] = parts[i].cast(parts[0].features) if parts[i].features != parts[0].features else parts[i]
        total = sum(s["weight"] for s in sources)
        ds = interleave_datasets(parts, probabilities=[s["weight"] / total for s in sources], seed=seed,
                                 stopping_strategy="all_exhausted")
    return ds.with_transform(_materialise)

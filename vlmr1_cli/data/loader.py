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

from vlmr1_cli.data.paths import safe_join
from vlmr1_cli.data.schema import check_record
from vlmr1_cli.errors import UserError
from vlmr1_cli.io import iter_jsonl
from vlmr1_cli.models.base import ModelFamily, PixelLimits


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
        paths = [safe_join(root, p, loc) for p in rec["images"]]
        if check_images:
            for p, rel in zip(paths, rec["images"], strict=True):
                if not os.path.isfile(p):
                    raise UserError(f"{loc}: image not found: {rel} (image root {root})")
        if rec["task"] in ("rec", "ovd") and rec["images"]:
            box_image_index(rec, loc)
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


def box_image_index(rec: dict, location: str = "record") -> int:
    """Which image a REC/OVD record's boxes refer to: `box_image` if the record says so, else 0."""
    idx = rec.get("box_image", 0)
    if not isinstance(idx, int) or isinstance(idx, bool) or not 0 <= idx < max(1, len(rec["images"])):
        raise UserError(f"{location}: key 'box_image': must be an index into 'images' (0..{len(rec['images']) - 1})")
    return idx


def solution_to_model_frame(rec: dict, family: ModelFamily, sizes: list[tuple[int, int]]) -> Any:
    """REC/OVD boxes into the model frame of the image they refer to (`box_image`, default the
    first); other tasks, and text-only records, unchanged."""
    if rec["task"] not in ("rec", "ovd") or not rec["image_sizes"]:
        return rec["solution"]
    k = box_image_index(rec)
    orig = tuple(rec["image_sizes"][k])
    inp = sizes[k]
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


# Keys of a record that become their own dataset columns; the rest travel in `extra`.
_ROW_KEYS = ("id", "task", "images", "image_sizes", "problem", "solution", "labels", "box_image")


def build_rows(records: list[dict], family: ModelFamily, limits: PixelLimits, prompt_cfg: dict,
               with_answers: bool) -> list[dict]:
    """One dataset row per record: the prompt, image paths with original and model-input sizes,
    the solution in the model frame (JSON-encoded, since its type differs between tasks), and
    the record's other keys (JSON-encoded `extra_json`; rewards receive them as `extra`)."""
    rows = []
    for rec in records:
        sizes = input_sizes(rec, family, limits)
        model_solution = solution_to_model_frame(rec, family, sizes)
        prompt = []
        if prompt_cfg.get("system"):
            prompt.append({"role": "system", "content": prompt_cfg["system"]})
        prompt.append({"role": "user", "content": prompt_text(rec, prompt_cfg["templates"])})
        extra = {k: v for k, v in rec.items() if k not in _ROW_KEYS and not k.startswith("_")}
        row = {
            "id": rec["id"],
            "task": rec["task"],
            "prompt": prompt,
            "image_paths": rec["_image_paths"],
            "image_sizes": [list(s) for s in rec["image_sizes"]],
            "input_sizes": [list(s) for s in sizes],
            "box_image": box_image_index(rec) if rec["images"] else 0,
            "solution_json": json.dumps(model_solution),
            "labels": list(rec.get("labels") or []),
            "extra_json": json.dumps(extra, ensure_ascii=False),
        }
        if with_answers:
            row["completion"] = [{"role": "assistant",
                                  "content": answer_text(rec, model_solution, family, prompt_cfg["answer_templates"])}]
        rows.append(row)
    return rows


def row_features(with_answers: bool):
    """Explicit Arrow types: inference fails on columns that are empty lists in every row
    of one source (text-only data has no image paths, REC data no labels)."""
    from datasets import Features, List, Value

    message = {"role": Value("string"), "content": Value("string")}
    feats = {
        "id": Value("string"), "task": Value("string"), "prompt": List(message),
        "image_paths": List(Value("string")), "image_sizes": List(List(Value("int64"))),
        "input_sizes": List(List(Value("int64"))), "box_image": Value("int64"),
        "solution_json": Value("string"), "labels": List(Value("string")), "extra_json": Value("string"),
    }
    if with_answers:
        feats["completion"] = List(message)
    return Features(feats)


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
    """datasets transform: load images at their input size, decode the solution and extras.
    Text-only rows get `images: []`, which TRL accepts beside rows with images."""
    out = {k: v for k, v in batch.items() if k not in ("solution_json", "image_paths", "extra_json")}
    out["images"] = [[load_image(p, s) for p, s in zip(paths, sizes, strict=True)]
                     for paths, sizes in zip(batch["image_paths"], batch["input_sizes"], strict=True)]
    out["solution"] = [json.loads(s) for s in batch["solution_json"]]
    out["extra"] = [json.loads(s) for s in batch["extra_json"]]
    return out


def weighted_take(rows: list[dict], weight: float, seed: int) -> list[dict]:
    """A source's rows for one epoch: weight 1 takes each row once, 2 twice, 0.5 a seeded half
    (the fractional part is a seeded sample without replacement)."""
    import random

    if weight < 0:
        raise UserError(f"data weight must be >= 0, got {weight}")
    whole, frac = int(weight), weight - int(weight)
    out = rows * whole
    n_frac = int(round(frac * len(rows)))
    if n_frac:
        picked = sorted(random.Random(seed).sample(range(len(rows)), n_frac))
        out += [rows[i] for i in picked]
    return out


def interleave(parts: list[list[dict]]) -> list[dict]:
    """Merge sources evenly: row i of a source of n rows sits at position (i + 0.5) / n, so
    every stretch of the result holds each source in proportion (deterministic)."""
    keyed = [((i + 0.5) / len(part), s, i) for s, part in enumerate(parts) for i in range(len(part))]
    return [parts[s][i] for _, s, i in sorted(keyed)]


def build_dataset(sources: list[dict], family: ModelFamily, limits: PixelLimits, prompt_cfg: dict,
                  with_answers: bool = False, seed: int = 0, max_samples: int | None = None):
    """One `datasets.Dataset` from one or more JSONL sources with image roots and weights.

    A source's `weight` says how many times each of its records is used per epoch (1: once,
    2: twice, 0.5: a seeded half), so weights set both the mix and the epoch size. Sources are
    interleaved evenly (the trainer shuffles on top unless told not to). Images load lazily,
    at the model-input size, when a row is read.
    """
    from datasets import Dataset

    parts = []
    for k, src in enumerate(sources):
        recs = load_records(src["path"], src.get("image_root"), max_samples=src.get("max_samples") or max_samples)
        rows = build_rows(recs, family, limits, prompt_cfg, with_answers)
        taken = weighted_take(rows, float(src.get("weight", 1.0)), seed + k)
        if not taken:
            raise UserError(f"{src['path']}: weight {src.get('weight')} leaves no records")
        parts.append(taken)
    rows = parts[0] if len(parts) == 1 else interleave(parts)
    ds = Dataset.from_list(rows, features=row_features(with_answers))
    return ds.with_transform(_materialise)

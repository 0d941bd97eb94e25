"""JSONL schema v1 -> validated records -> `datasets.Dataset` for TRL, images loaded lazily.

The model's coordinate frame is decided here, once: each image's model-input size comes from
the family's resize rule and the processor's pixel limits; GT boxes are converted into that
frame, and images are pre-resized to exactly that size when loaded, so the processor never
resizes again and the frame the model sees is the frame the rewards use.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from vlmr1_cli.data.paths import safe_join
from vlmr1_cli.data.schema import check_record
from vlmr1_cli.errors import UserError
from vlmr1_cli.io import iter_jsonl
from vlmr1_cli.models.base import ModelFamily, PixelLimits


def load_records(
    path: str | Path,
    image_root: str | Path | None = None,
    max_samples: int | None = None,
    check_images: bool = True,
) -> list[dict]:
    """Read and validate a JSONL file. Adds `_image_paths` (resolved) to each record."""
    return list(iter_records(path, image_root, max_samples, check_images))


def iter_records(
    path: str | Path,
    image_root: str | Path | None = None,
    max_samples: int | None = None,
    check_images: bool = True,
) -> Iterator[dict]:
    """`load_records` one record at a time, in file order (so the first problem in the file is
    the one reported), without holding the records: the training cache streams millions."""
    root = Path(image_root) if image_root is not None else Path(path).parent
    resolve = _image_resolver(root, check_images)
    # Hashes, not ids: a fraction of the memory on millions of records. A hit is confirmed by
    # finding the id on an earlier line (a collision of two different ids passes).
    id_hashes: set[int] = set()
    count = 0
    for lineno, rec in iter_jsonl(path):
        loc = f"{path}:{lineno}"
        check_record(rec, loc)
        id_hash = _id_hash(rec["id"])
        if id_hash in id_hashes:
            first = _line_of_id(path, rec["id"], lineno)
            if first is not None:
                raise UserError(f"{loc}: duplicate id '{rec['id']}' (first on line {first})")
        id_hashes.add(id_hash)
        resolved = [resolve(rel, loc) for rel in rec["images"]]
        if check_images:
            for (_, exists), rel in zip(resolved, rec["images"], strict=True):
                if not exists:
                    raise UserError(f"{loc}: image not found: {rel} (image root {root})")
        if rec["task"] in ("rec", "ovd") and rec["images"]:
            box_image_index(rec, loc)
        rec["_image_paths"] = [full for full, _ in resolved]
        rec["_line"] = lineno
        rec["_location"] = loc
        yield rec
        count += 1
        if max_samples is not None and count >= max_samples:
            break
    if not count:
        raise UserError(f"{path}: no records")


# The duplicate-id check's hash (a name of its own so a test can force collisions).
_id_hash = hash


def _image_resolver(root: Path, check_images: bool) -> Callable[[str, str], tuple[str, bool]]:
    """`rel -> (resolved path, exists)` through `safe_join`, remembered for the most recent
    distinct paths: records share images (RefCOCO: 8 sentences an image), and resolving
    symlinks costs a system call per path component."""

    @functools.lru_cache(maxsize=1 << 16)
    def cached(rel: str) -> tuple[str, bool]:
        full = safe_join(root, rel)
        return full, (not check_images) or os.path.isfile(full)

    def resolve(rel: str, location: str) -> tuple[str, bool]:
        try:
            return cached(rel)
        except UserError:
            safe_join(root, rel, location)  # the same refusal, naming the line
            raise

    return resolve


def _line_of_id(path: str | Path, record_id: str, before: int) -> int | None:
    """The first line before `before` whose record has this id (None: a hash collision)."""
    for lineno, rec in iter_jsonl(path):
        if lineno >= before:
            break
        if rec.get("id") == record_id:
            return lineno
    return None


def input_sizes(rec: dict, family: ModelFamily, limits: PixelLimits) -> list[tuple[int, int]]:
    """Each image's model-input size; a size the family refuses names the record and image."""
    out = []
    for rel, (w, h) in zip(rec["images"], rec["image_sizes"], strict=True):
        try:
            out.append(family.input_size(int(w), int(h), limits))
        except UserError as e:
            raise UserError(f"{rec.get('_location', 'record')}: {rel}: {e}") from None
    return out


def box_image_index(rec: dict, location: str = "record") -> int:
    """Which image a REC/OVD record's boxes refer to: `box_image` if the record says so, else 0."""
    idx = rec.get("box_image", 0)
    if (
        not isinstance(idx, int)
        or isinstance(idx, bool)
        or not 0 <= idx < max(1, len(rec["images"]))
    ):
        raise UserError(
            f"{location}: key 'box_image': must be an index into 'images' (0..{len(rec['images']) - 1})"
        )
    return idx


def solution_to_model_frame(rec: dict, family: ModelFamily, sizes: list[tuple[int, int]]) -> Any:
    """REC/OVD boxes into the model frame of the image they refer to (`box_image`, default the
    first); other tasks, text-only records and queries without an answer (`vlmr1 predict`:
    solution None) unchanged."""
    if rec["task"] not in ("rec", "ovd") or not rec["image_sizes"] or rec["solution"] is None:
        return rec["solution"]
    k = box_image_index(rec)
    orig = tuple(rec["image_sizes"][k])
    inp = sizes[k]
    if rec["task"] == "rec":
        return list(family.to_model_frame(rec["solution"], orig, inp))
    return [
        {**o, "bbox_2d": list(family.to_model_frame(o["bbox_2d"], orig, inp))}
        for o in rec["solution"]
    ]


def fill(template: str, **values: str) -> str:
    """Replace `{name}` placeholders; other braces (JSON examples) stay as written."""
    out = template
    for k, v in values.items():
        out = out.replace("{" + k + "}", v)
    return out


def prompt_text(rec: dict, templates: dict[str, str]) -> str:
    template = templates.get(rec["task"], "{problem}")
    return fill(
        template,
        problem=rec["problem"].strip().rstrip("."),
        labels=str(list(rec.get("labels") or [])),
    )


def answer_text(
    rec: dict, model_solution: Any, family: ModelFamily, templates: dict[str, str]
) -> str:
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
            objs = [
                {"bbox_2d": family.format_box(o["bbox_2d"]), "label": o["label"]}
                for o in model_solution
            ]
            objects = "```json\n" + json.dumps(objs, ensure_ascii=False) + "\n```"
        return fill(template, think=think, objects=objects)
    return fill(template, think=think, solution=str(model_solution))


# Keys of a record that become their own dataset columns; the rest travel in `extra`.
_ROW_KEYS = ("id", "task", "images", "image_sizes", "problem", "solution", "labels", "box_image")


def build_rows(
    records: list[dict],
    family: ModelFamily,
    limits: PixelLimits,
    prompt_cfg: dict,
    with_answers: bool,
) -> list[dict]:
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
            row["completion"] = [
                {
                    "role": "assistant",
                    "content": answer_text(
                        rec, model_solution, family, prompt_cfg["answer_templates"]
                    ),
                }
            ]
        rows.append(row)
    return rows


def row_features(with_answers: bool):
    """Explicit Arrow types: inference fails on columns that are empty lists in every row
    of one source (text-only data has no image paths, REC data no labels)."""
    from datasets import Features, List, Value

    message = {"role": Value("string"), "content": Value("string")}
    feats = {
        "id": Value("string"),
        "task": Value("string"),
        "prompt": List(message),
        "image_paths": List(Value("string")),
        "image_sizes": List(List(Value("int64"))),
        "input_sizes": List(List(Value("int64"))),
        "box_image": Value("int64"),
        "solution_json": Value("string"),
        "labels": List(Value("string")),
        "extra_json": Value("string"),
    }
    if with_answers:
        feats["completion"] = List(message)
    return Features(feats)


def load_image(
    path: str,
    size: tuple[int, int] | list[int],
    original: tuple[int, int] | list[int] | None = None,
):
    """Open an image as RGB at exactly `size` (width, height): the model-input size (through the
    one image opener, so a decompression bomb is one line naming the file). `original`: the
    size the record states (its boxes were converted from it); another size is refused."""
    from vlmr1_cli.images import load_rgb

    return load_rgb(path, size, original=original)


def check_image_sizes(records: list[dict]) -> None:
    """Each image's header against its record's `image_sizes` (each file read once, no pixel
    decoded): boxes are in the pixels of the size the record states, so an image of another
    size would be scored in the wrong frame. One line naming FILE:LINE, the image and both
    sizes; an image that is no image, or over the pixel limit, is refused here too."""
    from PIL import UnidentifiedImageError

    from vlmr1_cli.images import image_size, size_mismatch

    sizes: dict[str, tuple[int, int]] = {}
    for rec in records:
        loc = rec.get("_location", "record")
        for rel, full, stated in zip(
            rec["images"], rec["_image_paths"], rec["image_sizes"], strict=True
        ):
            if full not in sizes:
                try:
                    sizes[full] = image_size(full)
                except UserError as e:
                    raise UserError(f"{loc}: {e}") from None
                except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
                    raise UserError(
                        f"{loc}: image {rel} is not readable ({type(e).__name__})"
                    ) from None
            why = size_mismatch(rel, sizes[full], stated)
            if why:
                raise UserError(f"{loc}: record '{rec['id']}': {why}")


def _materialise(batch: dict) -> dict:
    """datasets transform: load images at their input size, decode the solution and extras.
    Text-only rows get `images: []`, which TRL accepts beside rows with images. An image whose
    size is not the one its record states is refused, naming it."""
    out = {
        k: v for k, v in batch.items() if k not in ("solution_json", "image_paths", "extra_json")
    }
    out["images"] = [
        [load_image(p, s, o) for p, s, o in zip(paths, sizes, originals, strict=True)]
        for paths, sizes, originals in zip(
            batch["image_paths"], batch["input_sizes"], batch["image_sizes"], strict=True
        )
    ]
    out["solution"] = [json.loads(s) for s in batch["solution_json"]]
    out["extra"] = [json.loads(s) for s in batch["extra_json"]]
    return out


def weighted_indices(n: int, weight: float, seed: int):
    """Which of a source's `n` rows one epoch uses, as a numpy array: weight 1 takes each row
    once, 2 twice, 0.5 a seeded half (the fractional part is a seeded sample without
    replacement, in row order)."""
    import random

    import numpy as np

    if weight < 0:
        raise UserError(f"data weight must be >= 0, got {weight}")
    whole, frac = int(weight), weight - int(weight)
    parts = [np.arange(n, dtype=np.int64)] * whole
    n_frac = int(round(frac * n))
    if n_frac:
        parts.append(
            np.sort(np.asarray(random.Random(seed).sample(range(n), n_frac), dtype=np.int64))
        )
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def interleave_order(lengths: list[int]):
    """Merge sources evenly: item i of a source of n items sits at position (i + 0.5) / n, so
    every stretch of the result holds each source in proportion (deterministic; ties go to
    the earlier source). Returns (source, item) numpy arrays in merged order."""
    import numpy as np

    source = np.concatenate([np.full(n, s, dtype=np.int64) for s, n in enumerate(lengths)])
    item = np.concatenate([np.arange(n, dtype=np.int64) for n in lengths])
    position = np.concatenate([(np.arange(n, dtype=np.float64) + 0.5) / n for n in lengths])
    order = np.lexsort((item, source, position))  # the last key sorts first
    return source[order], item[order]


def weighted_take(rows: list, weight: float, seed: int) -> list:
    """`weighted_indices` applied to a list."""
    return [rows[i] for i in weighted_indices(len(rows), weight, seed).tolist()]


def interleave(parts: list[list]) -> list:
    """`interleave_order` applied to lists."""
    source, item = interleave_order([len(p) for p in parts])
    return [parts[s][i] for s, i in zip(source.tolist(), item.tolist(), strict=True)]

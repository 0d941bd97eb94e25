"""The sample record, JSONL schema v1 (docs/architecture.md): checks for loaders and importers.

Records stay plain dicts (they go straight into `datasets` and JSONL); this module only
checks them. Boxes are continuous xyxy in original-image pixels.
"""

from __future__ import annotations

from typing import Any

from vlmr1_cli.errors import UserError
from vlmr1_cli.geometry import MAX_VALUE, is_bounded_number

SCHEMA_VERSION = 1
REQUIRED_KEYS = ("id", "task", "images", "image_sizes", "problem", "solution")
BUILTIN_TASKS = ("rec", "ovd", "text")


def _is_box(v: Any) -> bool:
    """Four finite numbers of magnitude <= MAX_VALUE (huge integers are refused, not converted)."""
    return isinstance(v, (list, tuple)) and len(v) == 4 and all(is_bounded_number(x) for x in v)


def _is_side(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 < v <= MAX_VALUE


def record_problems(rec: dict) -> list[str]:
    """Every schema problem of one record, as short phrases naming the key; [] if valid."""
    out: list[str] = []
    for key in REQUIRED_KEYS:
        if key not in rec:
            out.append(f"missing key '{key}'")
    if out:
        return out
    if not isinstance(rec["id"], str) or not rec["id"]:
        out.append("key 'id': must be a non-empty string")
    if not isinstance(rec["task"], str) or not rec["task"]:
        out.append("key 'task': must be a non-empty string")
    images, sizes = rec["images"], rec["image_sizes"]
    if not isinstance(images, list) or not all(isinstance(p, str) and p for p in images):
        out.append("key 'images': must be a list of paths")
    if not isinstance(sizes, list) or not all(
        isinstance(s, (list, tuple)) and len(s) == 2 and all(_is_side(v) for v in s) for s in sizes
    ):
        out.append(
            f"key 'image_sizes': must be a list of [width, height] positive integers "
            f"(at most {MAX_VALUE:g})"
        )
    elif isinstance(images, list) and len(sizes) != len(images):
        out.append(f"key 'image_sizes': {len(sizes)} sizes for {len(images)} images")
    if not isinstance(rec["problem"], str):
        out.append("key 'problem': must be a string")
    task, sol = rec["task"], rec["solution"]
    if task == "rec":
        if not _is_box(sol):
            out.append(
                f"key 'solution': a rec solution must be [x1, y1, x2, y2] finite numbers "
                f"(magnitude at most {MAX_VALUE:g})"
            )
        elif not (sol[2] > sol[0] and sol[3] > sol[1]):
            out.append(f"key 'solution': degenerate box {list(sol)}")
    elif task == "ovd":
        if not isinstance(sol, list):
            out.append("key 'solution': an ovd solution must be a list of {bbox_2d, label}")
        else:
            for i, obj in enumerate(sol):
                if (
                    not isinstance(obj, dict)
                    or not _is_box(obj.get("bbox_2d"))
                    or not isinstance(obj.get("label"), str)
                ):
                    out.append(
                        f"key 'solution': item {i} must be {{'bbox_2d': [4 finite numbers "
                        f"(magnitude at most {MAX_VALUE:g})], 'label': str}}"
                    )
                    break
                x1, y1, x2, y2 = obj["bbox_2d"]
                if x2 < x1 or y2 < y1:  # its COCO width or height would be negative
                    out.append(
                        f"key 'solution': item {i}: inverted box {list(obj['bbox_2d'])} (x2 < x1 or y2 < y1)"
                    )
                    break
        labels = rec.get("labels")
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            out.append("key 'labels': an ovd record needs a list of label strings")
        elif isinstance(sol, list):
            missing = {
                o.get("label")
                for o in sol
                if isinstance(o, dict) and isinstance(o.get("label"), str)
            } - set(labels)
            if missing:
                out.append(
                    f"key 'labels': solution labels not queried: {sorted(map(str, missing))[:3]}"
                )
    elif task == "text":
        if not isinstance(sol, str):
            out.append("key 'solution': a text solution must be a string")
    if (
        task != "ovd"
        and rec.get("labels") is not None
        and (
            not isinstance(rec["labels"], list)
            or not all(isinstance(x, str) for x in rec["labels"])
        )
    ):
        out.append("key 'labels': must be a list of label strings")
    return out


def check_record(rec: Any, location: str) -> dict:
    """Return `rec` if it is a valid record, else raise UserError `location: problem`."""
    if not isinstance(rec, dict):
        raise UserError(f"{location}: expected a JSON object")
    problems = record_problems(rec)
    if problems:
        raise UserError(f"{location}: {problems[0]}")
    return rec

"""Rows -> records of `prepare-data hf`: one row of a layout -> schema-v1 records.

Boxes are turned into original-image pixels, xyxy, from the convention the user (or the row,
for ms-swift) states, using the image's real size; a row that cannot make a valid record raises
`RowSkip` (counted by reason), never repaired. A problem cell holding a list of strings (the
referring expressions of one object) gives one record per text, ids `<row id>-<k>` (k: the
text's index in the list), or the first text only (`texts="first"`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vlmr1_cli.data.hf_images import ImageStore, ProbedImage, image_cells
from vlmr1_cli.data.hf_layouts import (
    ColumnMap,
    RowSkip,
    answer_payload,
    is_box,
    parse_labels,
    parse_solution,
    parse_swift_objects,
    problem_text,
    problem_texts,
    strip_image_tokens,
    to_xyxy_pixels,
)
from vlmr1_cli.data.report import Summary
from vlmr1_cli.data.schema import REQUIRED_KEYS
from vlmr1_cli.data.validate import box_problem
from vlmr1_cli.errors import UserError


@dataclass
class RowPlan:
    """Everything a row conversion needs, fixed before the first row."""

    name: str
    split: str
    layout: str
    task: str
    cols: ColumnMap
    box_format: str | None
    box_units: str | None
    tolerance: float
    store: ImageStore
    summary: Summary
    texts: str = "all"  # a list of problem texts: one record per text, or the first only


def _convention(plan: RowPlan, loc: str, row_units: str | None = None) -> tuple[str, str]:
    units = plan.box_units
    if row_units is not None:
        if units is not None and units != row_units:
            raise UserError(
                f"{loc}: the row states bbox_type for {row_units} but --box-units is "
                f"{units}; drop --box-units or fix the data"
            )
        units = row_units
    if plan.box_format is None or units is None:
        stated = (("--box-format", plan.box_format), ("--box-units", units))
        missing = " and ".join(flag for flag, v in stated if v is None)
        raise UserError(
            f"{loc}: the rows hold boxes but their convention is not stated: pass "
            f"{missing} (xyxy|xywh|cxcywh; pixels|norm1|norm1000 of the original "
            "image)"
        )
    return plan.box_format, units


def _require_box(value: object, size: tuple[int, int], tol: float) -> None:
    why = box_problem(value, size[0], size[1], tol)
    if why is not None:
        raise RowSkip(why)


def _checked(box: list[float], size: tuple[int, int], tol: float) -> list[float]:
    _require_box(box, size, tol)
    return box


def _cleaned(plan: RowPlan, raw: str) -> str:
    text, removed = strip_image_tokens(raw)
    if removed:
        plan.summary.note("<image> placeholders removed from the problem")
    return text


def _problem(plan: RowPlan, row: dict) -> str:
    if plan.cols.problem is None:
        return ""
    return _cleaned(plan, problem_text(row.get(plan.cols.problem)))


def _problems(plan: RowPlan, row: dict) -> tuple[list[str], bool]:
    """The row's problem texts, and whether the cell was a list (one record per text)."""
    if plan.cols.problem is None:
        return [""], False
    value = row.get(plan.cols.problem)
    texts = problem_texts(value)
    if texts is None:
        return [_cleaned(plan, problem_text(value))], False
    if not texts:
        raise RowSkip("problem is an empty list of texts")
    return [_cleaned(plan, t) for t in (texts if plan.texts == "all" else texts[:1])], True


def records_in_row(plan: RowPlan, row: dict) -> int:
    """How many records a row would give: what a skip of the whole row counts."""
    if plan.layout in ("swift", "vlmr1") or plan.cols.problem is None:
        return 1
    texts = problem_texts(row.get(plan.cols.problem))
    return len(texts) if texts and plan.texts == "all" else 1


def _labels(plan: RowPlan, row: dict) -> list[str] | None:
    return parse_labels(row.get(plan.cols.labels)) if plan.cols.labels else None


def _ovd(
    objects: Sequence[tuple[list[float], str | None]], labels: list[str] | None
) -> tuple[list[dict], list[str]]:
    """Objects -> (solution, labels); the labels default to the solution's, in order."""
    if labels is None:
        if any(label is None for _, label in objects):
            raise RowSkip("ovd row: boxes without labels")
        labels = list(dict.fromkeys(label for _, label in objects if label is not None))
        if not labels:
            raise RowSkip("ovd row without labels")
    out = []
    for box, label in objects:
        if label is None:
            if len(labels) != 1:
                raise RowSkip("ovd row: boxes without labels")
            label = labels[0]
        if label not in labels:
            raise RowSkip("ovd row: a solution label is not among the labels")
        out.append({"bbox_2d": box, "label": label})
    return out, labels


def _single_image(plan: RowPlan, row: dict, loc: str) -> ProbedImage:
    cells = image_cells(row.get(plan.cols.image)) if plan.cols.image else []
    if not cells:
        raise RowSkip("no image")
    if len(cells) > 1:
        raise RowSkip("multi-image row (rec and ovd rows need exactly one image)")
    return plan.store.probe(cells[0], loc)


def _generic_row(plan: RowPlan, row: dict, loc: str) -> dict:
    """trl / easyr1 / lmms-refcoco / user-mapped columns; `problems`: one record each."""
    problems, listed = _problems(plan, row)
    raw = row.get(plan.cols.solution)
    if plan.task == "text":
        if not isinstance(raw, str):
            raise RowSkip("solution is not text")
        images = (
            [plan.store.probe(c, loc) for c in image_cells(row.get(plan.cols.image))]
            if plan.cols.image
            else []
        )
        return {
            "task": "text",
            "images": images,
            "problems": problems,
            "listed": listed,
            "solution": answer_payload(raw),
        }
    kind, value = parse_solution(raw)
    if kind == "text":
        raise RowSkip("solution is not a box or a list of objects (text answers: --task text)")
    labels = _labels(plan, row)
    task = plan.task
    if task == "auto":
        task = "rec" if labels is None and (kind == "box" or len(value) == 1) else "ovd"
    image = _single_image(plan, row, loc)
    fmt, units = _convention(plan, loc)
    size = image.size
    if task == "rec":
        if kind == "objects":
            if len(value) != 1:
                raise RowSkip("rec row: not exactly one box")
            value = value[0][0]
        box = _checked(to_xyxy_pixels(value, fmt, units, *size), size, plan.tolerance)
        return {
            "task": "rec",
            "images": [image],
            "problems": problems,
            "listed": listed,
            "solution": box,
        }
    objects = [(value, None)] if kind == "box" else value
    objects = [
        (_checked(to_xyxy_pixels(b, fmt, units, *size), size, plan.tolerance), label)
        for b, label in objects
    ]
    solution, labels = _ovd(objects, labels)
    return {
        "task": "ovd",
        "images": [image],
        "problems": problems,
        "listed": listed,
        "solution": solution,
        "labels": labels,
    }


def _swift_row(plan: RowPlan, row: dict, loc: str) -> dict:
    parsed = parse_swift_objects(row.get(plan.cols.solution))
    fmt, units = _convention(plan, loc, parsed.units)
    image = _single_image(plan, row, loc)
    size = image.size
    objects = [
        (_checked(to_xyxy_pixels(b, fmt, units, *size), size, plan.tolerance), ref)
        for b, ref in parsed.objects
    ]
    task = plan.task if plan.task != "auto" else ("rec" if len(objects) == 1 else "ovd")
    problem = _problem(plan, row)
    if task == "rec":
        if len(objects) != 1:
            raise RowSkip("rec row: not exactly one box")
        box, ref = objects[0]
        problem = problem or ref.strip()
        if not problem:
            raise RowSkip("empty problem")
        return {"task": "rec", "images": [image], "problem": problem, "solution": box}
    solution, labels = _ovd(objects, _labels(plan, row))
    return {
        "task": "ovd",
        "images": [image],
        "problem": problem,
        "solution": solution,
        "labels": labels,
    }


def _vlmr1_row(plan: RowPlan, row: dict, loc: str) -> dict:
    """A row written by `to-hf`: schema v1 as columns, solution and extra keys JSON-encoded."""
    task = row.get("task")
    if not isinstance(task, str) or not task:
        raise RowSkip("no task")
    if plan.task != "auto" and task != plan.task:
        raise RowSkip(f"task is not {plan.task}")
    try:
        solution = json.loads(row["solution"]) if isinstance(row.get("solution"), str) else None
        extra = json.loads(row["extra"]) if isinstance(row.get("extra"), str) else {}
    except json.JSONDecodeError:
        raise RowSkip("solution or extra is not JSON") from None
    if solution is None or not isinstance(extra, dict):
        raise RowSkip("solution or extra is not JSON")
    images = [plan.store.probe(c, loc) for c in image_cells(row.get(plan.cols.image))]
    stated = row.get("image_sizes")
    if stated is not None and [list(s) for s in stated] != [list(i.size) for i in images]:
        raise RowSkip("stated image size differs from the image")
    k = extra.get("box_image", 0)
    if not isinstance(k, int) or isinstance(k, bool) or not 0 <= k < max(1, len(images)):
        raise RowSkip("box_image is not an index into the images")
    size = images[k].size if images else None
    if task == "rec" and size is not None:
        _require_box(solution if is_box(solution) else [], size, plan.tolerance)
    if task == "ovd" and size is not None and isinstance(solution, list):
        for obj in solution:
            _require_box(obj.get("bbox_2d") if isinstance(obj, dict) else [], size, plan.tolerance)
    out: dict[str, Any] = {
        "task": task,
        "images": images,
        "problem": row.get("problem") or "",
        "solution": solution,
    }
    labels = row.get(plan.cols.labels) if plan.cols.labels else None
    if labels is not None:
        out["labels"] = list(labels)
    out["extra"] = {k: v for k, v in extra.items() if k not in REQUIRED_KEYS and k != "labels"}
    return out


def _row_id(plan: RowPlan, row: dict, index: int) -> str:
    if plan.cols.id is None:
        return f"{plan.split}-{index}"
    value = row.get(plan.cols.id)
    if value is None or (isinstance(value, str) and not value):
        raise RowSkip("no id")
    return str(value)


def row_records(plan: RowPlan, row: dict, index: int) -> list[dict]:
    """The row's records: one, or one per problem text when the problem cell is a list."""
    loc = f"{plan.name} [{plan.split}] row {index}"
    rid = _row_id(plan, row, index)
    if plan.layout == "vlmr1":
        got = _vlmr1_row(plan, row, loc)
    elif plan.layout == "swift":
        got = _swift_row(plan, row, loc)
    else:
        got = _generic_row(plan, row, loc)
    listed = got.get("listed", False)
    texts = list(enumerate(got["problems"] if "problems" in got else [got["problem"]]))
    if got["task"] == "rec":
        for _, text in texts:
            if not text:
                plan.summary.skip("empty problem")
        texts = [(k, text) for k, text in texts if text]
    if not texts:
        return []
    if listed:
        plan.summary.note(
            "rows whose problem is a list of texts ("
            + ("one record per text)" if plan.texts == "all" else "first text only)")
        )
    images: list[ProbedImage] = got["images"]
    paths = [plan.store.write(im) for im in images]
    out = []
    for k, text in texts:
        rec: dict[str, Any] = {
            "id": f"{rid}-{k}" if listed else rid,
            "task": got["task"],
            "images": list(paths),
            "image_sizes": [list(im.size) for im in images],
            "problem": text,
            "solution": got["solution"],
        }
        if "labels" in got:
            rec["labels"] = got["labels"]
        if plan.layout == "vlmr1":
            rec.update(got["extra"])
        else:
            rec.update(
                {"source": "hf", "hf_dataset": plan.name, "hf_split": plan.split, "hf_row": index}
            )
            if listed:
                rec["hf_text_index"] = k  # the text's index in the row's problem list
        out.append(rec)
    return out

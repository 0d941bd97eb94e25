"""Which benchmark a data file is, how its prompts list labels, and how answers are read.

Evaluation tasks: `rec` (REC records), and for OVD records `coco` (COCO mAP + greedy P/R),
`ovdeval` (NMS-AP per subset + the 5-group average), `d3` (mAP), or the generic `ovd`
(mAP + greedy P/R) for OVD data of any other source. The task comes from the records
(`task`, `source`, `subset`) unless `--task` names it.

Answers are read with the same parser the rewards use (docs/architecture.md, rule 2), and boxes are
mapped back to original pixels through the model family's frame.
"""

from __future__ import annotations

from pathlib import Path

from vlmr1_cli.errors import UserError
from vlmr1_cli.models.base import ModelFamily
from vlmr1_cli.parsing import extract_answer, parse_boxes, parse_rec_box, parse_rec_box_vlmr1

EVAL_TASKS = ("rec", "coco", "ovdeval", "d3", "ovd")
RECORD_TASK = {"rec": "rec", "coco": "ovd", "ovdeval": "ovd", "d3": "ovd", "ovd": "ovd"}
LABEL_MODES = ("all", "positive")


def resolve_task(records: list[dict], override: str | None, data: str | Path) -> str:
    kinds = sorted({r["task"] for r in records})
    if len(kinds) != 1:
        raise UserError(f"{data}: mixes tasks {kinds}; evaluate one task per file")
    kind = kinds[0]
    if kind not in ("rec", "ovd"):
        raise UserError(
            f"{data}: task '{kind}' cannot be evaluated (supported: rec and ovd records)"
        )
    if override is not None:
        if override not in EVAL_TASKS:
            raise UserError(f"--task '{override}': choose one of {', '.join(EVAL_TASKS)}")
        if RECORD_TASK[override] != kind:
            raise UserError(
                f"{data}: --task {override} needs '{RECORD_TASK[override]}' records, "
                f"this file holds '{kind}' records"
            )
        task = override
    elif kind == "rec":
        task = "rec"
    else:
        sources = {r.get("source") for r in records}
        if all(r.get("subset") for r in records) and sources <= {"ovdeval", None}:
            task = "ovdeval"
        elif sources in ({"coco"}, {"d3"}):
            task = sources.pop()
        else:
            task = "ovd"
    for r in records:
        if not r["images"]:
            raise UserError(
                f"{data}:{r['_line']}: a '{kind}' record needs an image (key 'images' is empty)"
            )
    if task == "ovdeval":
        for r in records:
            if not isinstance(r.get("subset"), str) or not r["subset"]:
                raise UserError(
                    f"{data}:{r['_line']}: --task ovdeval needs a 'subset' key in every "
                    "record (the OVDEval importer writes it)"
                )
    return task


def category_names(records: list[dict], gt_categories: list[dict] | None) -> list[str]:
    """Every category: the GT file's names in id order, else every label the records use."""
    if gt_categories is not None:
        return [c["name"] for c in sorted(gt_categories, key=lambda c: c["id"])]
    names: dict[str, None] = {}
    for r in records:
        names.update(dict.fromkeys(r.get("labels") or []))
        names.update(dict.fromkeys(o["label"] for o in r["solution"]))
    return list(names)


def set_query_labels(records: list[dict], mode: str, all_names: list[str]) -> None:
    """COCO prompts list every category (`all`, the paper's setting) or only those present
    in the image (`positive`, in first-seen order)."""
    if mode not in LABEL_MODES:
        raise UserError(f"--labels '{mode}': choose one of {', '.join(LABEL_MODES)}")
    for r in records:
        if mode == "all":
            r["labels"] = list(all_names)
        else:
            r["labels"] = list(dict.fromkeys(o["label"] for o in r["solution"]))


def read_answer(task: str, text: str, row: dict, family: ModelFamily) -> dict:
    """The parsed prediction of one completion, boxes in original-image pixels.

    REC: `box` from the tolerant reader, `box_vlmr1` from VLM-R1's own evaluation parser
    (for the compatible accuracy). OVD: `objects` [{bbox_2d, label}]. `parsed` is False when
    the answer states no box (for OVD: no box and no "None").
    """
    k = int(row.get("box_image") or 0)  # the image the boxes refer to (loader.box_image_index)
    orig = tuple(row["image_sizes"][k])
    inp = tuple(row["input_sizes"][k])

    def back(box) -> list[float]:
        return [round(v, 3) for v in family.from_model_frame(box, orig, inp)]

    if RECORD_TASK[task] == "rec":
        box = parse_rec_box(text)
        compat = parse_rec_box_vlmr1(text)
        return {
            "parsed": box is not None,
            "box": back(box) if box is not None else None,
            "box_vlmr1": back(compat) if compat is not None else None,
        }
    objects = [
        {"bbox_2d": back(b.bbox), "label": b.label if b.label is not None else ""}
        for b in parse_boxes(text)
    ]
    return {"parsed": bool(objects) or _says_none(text), "objects": objects}


def _says_none(text: str) -> bool:
    span = extract_answer(text)
    return (span if span is not None else text).strip().strip(".").strip().lower() == "none"

"""Per-task answer reading and scoring. Answers are read with the same parser the rewards
use (architecture rule 2), and boxes are mapped back to original pixels by the family."""

from __future__ import annotations

from typing import Any

from vlmr1_cli.models.base import ModelFamily
from vlmr1_cli.parsing import parse_boxes, parse_rec_box


def read_answer(task: str, text: str, row: dict, family: ModelFamily) -> dict:
    """The parsed prediction of one completion, boxes in original-image pixels."""
    if not row["image_sizes"]:
        return {"parsed": False}
    orig = tuple(row["image_sizes"][0])
    inp = tuple(row["input_sizes"][0])
    if task == "rec":
        box = parse_rec_box(text)
        if box is None:
            return {"parsed": False, "box": None}
        return {"parsed": True, "box": [round(v, 3) for v in family.from_model_frame(box, orig, inp)]}
    boxes = parse_boxes(text)
    objects = [{"bbox_2d": [round(v, 3) for v in family.from_model_frame(b.bbox, orig, inp)],
                "label": b.label if b.label is not None else ""} for b in boxes]
    return {"parsed": bool(objects) or "none" in text.lower(), "objects": objects}


def score_rec(preds: list[dict], records: list[dict], options: dict) -> dict[str, Any]:
    from vlmr1_cli.metrics.rec import rec_scores

    boxes = [p.get("box") for p in preds]
    gts = [r["solution"] for r in records]
    std = rec_scores(boxes, gts, compat=False)
    compat = rec_scores(boxes, gts, compat=True)
    return {
        "acc": std["acc"], "mean_iou": std["mean_iou"], "acc_vlmr1_compat": compat["acc"],
        "n": std["n"], "n_unparsed": std["n_unparsed"],
        "iou_variant": "vlmr1-compat" if options.get("compat") else "standard",
        "primary": compat["acc"] if options.get("compat") else std["acc"],
    }


SCORERS = {"rec": score_rec}

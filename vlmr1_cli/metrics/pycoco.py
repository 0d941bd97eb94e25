"""Thin, quiet wrappers around pycocotools: the reference the fast core is checked against.

Used by the tests and benchmarks, and by the rewards as the exact fallback for inputs the
fast core does not cover (non-finite coordinates). pycocotools is imported lazily.
"""

from __future__ import annotations

import contextlib
import copy
import io
from typing import Any

import numpy as np


def _quiet():
    return contextlib.redirect_stdout(io.StringIO())


def coco_from_dict(dataset: dict) -> Any:
    from pycocotools.coco import COCO

    coco = COCO()
    coco.dataset = dataset
    with _quiet():
        coco.createIndex()
    return coco


def pycocotools_stats(gt: dict, results: list[dict]) -> np.ndarray:
    """COCOeval (bbox) stats of `results` against the COCO dict `gt`, with pycocotools.

    Empty results are evaluated as a result set with no detections (pycocotools' own
    `loadRes([])` raises IndexError).
    """
    from pycocotools.cocoeval import COCOeval

    coco_gt = coco_from_dict(copy.deepcopy(gt))
    with _quiet():
        if results:
            coco_dt = coco_gt.loadRes(copy.deepcopy(results))
        else:
            coco_dt = coco_from_dict(
                {
                    "images": list(coco_gt.dataset.get("images", [])),
                    "categories": copy.deepcopy(coco_gt.dataset.get("categories", [])),
                    "annotations": [],
                }
            )
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.array(ev.stats, dtype=np.float64)


def vlmr1_calculate_map(pred_items: list, gt_items: list) -> tuple[float, float]:
    """VLM-R1's `calculate_map` (docs/metrics.md §6) run through pycocotools: (stats[0], stats[1]).

    One 2048x2048 image with id 0, categories = distinct GT labels (ids 0..K-1, first seen),
    GT ids 1..N, predictions with a GT label and a usable `bbox_2d` at score 1.0 in their
    order; (0.0, 0.0) when no prediction is usable. Raises where VLM-R1 raises (bad GT).
    """
    cats: dict = {}
    gt = {
        "images": [{"id": 0, "width": 2048, "height": 2048, "file_name": "image_0.jpg"}],
        "categories": [],
        "annotations": [],
    }
    for idx, g in enumerate(gt_items):
        if g["label"] not in cats:
            cats[g["label"]] = len(cats)
            gt["categories"].append({"id": cats[g["label"]], "name": g["label"]})
        b = g["bbox_2d"]
        gt["annotations"].append(
            {
                "id": idx + 1,
                "image_id": 0,
                "category_id": cats[g["label"]],
                "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]],
                "area": (b[2] - b[0]) * (b[3] - b[1]),
                "iscrowd": 0,
            }
        )
    dts = []
    for p in pred_items:
        try:
            b = p["bbox_2d"]
            dts.append(
                {
                    "image_id": 0,
                    "category_id": cats[p["label"]],
                    "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]],
                    "score": 1.0,
                    "area": (b[2] - b[0]) * (b[3] - b[1]),
                }
            )
        except Exception:  # VLM-R1 drops every prediction it cannot convert
            pass
    if not dts:
        return 0.0, 0.0
    stats = pycocotools_stats(gt, dts)
    return float(stats[0]), float(stats[1])


def reference_gt_anchored_nms(
    gt: dict, results: list[dict], iou_threshold: float = 0.5
) -> list[dict]:
    """OVDEval's GT-anchored NMS, literally as docs/metrics.md §3 describes it (one image and
    one ground truth at a time, numpy's default argsort for the winner). The reference for
    tests and the benchmark baseline; `metrics.nms_ap` is the fast equivalent.
    """
    by_img: dict = {}
    for r in results:
        by_img.setdefault(r["image_id"], []).append(r)
    gt_by_img: dict = {}
    for a in gt.get("annotations", []):
        gt_by_img.setdefault(a["image_id"], []).append(a)
    kept: list[dict] = []
    for img, preds in by_img.items():
        gts = gt_by_img.get(img, [])
        boxes = np.array([p["bbox"] for p in preds])
        scores = np.array([p["score"] for p in preds])
        winners, losers = set(), []
        gt_boxes = np.array([g["bbox"] for g in gts])
        for gb in gt_boxes:
            x1, y1, w1, h1 = gb
            xmin = np.maximum(x1, boxes[:, 0])
            ymin = np.maximum(y1, boxes[:, 1])
            xmax = np.minimum(x1 + w1, boxes[:, 0] + boxes[:, 2])
            ymax = np.minimum(y1 + h1, boxes[:, 1] + boxes[:, 3])
            inter = np.maximum(0, xmax - xmin) * np.maximum(0, ymax - ymin)
            union = w1 * h1 + boxes[:, 2] * boxes[:, 3] - inter
            with np.errstate(divide="ignore", invalid="ignore"):
                iou = np.where(union == 0, 0, inter / union)
            idx = np.where(iou > iou_threshold)[0].tolist()
            if idx:
                ranked = [idx[i] for i in np.argsort(scores[idx])[::-1].tolist()]
                winners.add(ranked[0])
                losers += ranked[1:]
        dropped = {i for i in losers if i not in winners}
        kept += [p for i, p in enumerate(preds) if i not in dropped]
    return kept

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
                {"images": list(coco_gt.dataset.get("images", [])),
                 "categories": copy.deepcopy(coco_gt.dataset.get("categories", [])),
                 "annotations": []}
            )
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.array(ev.stats, dtype=np.float64)


def vlmr1_calculate_map(pred_items: list, gt_items: list) -> tuple[float, float]:
    """VLM-R1's `calculate_map` (metrics.md §6) run through pycocotools: (stats[0], stats[1]).

    One 2048x2048 image with id 0, categories = distinct GT labels (ids 0..K-1, first seen),
    GT ids 1..N, predictions with a GT label and a usable `bbox_2d` at score 1.0 in their
    order; (0.0, 0.0) when no prediction is usable. Raises where VLM-R1 raises (bad GT).
    """
    cats: dict = {}
    gt = {"images": [{"id": 0, "width": 2048, "height": 2048, "file_name": "image_0.jpg"}],
          "categories": [], "annotations": []}
    for idx, g in enumerate(gt_items):
        if g["label"] not in cats:
            cats[g["label"]] = len(cats)
            gt["categories"].append({"id": cats[g["label"]], "name": g["label"]})
        b = g["bbox_2d"]
        gt["annotations"].append({
            "id": idx + 1, "image_id": 0, "category_id": cats[g["label"]],
            "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]],
            "area": (b[2] - b[0]) * (b[3] - b[1]), "iscrowd": 0,
        })
    dts = []
    for p in pred_items:
        try:
            b = p["bbox_2d"]
            dts.append({"image_id": 0, "category_id": cats[p["label"]],
                        "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]], "score": 1.0,
                        "area": (b[2] - b[0]) * (b[3] - b[1])})
        except Exception:  # VLM-R1 drops every prediction it cannot convert
            pass
    if not dts:
        return 0.0, 0.0
    stats = pycocotools_stats(gt, dts)
    return float(stats[0]), float(stats[1])

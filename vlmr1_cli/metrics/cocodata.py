"""COCO ground-truth files and results lists, validated into arrays.

Bad input is a `UserError` naming the file and the item (`GT.json: annotations[12]: ...`,
`RESULTS.json: item 3: ...`). What pycocotools silently leaves out of an evaluation
(annotations of unknown images or categories, detections of unknown categories) is kept in
the arrays with index -1 and counted, so reports can say how much was skipped and why.

Refused, where pycocotools would compute something quietly wrong: a duplicate image,
category or annotation id (pycocotools merges them), a GT box with a negative width or height
(it moves the AP: the box can never be matched, yet counts as a GT), a negative GT area,
and any number that is not finite or whose magnitude exceeds `geometry.MAX_VALUE` (1e12),
including integers too large for a float. Integer ids must fit a signed 64-bit integer.
A detection with a negative width or height is refused too: COCO results are [x, y, w, h]
with w, h >= 0, and pycocotools would score one quietly (ignored when one side is negative,
its area being negative; a false positive when both are). vlmr1's own evaluation never writes
one: a model's inverted box is left out of its results and counted
(`evaluate.coco_results`), so an output folder re-scores as it was scored.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vlmr1_cli.errors import UserError
from vlmr1_cli.geometry import MAX_VALUE, is_bounded_number, is_int_id
from vlmr1_cli.io import read_json

MAX_AREA = MAX_VALUE * MAX_VALUE  # an area is the product of two bounded sides


def _is_id(v: Any) -> bool:
    return is_int_id(v) or isinstance(v, str)


def _show(v: Any) -> str:
    """A value for a one-line message: huge integers by size (their repr may raise)."""
    if isinstance(v, int) and v.bit_length() > 100:
        return f"an integer of {v.bit_length()} bits"
    if isinstance(v, list):
        return "[" + ", ".join(_show(x) for x in v[:5]) + (", ...]" if len(v) > 5 else "]")
    text = repr(v)
    return text if len(text) <= 80 else text[:77] + "..."


def _box(v: Any, where: str) -> list:
    if not isinstance(v, list) or len(v) != 4 or not all(is_bounded_number(x) for x in v):
        raise UserError(
            f"{where}: 'bbox' must be a list of 4 finite numbers [x, y, w, h] of "
            f"magnitude at most {MAX_VALUE:g}, got {_show(v)}"
        )
    return v


def _unique_ids(items: list, key: str, path: str) -> list:
    """The `id` of each item of `images` or `categories`; duplicates and bad ids refused."""
    first: dict = {}
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not _is_id(item.get("id")):
            got = _show(item.get("id")) if isinstance(item, dict) else type(item).__name__
            raise UserError(
                f"{path}: {key}[{i}]: needs an integer (64-bit) or string 'id', got {got}"
            )
        if item["id"] in first:
            raise UserError(
                f"{path}: {key}[{i}]: duplicate id {item['id']!r} "
                f"(first at {key}[{first[item['id']]}])"
            )
        first[item["id"]] = i
    return list(first)


def _sorted_ids(ids: list, where: str) -> list:
    kinds = {type(i) for i in ids}
    if len(kinds) > 1:
        raise UserError(f"{where}: ids mix numbers and strings")
    return sorted(set(ids))


@dataclass
class GroundTruth:
    """A COCO detection ground truth. Images and categories are sorted ids (as COCOeval)."""

    path: str
    img_ids: list
    cat_ids: list
    ann_img: np.ndarray  # index into img_ids, -1: image not listed
    ann_cat: np.ndarray  # index into cat_ids, -1: category not listed
    ann_box: np.ndarray  # (N, 4) xywh float64
    ann_area: np.ndarray  # the `area` field (w*h where absent)
    ann_crowd: np.ndarray  # bool
    ann_id: np.ndarray  # int64
    ann_int_box: np.ndarray  # bool: all four bbox values are ints (dtype of numpy arrays)
    counts: dict = field(default_factory=dict)

    @property
    def eval_mask(self) -> np.ndarray:
        return (self.ann_img >= 0) & (self.ann_cat >= 0)


@dataclass
class Detections:
    path: str
    det_img: np.ndarray  # index into the ground truth's img_ids
    det_cat: np.ndarray  # index into cat_ids, -1: unknown category (ignored by COCOeval)
    det_box: np.ndarray  # (D, 4) xywh float64
    det_score: np.ndarray  # float64
    det_int_score: np.ndarray  # bool: the score is a JSON integer
    det_int_box: np.ndarray  # bool
    counts: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.det_score)

    def subset(self, keep: np.ndarray) -> Detections:
        return Detections(
            self.path,
            self.det_img[keep],
            self.det_cat[keep],
            self.det_box[keep],
            self.det_score[keep],
            self.det_int_score[keep],
            self.det_int_box[keep],
            dict(self.counts),
        )


def load_ground_truth(gt: dict | str | os.PathLike, name: str | None = None) -> GroundTruth:
    """Validate a COCO detection ground truth (a dict, or a path to one)."""
    path = name or ("<ground truth>" if isinstance(gt, dict) else str(gt))
    data = gt if isinstance(gt, dict) else read_json(gt)
    if not isinstance(data, dict):
        raise UserError(
            f"{path}: expected a COCO object with 'images', 'annotations', 'categories'"
        )
    lists = {}
    for key in ("images", "annotations", "categories"):
        v = data.get(key, [] if key == "annotations" else None)
        if not isinstance(v, list):
            raise UserError(f"{path}: key '{key}' must be a list")
        lists[key] = v
    img_list = _unique_ids(lists["images"], "images", path)
    cat_list = _unique_ids(lists["categories"], "categories", path)
    img_ids = _sorted_ids(img_list, f"{path}: images")
    cat_ids = _sorted_ids(cat_list, f"{path}: categories")
    img_pos = {v: k for k, v in enumerate(img_ids)}
    cat_pos = {v: k for k, v in enumerate(cat_ids)}
    anns = lists["annotations"]
    n = len(anns)
    ann_img = np.empty(n, dtype=np.int64)
    ann_cat = np.empty(n, dtype=np.int64)
    boxes, areas = [], []
    crowd = np.zeros(n, dtype=bool)
    ids = np.empty(n, dtype=np.int64)
    int_box = np.zeros(n, dtype=bool)
    seen: set[int] = set()
    area_from_box = 0
    for i, a in enumerate(anns):
        where = f"{path}: annotations[{i}]"
        if not isinstance(a, dict):
            raise UserError(f"{where}: expected an object")
        aid = a.get("id")
        if not is_int_id(aid):
            raise UserError(f"{where}: needs an integer 'id' that fits 64 bits, got {_show(aid)}")
        if aid in seen:
            raise UserError(f"{where}: duplicate annotation id {aid}")
        seen.add(aid)
        for key in ("image_id", "category_id"):
            if key not in a:
                raise UserError(f"{where}: missing '{key}'")
        b = _box(a.get("bbox"), where)
        if b[2] < 0 or b[3] < 0:
            raise UserError(f"{where}: 'bbox' {_show(b)} has a negative width or height")
        area = a.get("area")
        if area is None:
            area = b[2] * b[3]
            area_from_box += 1
        elif not is_bounded_number(area, MAX_AREA) or area < 0:
            raise UserError(
                f"{where}: 'area' must be a finite number >= 0 (at most {MAX_AREA:g}), "
                f"got {_show(area)}"
            )
        c = a.get("iscrowd", 0)
        if c not in (0, 1) or isinstance(c, float):
            raise UserError(f"{where}: 'iscrowd' must be 0 or 1")
        ann_img[i] = img_pos.get(a["image_id"], -1) if _is_id(a["image_id"]) else -1
        ann_cat[i] = cat_pos.get(a["category_id"], -1) if _is_id(a["category_id"]) else -1
        boxes.append(b)
        areas.append(area)
        crowd[i] = bool(c)
        ids[i] = aid
        int_box[i] = all(isinstance(x, int) for x in b)
    box_arr = np.array(boxes, dtype=np.float64).reshape(-1, 4)
    counts = {
        "annotations": n,
        "annotations_unknown_image": int((ann_img < 0).sum()),
        "annotations_unknown_category": int((ann_cat < 0).sum()),
        "annotations_area_from_bbox": area_from_box,
    }
    return GroundTruth(
        path,
        img_ids,
        cat_ids,
        ann_img,
        ann_cat,
        box_arr,
        np.array(areas, dtype=np.float64),
        crowd,
        ids,
        int_box,
        counts,
    )


def load_detections(
    results: list | str | os.PathLike, gt: GroundTruth, name: str | None = None
) -> Detections:
    """Validate a COCO results list against `gt`; an unknown image_id is a UserError."""
    path = name or ("<results>" if isinstance(results, list) else str(results))
    data = results if isinstance(results, list) else read_json(results)
    if not isinstance(data, list):
        raise UserError(f"{path}: expected a JSON list of detections")
    img_pos = {v: k for k, v in enumerate(gt.img_ids)}
    cat_pos = {v: k for k, v in enumerate(gt.cat_ids)}
    n = len(data)
    det_img = np.empty(n, dtype=np.int64)
    det_cat = np.empty(n, dtype=np.int64)
    boxes, scores = [], []
    int_score = np.zeros(n, dtype=bool)
    int_box = np.zeros(n, dtype=bool)
    for i, d in enumerate(data):
        where = f"{path}: item {i}"
        if not isinstance(d, dict):
            raise UserError(f"{where}: expected an object with image_id, category_id, bbox, score")
        for key in ("image_id", "category_id", "bbox", "score"):
            if key not in d:
                raise UserError(f"{where}: missing '{key}'")
        img = d["image_id"]
        if not _is_id(img) or img not in img_pos:
            raise UserError(
                f"{where}: image_id {_show(img)} is not an image of the ground truth {gt.path}"
            )
        s = d["score"]
        if not is_bounded_number(s):
            raise UserError(
                f"{where}: 'score' must be a finite number of magnitude at most "
                f"{MAX_VALUE:g}, got {_show(s)}"
            )
        b = _box(d["bbox"], where)
        if b[2] < 0 or b[3] < 0:
            raise UserError(
                f"{where}: 'bbox' {_show(b)} has a negative width or height "
                "(COCO results are [x, y, w, h] with w, h >= 0)"
            )
        det_img[i] = img_pos[img]
        det_cat[i] = cat_pos.get(d["category_id"], -1) if _is_id(d["category_id"]) else -1
        boxes.append(b)
        scores.append(s)
        int_score[i] = isinstance(s, int)
        int_box[i] = all(isinstance(x, int) for x in b)
    counts = {"detections": n, "detections_unknown_category": int((det_cat < 0).sum())}
    return Detections(
        path,
        det_img,
        det_cat,
        np.array(boxes, dtype=np.float64).reshape(-1, 4),
        np.array(scores, dtype=np.float64),
        int_score,
        int_box,
        counts,
    )

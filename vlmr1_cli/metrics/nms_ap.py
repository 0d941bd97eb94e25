"""OVDEval's NMS-AP: GT-anchored, label-agnostic de-duplication, then mAP (docs/metrics.md §3).

Per image, each ground-truth box (any category, file order) gathers the predictions (any
label) with IoU > 0.5 (strict; OVDEval's continuous xywh IoU, 0 when the union is 0). The
best-scored candidate is kept and the rest are marked; marked predictions are dropped
unless kept for another ground truth. NMS-AP is stats[0] of COCOeval on the survivors.

The winner among equal scores is whatever numpy's default (unstable, SIMD-dispatched)
argsort puts last, so ties are settled by making that same call on an array of the same
dtype and values; a unique best score needs no call. IoUs of all images come from one
vectorised expression, exact for coordinates below 2**24 whatever their JSON types; images
with larger coordinates are computed with the arrays the official script would build.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from vlmr1_cli.metrics.ap import block_pairs
from vlmr1_cli.metrics.coco import evaluate_arrays_safe, stats_dict
from vlmr1_cli.metrics.cocodata import Detections, GroundTruth, load_detections, load_ground_truth

EXACT_LIMIT = 2.0**24


def _ovdeval_iou(g: np.ndarray, p: np.ndarray) -> np.ndarray:
    """OVDEval's `calculate_iou`, element-wise for paired rows (g: GT xywh, p: predictions)."""
    x1, y1, w1, h1 = g.T
    x2, y2, w2, h2 = p.T
    xmin = np.maximum(x1, x2)
    ymin = np.maximum(y1, y2)
    xmax = np.minimum(x1 + w1, x2 + w2)
    ymax = np.minimum(y1 + h1, y2 + h2)
    inter = np.maximum(0, xmax - xmin) * np.maximum(0, ymax - ymin)
    union = w1 * h1 + w2 * h2 - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union == 0, 0, inter / union)


def _typed(values: np.ndarray, all_int: bool) -> np.ndarray:
    return values.astype(np.int64) if all_int else values


def gt_anchored_nms(gt: GroundTruth, dets: Detections, iou_threshold: float = 0.5) -> np.ndarray:
    """Boolean mask of the detections that survive OVDEval's NMS."""
    n_det = len(dets)
    keep = np.ones(n_det, dtype=bool)
    if n_det == 0:
        return keep
    g_all = np.nonzero(gt.ann_img >= 0)[0]  # every annotation of a listed image, any category
    if g_all.size == 0:
        return keep
    g_order = g_all[np.argsort(gt.ann_img[g_all], kind="stable")]
    d_order = np.argsort(dets.det_img, kind="stable")
    ug, g_start, g_len = np.unique(gt.ann_img[g_order], return_index=True, return_counts=True)
    ud, d_start, d_len = np.unique(dets.det_img[d_order], return_index=True, return_counts=True)
    common, ig, id_ = np.intersect1d(ug, ud, assume_unique=True, return_indices=True)
    # images whose numbers are too large for the vectorised form to be exact
    big_g = np.zeros(len(gt.img_ids), dtype=bool)
    big_d = np.zeros(len(gt.img_ids), dtype=bool)
    np.logical_or.at(big_g, gt.ann_img[g_all], np.abs(gt.ann_box[g_all]).max(axis=1) >= EXACT_LIMIT)
    np.logical_or.at(big_d, dets.det_img, np.abs(dets.det_box).max(axis=1) >= EXACT_LIMIT)
    big = (big_g | big_d)[common]
    gi, di = block_pairs(
        g_order, d_order, g_start[ig[~big]], g_len[ig[~big]], d_start[id_[~big]], d_len[id_[~big]]
    )
    cand_g, cand_d = [], []
    if gi.size:
        hit = _ovdeval_iou(gt.ann_box[gi], dets.det_box[di]) > iou_threshold
        cand_g.append(gi[hit])
        cand_d.append(di[hit])
    for j in np.nonzero(big)[0]:
        gs = g_order[g_start[ig[j]] : g_start[ig[j]] + g_len[ig[j]]]
        ds = d_order[d_start[id_[j]] : d_start[id_[j]] + d_len[id_[j]]]
        g_arr = _typed(gt.ann_box[gs], bool(gt.ann_int_box[gs].all()))
        p_arr = _typed(dets.det_box[ds], bool(dets.det_int_box[ds].all()))
        for row, g_idx in zip(g_arr, gs, strict=True):
            hit = _ovdeval_iou(np.broadcast_to(row, p_arr.shape), p_arr) > iou_threshold
            cand_g.append(np.full(int(hit.sum()), g_idx))
            cand_d.append(ds[hit])
    if not cand_g:
        return keep
    cg = np.concatenate(cand_g)
    cd = np.concatenate(cand_d)
    if cg.size == 0:
        return keep
    o = np.lexsort((cd, cg))  # per GT, candidates in listing order (as np.where gives them)
    cg, cd = cg[o], cd[o]
    starts = np.nonzero(np.r_[True, cg[1:] != cg[:-1]])[0]
    lens = np.diff(np.r_[starts, cg.size])
    sc = dets.det_score[cd]
    best = np.maximum.reduceat(sc, starts)
    is_best = sc == np.repeat(best, lens)
    n_best = np.add.reduceat(is_best.astype(np.int64), starts)
    winners = np.empty(len(starts), dtype=np.int64)
    unique = n_best == 1
    winners[unique] = cd[is_best & np.repeat(unique, lens)]
    img_int_scores = np.ones(len(gt.img_ids), dtype=bool)  # the image's score array is int64
    np.logical_and.at(img_int_scores, dets.det_img, dets.det_int_score)
    for s_i in np.nonzero(~unique)[0]:
        seg = cd[starts[s_i] : starts[s_i] + lens[s_i]]
        all_int = bool(img_int_scores[dets.det_img[seg[0]]])
        arr = np.array(dets.det_score[seg], dtype=np.int64 if all_int else np.float64)
        winners[s_i] = seg[np.argsort(arr)[-1]]  # reversed argsort, first element
    losers = np.zeros(n_det, dtype=bool)
    losers[cd] = True
    losers[winners] = False  # kept for some ground truth: never dropped
    keep[losers] = False
    return keep


def nms_ap_arrays(g: GroundTruth, d: Detections, iou_threshold: float = 0.5) -> dict[str, Any]:
    """NMS then COCOeval on validated arrays: `{"nms_ap", "stats", AP…ARl, "counts", …}`."""
    keep = gt_anchored_nms(g, d, iou_threshold)
    survivors = d.subset(keep)
    out = stats_dict(evaluate_arrays_safe(g, survivors)["stats"], g, survivors)
    out["counts"].update({"detections_before_nms": len(d), "detections_after_nms": int(keep.sum())})
    return {"nms_ap": out["stats"][0], **out, "nms_iou_threshold": iou_threshold}


def nms_ap_evaluate(
    gt: dict | str | os.PathLike, results: list | str | os.PathLike, iou_threshold: float = 0.5
) -> dict[str, Any]:
    """NMS-AP of a results list (GT as a COCO dict or path; results as a list or path)."""
    g = load_ground_truth(gt)
    return nms_ap_arrays(g, load_detections(results, g), iou_threshold)

"""COCO mAP (bbox) equal to pycocotools' COCOeval, computed on arrays.

`coco_evaluate(gt, results)` returns the 12 stats in pycocotools' order plus named keys.
The arithmetic is pycocotools' own (see `metrics.ap`); the speed comes from doing only the
work whose outcome can vary:

- (image, category) blocks with no detection or no ground truth are never visited;
- IoUs of all blocks come from one vectorised expression;
- a detection/ground-truth pair that is the only candidate (IoU >= 0.5) of both its ends is
  matched at threshold t exactly when its IoU >= t, for every area range at once; blocks
  with competing candidates run COCOeval's greedy loop over candidates only, once per
  distinct pattern of ignore flags among those candidates (at most the 4 area ranges);
- accumulation is one pass per (category, area range, maxDets).

Quirks kept: stable score ordering (image id, then listing order, for equal scores), top 100
per (image, category), area ranges from the GT `area` field, categories without GT
excluded, a match to annotation id 0 counted as a false positive, no detections -> 0 where
the area range has GT and -1 where it has none.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from vlmr1_cli.metrics.ap import (
    AREA_RNG,
    MATCH_THRS,
    MAX_DETS,
    MIN_THR,
    STAT_NAMES,
    R,
    T,
    block_pairs,
    greedy_match,
    precision_recall,
    summarize,
)
from vlmr1_cli.metrics.cocodata import Detections, GroundTruth, load_detections, load_ground_truth

A, M = len(AREA_RNG), len(MAX_DETS)
_THR_ARR = np.array(MATCH_THRS)


def _pair_iou(d: np.ndarray, g: np.ndarray, crowd: np.ndarray) -> np.ndarray:
    """Element-wise pycocotools bbIou for paired rows of xywh boxes."""
    dx, dy, dw, dh = d.T
    gx, gy, gw, gh = g.T
    da = dw * dh
    ga = gw * gh
    with np.errstate(all="ignore"):
        w = np.fmin(dw + dx, gw + gx) - np.fmax(dx, gx)
        h = np.fmin(dh + dy, gh + gy) - np.fmax(dy, gy)
        i = w * h
        u = np.where(crowd, da, (da + ga) - i)
        o = i / u
    return np.where((w <= 0) | (h <= 0), 0.0, o)


class _Matches:
    """Per area range and threshold, the matched GT index of each kept detection (-1: none)."""

    def __init__(self, n_det: int):
        self.m = np.full((A, T, n_det), -1, dtype=np.int64)


def evaluate_arrays(gt: GroundTruth, dets: Detections) -> dict[str, Any]:
    """COCOeval (bbox) on validated arrays: stats, precision and recall."""
    K = len(gt.cat_ids)
    lo = np.array([a[0] for a in AREA_RNG])
    hi = np.array([a[1] for a in AREA_RNG])

    # ground truths that take part, in file order; ignore flags per area range
    g_sel = np.nonzero(gt.eval_mask)[0]
    g_img, g_cat = gt.ann_img[g_sel], gt.ann_cat[g_sel]
    g_box, g_crowd, g_id = gt.ann_box[g_sel], gt.ann_crowd[g_sel], gt.ann_id[g_sel]
    g_area = gt.ann_area[g_sel]
    g_ign = (
        g_crowd[None, :] | (g_area[None, :] < lo[:, None]) | (g_area[None, :] > hi[:, None])
    )  # (A, G)

    # detections that take part: known category; per (image, category) by stable score
    d_sel = np.nonzero(dets.det_cat >= 0)[0]
    d_img, d_cat, d_score = dets.det_img[d_sel], dets.det_cat[d_sel], dets.det_score[d_sel]
    order = np.lexsort((np.arange(len(d_sel)), -d_score, d_cat, d_img))
    d_sel, d_img, d_cat, d_score = d_sel[order], d_img[order], d_cat[order], d_score[order]
    n_img = len(gt.img_ids)
    d_key = d_img * K + d_cat
    new_blk = np.ones(len(d_key), dtype=bool)
    new_blk[1:] = d_key[1:] != d_key[:-1]
    blk_start = np.nonzero(new_blk)[0]
    rank = np.arange(len(d_key)) - np.repeat(blk_start, np.diff(np.append(blk_start, len(d_key))))
    keep = rank < MAX_DETS[-1]
    d_sel, d_img, d_cat, d_score, d_key, rank = (
        x[keep] for x in (d_sel, d_img, d_cat, d_score, d_key, rank)
    )
    d_box = dets.det_box[d_sel]
    d_area = d_box[:, 2] * d_box[:, 3]
    d_out = (d_area[None, :] < lo[:, None]) | (d_area[None, :] > hi[:, None])  # (A, D)
    n_det = len(d_sel)

    # blocks present on both sides
    g_key = g_img * K + g_cat
    g_order = np.argsort(g_key, kind="stable")
    gk_sorted = g_key[g_order]
    ukeys_d, d_start, d_len = np.unique(d_key, return_index=True, return_counts=True)
    ukeys_g, g_start, g_len = np.unique(gk_sorted, return_index=True, return_counts=True)
    common, id_, ig_ = np.intersect1d(ukeys_d, ukeys_g, assume_unique=True, return_indices=True)

    matches = _Matches(n_det)
    di, gi = block_pairs(
        np.arange(n_det), g_order, d_start[id_], d_len[id_], g_start[ig_], g_len[ig_]
    )
    if di.size:
        ious = _pair_iou(d_box[di], g_box[gi], g_crowd[gi])
        if np.isnan(ious).any():
            raise FloatingPointError("NaN IoU")
        cand = ious >= MIN_THR
        cd, cg, cv = di[cand], gi[cand], ious[cand]
        if cd.size:
            _match_candidates(cd, cg, cv, g_crowd, g_ign, d_key, matches)

    # per area range: detection ignore flags, TP/FP
    m = matches.m  # (A, T, D)
    matched = m >= 0
    if len(g_sel):
        safe = np.where(matched, m, 0)
        dtm_zero = ~matched | (g_id[safe] == 0)  # a match to annotation id 0 reads as none
        ign_of_match = matched & g_ign[np.arange(A)[:, None, None], safe]
    else:
        dtm_zero = ~matched
        ign_of_match = np.zeros_like(matched)
    dt_ig = ign_of_match | (dtm_zero & d_out[:, None, :])
    tps = ~dtm_zero & ~dt_ig
    fps = dtm_zero & ~dt_ig

    # accumulate
    precision = -np.ones((T, R, K, A, M))
    recall = -np.ones((T, K, A, M))
    npig = np.zeros((K, A), dtype=np.int64)
    for a in range(A):
        np.add.at(npig[:, a], g_cat[~g_ign[a]], 1)
    acc_order = np.lexsort((rank, d_img, -d_score, d_cat))
    cat_bounds = np.searchsorted(d_cat[acc_order], np.arange(K + 1))
    for k in range(K):
        idx_k = acc_order[cat_bounds[k] : cat_bounds[k + 1]]
        rank_k = rank[idx_k]
        for a in range(A):
            n_pos = int(npig[k, a])
            if n_pos == 0:
                continue
            for mi, max_det in enumerate(MAX_DETS):
                sel = idx_k[rank_k < max_det]
                q, rc = precision_recall(tps[a][:, sel], fps[a][:, sel], n_pos)
                precision[:, :, k, a, mi] = q
                recall[:, k, a, mi] = rc
    stats = summarize(precision, recall)
    return {"stats": stats, "precision": precision, "recall": recall, "n_images": n_img}


def _match_candidates(cd, cg, cv, g_crowd, g_ign, d_key, matches: _Matches) -> None:
    """Fill `matches` from candidate pairs (IoU >= 0.5), see the module docstring."""
    n_d_c = np.bincount(cd, minlength=len(d_key))
    n_g_c = np.bincount(cg, minlength=len(g_crowd))
    simple = (n_d_c[cd] == 1) & (n_g_c[cg] == 1)
    # lone pairs: matched at every threshold the IoU reaches, whatever the area range
    sd, sg, sv = cd[simple], cg[simple], cv[simple]
    if sd.size:
        hit = sv[None, :] >= _THR_ARR[:, None]  # (T, S)
        vals = np.where(hit, sg[None, :], -1)
        matches.m[:, :, sd] = vals[None, :, :]
    # competing candidates: COCOeval's loop, block by block
    blocks = np.unique(d_key[cd[~simple]])
    if blocks.size == 0:
        return
    in_blk = np.isin(d_key[cd], blocks)
    bd, bg, bv = cd[in_blk], cg[in_blk], cv[in_blk]
    o = np.lexsort((bg, bd, d_key[bd]))
    bd, bg, bv = bd[o], bg[o], bv[o]
    keys = d_key[bd]
    cuts = np.nonzero(np.diff(keys))[0] + 1
    for sd_b, sg_b, sv_b in zip(
        np.split(bd, cuts), np.split(bg, cuts), np.split(bv, cuts), strict=True
    ):
        dets_b = np.unique(sd_b)
        gts_b = np.unique(sg_b)  # file order == index order
        ious = np.full((len(dets_b), len(gts_b)), -1.0)
        ious[np.searchsorted(dets_b, sd_b), np.searchsorted(gts_b, sg_b)] = sv_b
        crowd_b = g_crowd[gts_b].tolist()
        cache: dict[tuple, np.ndarray] = {}
        for a in range(A):
            ign = g_ign[a, gts_b]
            sig = tuple(ign.tolist())
            if sig not in cache:
                perm = np.argsort(ign, kind="stable")
                res = greedy_match(ious[:, perm], ign[perm].tolist(), [crowd_b[j] for j in perm])
                cache[sig] = np.where(res >= 0, gts_b[perm][np.maximum(res, 0)], -1)
            matches.m[a][:, dets_b] = cache[sig]


def coco_evaluate(
    gt: dict | str | os.PathLike, results: list | str | os.PathLike
) -> dict[str, Any]:
    """COCO bbox evaluation equal to pycocotools' COCOeval; GT as a dict or path, results as a list or path.

    Returns `{"stats": [12 floats], "AP": …, "AP50": …, …, "ARl": …, "counts": {...}}`.
    Empty results give the stats of an evaluation with no detections.
    """
    g = load_ground_truth(gt)
    d = load_detections(results, g)
    return stats_dict(evaluate_arrays_safe(g, d)["stats"], g, d)


def evaluate_arrays_safe(g: GroundTruth, d: Detections) -> dict[str, Any]:
    """`evaluate_arrays`, or pycocotools itself where IoUs overflow to NaN (coordinates ~1e154)."""
    try:
        return evaluate_arrays(g, d)
    except FloatingPointError:
        from vlmr1_cli.metrics.pycoco import pycocotools_stats

        return {"stats": pycocotools_stats(*_to_coco_dicts(g, d))}


def _to_coco_dicts(g: GroundTruth, d: Detections) -> tuple[dict, list]:
    m = g.eval_mask
    gt = {
        "images": [{"id": i} for i in g.img_ids],
        "categories": [{"id": c} for c in g.cat_ids],
        "annotations": [
            {
                "id": int(g.ann_id[i]),
                "image_id": g.img_ids[g.ann_img[i]],
                "category_id": g.cat_ids[g.ann_cat[i]],
                "bbox": g.ann_box[i].tolist(),
                "area": float(g.ann_area[i]),
                "iscrowd": int(g.ann_crowd[i]),
            }
            for i in np.nonzero(m)[0]
        ],
    }
    res = [
        {
            "image_id": g.img_ids[d.det_img[i]],
            "category_id": g.cat_ids[d.det_cat[i]],
            "bbox": d.det_box[i].tolist(),
            "score": float(d.det_score[i]),
        }
        for i in np.nonzero(d.det_cat >= 0)[0]
    ]
    return gt, res


def stats_dict(stats: np.ndarray, g: GroundTruth, d: Detections) -> dict[str, Any]:
    out: dict[str, Any] = {"stats": [float(s) for s in stats]}
    out.update({name: float(s) for name, s in zip(STAT_NAMES, stats, strict=True)})
    out["counts"] = {"images": len(g.img_ids), "categories": len(g.cat_ids), **g.counts, **d.counts}
    return out

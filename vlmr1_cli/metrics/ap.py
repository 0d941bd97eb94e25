"""COCO-exact AP core: the arithmetic of pycocotools' COCOeval (bbox), vectorised.

Every value here is computed with the same floating-point operations, in the same order, as
pycocotools 2.0.x (`cocoeval.py` and the C `bbIou`), so results agree bit for bit; the
tests check that on randomised sets. What changes is only the bookkeeping:

- IoUs come from one numpy expression per (image, category) block instead of a C loop;
- the greedy matcher visits, for each detection, only the ground truths it could match
  (IoU >= 0.5, the lowest threshold) — every other ground truth is skipped by
  COCOeval's loop too, so the result is the same;
- accumulation runs once per category over arrays, not over per-image dicts.
"""

from __future__ import annotations

import numpy as np

# Parameters exactly as pycocotools builds them (np.linspace, not np.arange).
IOU_THRS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)
REC_THRS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)
MAX_DETS = (1, 10, 100)
AREA_RNG = ((0**2, 1e5**2), (0**2, 32**2), (32**2, 96**2), (96**2, 1e5**2))
AREA_LBL = ("all", "small", "medium", "large")
STAT_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")
# COCOeval compares each IoU with min(t, 1 - 1e-10).
MATCH_THRS = tuple(float(min(t, 1 - 1e-10)) for t in IOU_THRS)
MIN_THR = min(MATCH_THRS)
EPS = np.spacing(1)
T, R = len(IOU_THRS), len(REC_THRS)


def bbox_iou(d: np.ndarray, g: np.ndarray, crowd: np.ndarray | None = None) -> np.ndarray:
    """(D, G) IoU of xywh boxes, operation for operation as pycocotools' C `bbIou`.

    Overlap `fmin(x+w, x'+w') - fmax(x, x')` per axis, 0 when either is <= 0; union
    `da + ga - i`, or the detection's area `da` against a crowd ground truth.
    """
    d = np.asarray(d, dtype=np.float64).reshape(-1, 4)
    g = np.asarray(g, dtype=np.float64).reshape(-1, 4)
    dx, dy, dw, dh = (d[:, k, None] for k in range(4))
    gx, gy, gw, gh = (g[None, :, k] for k in range(4))
    da = dw * dh
    ga = gw * gh
    with np.errstate(all="ignore"):
        w = np.fmin(dw + dx, gw + gx) - np.fmax(dx, gx)
        h = np.fmin(dh + dy, gh + gy) - np.fmax(dy, gy)
        i = w * h
        u = (da + ga) - i
        if crowd is not None and np.any(crowd):
            u = np.where(np.asarray(crowd, dtype=bool)[None, :], da, u)
        o = i / u
    return np.where((w <= 0) | (h <= 0), 0.0, o)


def block_pairs(blk_a: np.ndarray, blk_b: np.ndarray, a_start, a_len, b_start, b_len):
    """All (a, b) index pairs of paired blocks: block i pairs `blk_a[a_start[i]:+a_len[i]]`
    with `blk_b[b_start[i]:+b_len[i]]`, a-major. Returns two index arrays."""
    sizes = a_len * b_len
    total = int(sizes.sum())
    if total == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    blk = np.repeat(np.arange(len(sizes)), sizes)
    offs = np.arange(total) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    bl = b_len[blk]
    ai = blk_a[a_start[blk] + offs // bl]
    bi = blk_b[b_start[blk] + offs % bl]
    return ai, bi


def greedy_match(ious: np.ndarray, gt_ignore: list[bool], gt_crowd: list[bool]) -> list[list[int]]:
    """COCOeval's matcher for one (image, category, area range).

    `ious` is (D, G) with detections in score order and ground truths already sorted with
    ignored ones last; returns, per IoU threshold, the matched ground-truth index of each
    detection or -1. Each detection takes the available ground truth with the highest IoU
    >= t (the later one on ties), preferring non-ignored ones; crowd ground truths stay
    available. `ious` must hold no NaN (callers fall back to pycocotools otherwise).
    """
    n_d = ious.shape[0]
    out = [[-1] * n_d for _ in MATCH_THRS]
    if n_d == 0 or ious.shape[1] == 0:
        return out
    dd, gg = np.nonzero(ious >= MIN_THR)
    if dd.size == 0:
        return out
    vals = ious[dd, gg].tolist()
    cands: dict[int, list[tuple[int, float]]] = {}
    for d_i, g_i, v in zip(dd.tolist(), gg.tolist(), vals, strict=True):
        cands.setdefault(d_i, []).append((g_i, v))
    order = sorted(cands)
    for t_i, thr in enumerate(MATCH_THRS):
        taken: set[int] = set()
        row = out[t_i]
        for d_i in order:
            best = -1
            best_iou = thr
            for g_i, v in cands[d_i]:
                if g_i in taken and not gt_crowd[g_i]:
                    continue
                if best > -1 and not gt_ignore[best] and gt_ignore[g_i]:
                    break
                if v < best_iou:
                    continue
                best_iou = v
                best = g_i
            if best >= 0:
                row[d_i] = best
                taken.add(best)
    return out


def precision_recall(tps: np.ndarray, fps: np.ndarray, npig: int) -> tuple[np.ndarray, np.ndarray]:
    """COCOeval.accumulate for one (category, area, maxDet): (T, R) precision, (T,) recall.

    `tps`/`fps` are (T, n) booleans of the detections in accumulation order.
    """
    n = tps.shape[1]
    tp_sum = np.cumsum(tps, axis=1).astype(dtype=float)
    fp_sum = np.cumsum(fps, axis=1).astype(dtype=float)
    rc = tp_sum / npig
    pr = tp_sum / (fp_sum + tp_sum + EPS)
    q = np.zeros((tps.shape[0], R))
    if n == 0:
        return q, np.zeros(tps.shape[0])
    recall = rc[:, -1].copy()
    # making precision non-increasing from the right copies values, so this is exact
    pr = np.maximum.accumulate(pr[:, ::-1], axis=1)[:, ::-1]
    for t_i in range(tps.shape[0]):
        inds = np.searchsorted(rc[t_i], REC_THRS, side="left")
        ok = inds < n
        q[t_i, ok] = pr[t_i, inds[ok]]
    return q, recall


def _mean_valid(s: np.ndarray) -> float:
    v = s[s > -1]
    return -1.0 if v.size == 0 else float(np.mean(v))


def summarize(precision: np.ndarray, recall: np.ndarray) -> np.ndarray:
    """COCOeval.summarize (bbox): the 12 stats from (T,R,K,A,M) precision, (T,K,A,M) recall."""
    def ap(iou_thr=None, area=0, m=2):
        s = precision
        if iou_thr is not None:
            s = s[np.where(iou_thr == IOU_THRS)[0]]
        return _mean_valid(s[:, :, :, area, m])

    def ar(area=0, m=2):
        return _mean_valid(recall[:, :, area, m])

    stats = np.zeros((12,))
    stats[0] = ap()
    stats[1] = ap(0.5)
    stats[2] = ap(0.75)
    stats[3] = ap(area=1)
    stats[4] = ap(area=2)
    stats[5] = ap(area=3)
    stats[6] = ar(m=0)
    stats[7] = ar(m=1)
    stats[8] = ar()
    stats[9] = ar(area=1)
    stats[10] = ar(area=2)
    stats[11] = ar(area=3)
    return stats


def single_image_ap(
    gt_xywh: list, gt_area: list, gt_cat: list[int], dt_xywh: list, dt_cat: list[int], n_cats: int
) -> tuple[float, float] | None:
    """(AP, AP50) of one image whose detections all score 1.0 and keep their listed order.

    What VLM-R1's `calculate_map` gets from COCOeval: categories 0..n_cats-1, ground-truth
    ids 1..N (no id-0 quirk), no crowd, area range "all", 100 detections per category.
    `gt_area` holds the annotations' `area` values; detection areas are w*h as `loadRes`
    computes them, with Python arithmetic on the given numbers. Returns None when an IoU is
    NaN (non-finite coordinates), where only pycocotools itself defines the result.
    """
    ious_all = bbox_iou(np.array(dt_xywh, dtype=np.float64), np.array(gt_xywh, dtype=np.float64))
    if np.isnan(ious_all).any():
        return None
    lo, hi = AREA_RNG[0]
    precision = -np.ones((T, R, n_cats))
    gt_by_cat: list[list[int]] = [[] for _ in range(n_cats)]
    dt_by_cat: list[list[int]] = [[] for _ in range(n_cats)]
    for g_i, k in enumerate(gt_cat):
        gt_by_cat[k].append(g_i)
    for d_i, k in enumerate(dt_cat):
        if len(dt_by_cat[k]) < MAX_DETS[-1]:
            dt_by_cat[k].append(d_i)
    for k in range(n_cats):
        g_idx, d_idx = gt_by_cat[k], dt_by_cat[k]
        if not g_idx and not d_idx:
            continue
        ign = [bool(gt_area[g] < lo or gt_area[g] > hi) for g in g_idx]
        npig = ign.count(False)
        if npig == 0:
            continue
        order = [j for j in range(len(g_idx)) if not ign[j]] + [j for j in range(len(g_idx)) if ign[j]]
        g_sorted = [g_idx[j] for j in order]
        ign_sorted = [ign[j] for j in order]
        n = len(d_idx)
        tps = np.zeros((T, n), dtype=bool)
        fps = np.zeros((T, n), dtype=bool)
        if n:
            sub = ious_all[np.ix_(d_idx, g_sorted)]
            matches = greedy_match(sub, ign_sorted, [False] * len(g_sorted))
            out_rng = []
            for d in d_idx:
                w, h = dt_xywh[d][2], dt_xywh[d][3]
                a = w * h
                out_rng.append(bool(a < lo or a > hi))
            for t_i, row in enumerate(matches):
                for j, m in enumerate(row):
                    if m >= 0:
                        if not ign_sorted[m]:
                            tps[t_i, j] = True
                    elif not out_rng[j]:
                        fps[t_i, j] = True
        q, _ = precision_recall(tps, fps, npig)
        precision[:, :, k] = q
    ap = _mean_valid(precision)
    ap50 = _mean_valid(precision[np.where(0.5 == IOU_THRS)[0]])
    return ap, ap50

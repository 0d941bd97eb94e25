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
STAT_NAMES = (
    "AP",
    "AP50",
    "AP75",
    "APs",
    "APm",
    "APl",
    "AR1",
    "AR10",
    "AR100",
    "ARs",
    "ARm",
    "ARl",
)
# COCOeval compares each IoU with min(t, 1 - 1e-10).
MATCH_THRS = tuple(float(min(t, 1 - 1e-10)) for t in IOU_THRS)
MIN_THR = min(MATCH_THRS)
MATCH_THR_ARR = np.array(MATCH_THRS)
EPS = np.spacing(1)
T, R = len(IOU_THRS), len(REC_THRS)


def bbox_iou(d: np.ndarray, g: np.ndarray, crowd: np.ndarray | None = None) -> np.ndarray:
    """(D, G) IoU of xywh boxes, operation for operation as pycocotools' C `bbIou`.

    Overlap `fmin(x+w, x'+w') - fmax(x, x')` per axis, 0 when either is <= 0; union
    `da + ga - i`, or the detection's area `da` against a crowd ground truth.
    """
    d = np.asarray(d, dtype=np.float64).reshape(-1, 4)
    g = np.asarray(g, dtype=np.float64).reshape(-1, 4)
    dT, gT = d.T, g.T
    with np.errstate(all="ignore"):
        d_end = (dT[2:] + dT[:2])[:, :, None]  # x+w, y+h
        g_end = (gT[2:] + gT[:2])[:, None, :]
        wh = np.fmin(d_end, g_end) - np.fmax(dT[:2, :, None], gT[:2, None, :])  # (2, D, G)
        w, h = wh[0], wh[1]
        i = w * h
        da = (dT[2] * dT[3])[:, None]
        u = (da + (gT[2] * gT[3])[None, :]) - i
        if crowd is not None and np.any(crowd):
            u = np.where(np.asarray(crowd, dtype=bool)[None, :], da, u)
        o = i / u
    o[(w <= 0) | (h <= 0)] = 0.0
    return o


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


def greedy_match(ious: np.ndarray, gt_ignore: list[bool], gt_crowd: list[bool]) -> np.ndarray:
    """COCOeval's matcher for one (image, category, area range): (T, D) matched GT or -1.

    `ious` is (D, G) with detections in score order and ground truths already sorted with
    ignored ones last. Each detection takes the available ground truth with the highest
    IoU >= t (the later one on ties), preferring non-ignored ones; crowd ground truths stay
    available. Only candidates (IoU >= 0.5, the lowest threshold) are visited: COCOeval
    skips every other ground truth too. A pair that is the only candidate of both its ends
    is matched exactly at the thresholds its IoU reaches. `ious` must hold no NaN (callers
    fall back to pycocotools otherwise); entries < 0.5 (e.g. -1) are never candidates.
    """
    n_d, n_g = ious.shape
    out = np.full((T, n_d), -1, dtype=np.int64)
    if n_d == 0 or n_g == 0:
        return out
    dd, gg = np.nonzero(ious >= MIN_THR)
    if dd.size == 0:
        return out
    vv = ious[dd, gg]
    simple = (np.bincount(dd, minlength=n_d)[dd] == 1) & (np.bincount(gg, minlength=n_g)[gg] == 1)
    if simple.any():
        sd, sg, sv = dd[simple], gg[simple], vv[simple]
        out[:, sd] = np.where(sv[None, :] >= MATCH_THR_ARR[:, None], sg[None, :], -1)
        if simple.all():
            return out
        rest = ~simple
        dd, gg, vv = dd[rest], gg[rest], vv[rest]
    cands: dict[int, list[tuple[int, float]]] = {}
    for d_i, g_i, v in zip(dd.tolist(), gg.tolist(), vv.tolist(), strict=True):
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


def precision_batch(
    tps: np.ndarray, fps: np.ndarray, n_valid: np.ndarray, npig: np.ndarray
) -> np.ndarray:
    """`precision_recall`'s precision for B blocks at once: (B, T, R).

    `tps`/`fps` are (B, T, nmax), block b using its first `n_valid[b]` columns (the rest
    False); `npig[b] > 0`. Same values as pycocotools: recall `rc = tp / npig` takes only
    the values `L_j = j / npig`, so "first i with rc[i] >= r" is "first i where tp reaches
    J(r)", J(r) being the first level with `L_j >= r` (the same float comparison); padding
    repeats the last cumulative counts, which leaves the suffix maxima unchanged.
    """
    B, n_t, nmax = tps.shape
    out = np.zeros((B, n_t, R))
    if nmax == 0 or B == 0:
        return out
    tp_sum = np.cumsum(tps, axis=2).astype(dtype=float)
    fp_sum = np.cumsum(fps, axis=2).astype(dtype=float)
    pr = tp_sum / (fp_sum + tp_sum + EPS)
    pr = np.maximum.accumulate(pr[:, :, ::-1], axis=2)[:, :, ::-1]
    jmax = int(npig.max())
    levels = np.arange(jmax + 1, dtype=np.float64)[None, :] / npig[:, None].astype(np.float64)
    levels[np.arange(jmax + 1)[None, :] > npig[:, None]] = np.inf
    need = (levels[:, :, None] < REC_THRS[None, None, :]).sum(axis=1)  # (B, R): J(r)
    # first column where the cumulative TP count reaches j (j = 0: column 0)
    first = np.full((B, n_t, jmax + 2), nmax, dtype=np.int64)
    first[:, :, 0] = np.where(n_valid > 0, 0, nmax)[:, None]
    b_i, t_i, c_i = np.nonzero(tps)
    j = tp_sum[b_i, t_i, c_i].astype(np.int64)
    first[b_i, t_i, j] = c_i
    rows = np.arange(B * n_t).reshape(B, n_t, 1)
    inds = first.reshape(-1)[rows * (jmax + 2) + need[:, None, :]]  # (B, T, R)
    reached = inds < n_valid[:, None, None]
    vals = pr.reshape(-1)[rows * nmax + np.minimum(inds, nmax - 1)]
    out[reached] = vals[reached]
    return out


def single_image_ap(
    gt_xywh: list, gt_area: list, gt_cat: list[int], dt_xywh: list, dt_cat: list[int], n_cats: int
) -> tuple[float, float] | None:
    """(AP, AP50) of one image whose detections all score 1.0 and keep their listed order.

    What VLM-R1's `calculate_map` gets from COCOeval: categories 0..n_cats-1, ground-truth
    ids 1..N (no id-0 quirk), no crowd, area range "all", 100 detections per category.
    `gt_area` holds the annotations' `area` values; detection areas are w*h as `loadRes`
    computes them, with Python arithmetic on the given numbers. Returns None when an IoU is
    NaN (non-finite coordinates), where only pycocotools itself defines the result.
    Categories never interact, so one matcher pass over the image serves them all.
    """
    lo, hi = AREA_RNG[0]
    # detections: the first 100 of each category, in listed order
    per_cat = [0] * n_cats
    d_keep, d_pos = [], []
    for d_i, k in enumerate(dt_cat):
        if per_cat[k] < MAX_DETS[-1]:
            d_keep.append(d_i)
            d_pos.append(per_cat[k])
            per_cat[k] += 1
    ign = [bool(a < lo or a > hi) for a in gt_area]
    g_order = [g for g in range(len(ign)) if not ign[g]] + [g for g in range(len(ign)) if ign[g]]
    ign_sorted = [ign[g] for g in g_order]
    gt_arr = np.array(gt_xywh, dtype=np.float64)[g_order]
    dt_arr = np.array([dt_xywh[d] for d in d_keep], dtype=np.float64)
    ious = bbox_iou(dt_arr, gt_arr)
    if np.isnan(ious).any():
        return None
    d_cat = np.array([dt_cat[d] for d in d_keep], dtype=np.int64)
    g_cat_sorted = np.array(gt_cat, dtype=np.int64)[g_order]
    ious[d_cat[:, None] != g_cat_sorted[None, :]] = -1.0  # other categories: never candidates
    matches = greedy_match(ious, ign_sorted, [False] * len(g_order))
    m = matches  # (T, D)
    matched = m >= 0
    ign_arr = np.array(ign_sorted + [False], dtype=bool)
    out_rng = np.array(
        [
            bool((dt_xywh[d][2] * dt_xywh[d][3]) < lo or (dt_xywh[d][2] * dt_xywh[d][3]) > hi)
            for d in d_keep
        ],
        dtype=bool,
    )
    tps = matched & ~ign_arr[m]
    fps = ~matched & ~out_rng[None, :]
    npig = np.bincount(
        np.array(gt_cat, dtype=np.int64)[~np.array(ign, dtype=bool)], minlength=n_cats
    )
    valid = np.nonzero(npig > 0)[0]
    precision = -np.ones((T, R, n_cats))
    if valid.size:
        nmax = max(per_cat) if per_cat else 0
        tp_b = np.zeros((n_cats, T, nmax), dtype=bool)
        fp_b = np.zeros((n_cats, T, nmax), dtype=bool)
        pos = np.array(d_pos, dtype=np.int64)
        tp_b[d_cat, :, pos] = tps.T
        fp_b[d_cat, :, pos] = fps.T
        q = precision_batch(tp_b[valid], fp_b[valid], np.array(per_cat)[valid], npig[valid])
        precision[:, :, valid] = q.transpose(1, 2, 0)
    ap = _mean_valid(precision)
    ap50 = _mean_valid(precision[np.where(0.5 == IOU_THRS)[0]])
    return ap, ap50

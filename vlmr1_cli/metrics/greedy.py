"""Greedy precision / recall at IoU 0.5 (docs/metrics.md §5), micro-averaged by default.

Per image, over all (prediction, ground truth) pairs with labels ignored: repeatedly take the
pair of highest continuous IoU (ties: lowest prediction index, then lowest GT index), stop
below the threshold, consume both boxes, and count a true positive only if the labels agree.
Taking the max pair repeatedly is the same as one pass over the pairs sorted that way,
keeping each pair whose two boxes are still free; that pass is what runs here.

Options (both recorded in the output): `per_label=True` matches within each label only
(every match is then a TP), instead of letting wrong-label pairs consume the GT;
`average="image"` averages per-image precision (images with predictions) and recall
(images with GT) instead of pooling the counts.
"""

from __future__ import annotations

import numpy as np

from vlmr1_cli.metrics.ap import block_pairs
from vlmr1_cli.metrics.cocodata import Detections, GroundTruth


def _continuous_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise continuous IoU of paired xywh rows (as `geometry.iou` on xyxy)."""
    ax1, ay1, ax2, ay2 = a[:, 0], a[:, 1], a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx1, by1, bx2, by2 = b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    wx = np.clip(np.minimum(ax2, bx2) - np.maximum(ax1, bx1), 0, None)
    wy = np.clip(np.minimum(ay2, by2) - np.maximum(ay1, by1), 0, None)
    inter = wx * wy
    union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(union > 0, inter / union, 0.0)
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)


def greedy_pr(
    gt: GroundTruth,
    dets: Detections,
    *,
    per_label: bool = False,
    average: str = "micro",
    iou_threshold: float = 0.5,
) -> dict:
    """Greedy precision/recall of `dets` against `gt` (scores are ignored).

    Every detection counts as a prediction (an unknown category is simply never right);
    ground truths are the non-crowd annotations of listed images and categories.
    """
    if average not in ("micro", "image"):
        raise ValueError(f"average must be 'micro' or 'image', got {average!r}")
    n_img = len(gt.img_ids)
    g_sel = np.nonzero(gt.eval_mask & ~gt.ann_crowd)[0]
    g_img = gt.ann_img[g_sel]
    g_order = g_sel[np.argsort(g_img, kind="stable")]
    d_order = np.argsort(dets.det_img, kind="stable")
    ug, g_start, g_len = np.unique(gt.ann_img[g_order], return_index=True, return_counts=True)
    ud, d_start, d_len = np.unique(dets.det_img[d_order], return_index=True, return_counts=True)
    common, ig, id_ = np.intersect1d(ug, ud, assume_unique=True, return_indices=True)
    di, gi = block_pairs(d_order, g_order, d_start[id_], d_len[id_], g_start[ig], g_len[ig])
    tp_img = np.zeros(n_img, dtype=np.int64)
    if di.size:
        v = _continuous_iou(dets.det_box[di], gt.ann_box[gi])
        same = dets.det_cat[di] == gt.ann_cat[gi]
        ok = v >= iou_threshold
        if per_label:
            ok &= same
        di, gi, v, same = di[ok], gi[ok], v[ok], same[ok]
        # indices are global; within an image they follow listing / file order
        order = np.lexsort((gi, di, -v))
        used_d: set[int] = set()
        used_g: set[int] = set()
        imgs = dets.det_img
        for e in order.tolist():
            d, g = int(di[e]), int(gi[e])
            if d in used_d or g in used_g:
                continue
            used_d.add(d)
            used_g.add(g)
            if same[e]:
                tp_img[imgs[d]] += 1
    n_pred_img = np.bincount(dets.det_img, minlength=n_img)
    n_gt_img = (
        np.bincount(gt.ann_img[g_sel], minlength=n_img) if g_sel.size else np.zeros(n_img, np.int64)
    )
    tp, n_pred, n_gt = int(tp_img.sum()), int(n_pred_img.sum()), int(n_gt_img.sum())
    if average == "micro":
        precision = tp / n_pred if n_pred else 0.0
        recall = tp / n_gt if n_gt else 0.0
    else:
        has_p, has_g = n_pred_img > 0, n_gt_img > 0
        precision = float(np.mean(tp_img[has_p] / n_pred_img[has_p])) if has_p.any() else 0.0
        recall = float(np.mean(tp_img[has_g] / n_gt_img[has_g])) if has_g.any() else 0.0
    return {
        "greedy_precision": float(precision),
        "greedy_recall": float(recall),
        "tp": tp,
        "n_pred": n_pred,
        "n_gt": n_gt,
        "iou_threshold": iou_threshold,
        "matching": "per_label" if per_label else "wrong_label_consumes_gt",
        "average": average,
    }

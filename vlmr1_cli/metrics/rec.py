"""REC accuracy: Acc@0.5, Acc at IoU thresholds 0.1 ... 0.9 and averaged over 0.5:0.95,
centre accuracy, mean IoU and the format-failure rate (docs/metrics.md §1, docs/evaluation.md)."""

from __future__ import annotations

from collections.abc import Sequence

from vlmr1_cli.errors import UserError
from vlmr1_cli.geometry import iou, iou_discrete

# Acc@t for t = 0.1 ... 0.9 (lmms-eval's grid), and the COCO-style 0.50:0.95 grid averaged.
# Rounded so that the keys and the comparisons use the literal decimals (0.3, not 0.30000000000000004).
IOU_THRESHOLDS = tuple(round(0.1 * k, 1) for k in range(1, 10))
COCO_THRESHOLDS = tuple(round(0.5 + 0.05 * k, 2) for k in range(10))


def center_inside(pred, gt) -> bool:
    """True when the centre of box `pred` lies inside box `gt` (edges included), both xyxy."""
    cx, cy = (pred[0] + pred[2]) / 2, (pred[1] + pred[3]) / 2
    return min(gt[0], gt[2]) <= cx <= max(gt[0], gt[2]) and min(gt[1], gt[3]) <= cy <= max(
        gt[1], gt[3]
    )


def is_hit(v: float, threshold: float, compat: bool) -> bool:
    """The accuracy rule: IoU >= t (standard), IoU > t (VLM-R1's discrete variant)."""
    return v > threshold if compat else v >= threshold


def rec_scores(preds: Sequence, gts: Sequence, compat: bool = False) -> dict:
    """Accuracy and mean IoU of predicted boxes (None = unparsed) against GT boxes, xyxy.

    Standard: continuous IoU, correct if IoU >= 0.5; an unparsed answer is a miss with IoU 0.
    `compat=True` (VLM-R1): discrete IoU (overlaps of 1 px or less count as 0), correct if
    IoU > 0.5, an unparsed answer scored as the box [0, 0, 0, 0].
    The same rule gives Acc@t at each of IOU_THRESHOLDS (`acc_at_iou`, keyed "0.1" ... "0.9")
    and its mean over COCO_THRESHOLDS (`acc_at_iou_50_95`). `center_acc`: the predicted box's
    centre lies inside the GT box (an unparsed answer is a miss in both variants).
    `format_failure_rate`: the fraction of answers with no box.
    """
    if len(preds) != len(gts):
        raise UserError(f"rec_scores: {len(preds)} predictions for {len(gts)} ground-truth boxes")
    n = len(gts)
    ious: list[float] = []  # one per sample; an unparsed answer scores 0 (standard)
    n_center = 0
    n_unparsed = 0
    for p, g in zip(preds, gts, strict=True):
        if p is None:
            n_unparsed += 1
            if not compat:
                ious.append(0.0)
                continue
            p = (0.0, 0.0, 0.0, 0.0)
        else:
            n_center += center_inside(p, g)  # an unparsed answer has no centre: a miss
        ious.append(iou_discrete(p, g) if compat else iou(p, g))

    def acc(t: float) -> float:
        return sum(is_hit(v, t, compat) for v in ious) / n if n else 0.0

    return {
        "acc": acc(0.5),
        "acc_at_iou": {str(t): acc(t) for t in IOU_THRESHOLDS},
        "acc_at_iou_50_95": sum(acc(t) for t in COCO_THRESHOLDS) / len(COCO_THRESHOLDS),
        "center_acc": n_center / n if n else 0.0,
        "mean_iou": sum(ious) / n if n else 0.0,
        "format_failure_rate": n_unparsed / n if n else 0.0,
        "n": n,
        "n_unparsed": n_unparsed,
        "iou": "discrete" if compat else "continuous",
        "correct_if": "iou > 0.5" if compat else "iou >= 0.5",
    }

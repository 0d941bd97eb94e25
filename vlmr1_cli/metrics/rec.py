"""REC accuracy: Acc@0.5 and mean IoU (metrics.md §1)."""

from __future__ import annotations

from collections.abc import Sequence

from vlmr1_cli.errors import UserError
from vlmr1_cli.geometry import iou, iou_discrete


def rec_scores(preds: Sequence, gts: Sequence, compat: bool = False) -> dict:
    """Accuracy and mean IoU of predicted boxes (None = unparsed) against GT boxes, xyxy.

    Standard: continuous IoU, correct if IoU >= 0.5; an unparsed answer is a miss with IoU 0.
    `compat=True` (VLM-R1): discrete IoU (overlaps of 1 px or less count as 0), correct if
    IoU > 0.5, an unparsed answer scored as the box [0, 0, 0, 0].
    """
    if len(preds) != len(gts):
        raise UserError(f"rec_scores: {len(preds)} predictions for {len(gts)} ground-truth boxes")
    n = len(gts)
    correct = 0
    total_iou = 0.0
    n_unparsed = 0
    for p, g in zip(preds, gts, strict=True):
        if p is None:
            n_unparsed += 1
            if not compat:
                continue
            p = (0.0, 0.0, 0.0, 0.0)
        v = iou_discrete(p, g) if compat else iou(p, g)
        total_iou += v
        correct += (v > 0.5) if compat else (v >= 0.5)
    return {
        "acc": correct / n if n else 0.0,
        "mean_iou": total_iou / n if n else 0.0,
        "n": n,
        "n_unparsed": n_unparsed,
        "iou": "discrete" if compat else "continuous",
        "correct_if": "iou > 0.5" if compat else "iou >= 0.5",
    }

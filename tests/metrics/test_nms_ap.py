"""OVDEval NMS-AP: identical to the literal per-image algorithm followed by pycocotools."""

from __future__ import annotations

import random

import numpy as np
import pytest

from vlmr1_cli.metrics.coco import coco_evaluate
from vlmr1_cli.metrics.nms_ap import nms_ap_evaluate
from vlmr1_cli.metrics.pycoco import pycocotools_stats, reference_gt_anchored_nms


@pytest.mark.parametrize("seed", range(3))
def test_random_sets_identical_to_reference(coco_set, seed):
    rng = random.Random(100 + seed)
    for _ in range(15):
        gt, res = coco_set(
            rng,
            rng.randint(1, 15),
            rng.randint(1, 5),
            ties=rng.random() < 0.5,
            dense=rng.random() < 0.4,
        )
        if rng.random() < 0.3:  # integer and mixed scores: the argsort runs on int64 arrays
            for r in res:
                r["score"] = rng.choice([1, 2, 0.5, 1.0])
        if rng.random() < 0.3:
            for r in res:
                r["bbox"] = [int(v) for v in r["bbox"]]
        if rng.random() < 0.1:  # huge coordinates: the per-image exact path
            for r in res[:3]:
                r["bbox"] = [2**25 + 3, 2**25, 2**25 + 7, 9]
        ours = nms_ap_evaluate(gt, res)
        kept = reference_gt_anchored_nms(gt, res)
        assert ours["stats"] == pycocotools_stats(gt, kept).tolist()
        assert ours["counts"]["detections_after_nms"] == len(kept)
        assert ours["nms_ap"] == ours["stats"][0] == ours["AP"]


def _toy(scores, ids=(1, 2)):
    gt = {
        "images": [{"id": 1}, {"id": 2}],
        "categories": [{"id": 1, "name": "red car"}, {"id": 2, "name": "blue car"}],
        "annotations": [
            {
                "id": ids[0],
                "image_id": 1,
                "category_id": 1,
                "bbox": [0, 0, 10, 10],
                "area": 100,
                "iscrowd": 0,
            },
            {
                "id": ids[1],
                "image_id": 2,
                "category_id": 2,
                "bbox": [0, 0, 10, 10],
                "area": 100,
                "iscrowd": 0,
            },
        ],
    }
    res = [
        {"image_id": i, "category_id": c, "bbox": [0, 0, 10, 10], "score": s}
        for i in (1, 2)
        for c, s in zip((1, 2), scores, strict=True)
    ]
    return gt, res


def test_toy_check_from_metrics_md():
    gt, res = _toy((0.9, 0.8))
    assert coco_evaluate(gt, res)["AP"] == pytest.approx(0.75)
    assert nms_ap_evaluate(gt, res)["nms_ap"] == pytest.approx(0.50)
    gt, res = _toy((1.0, 1.0))  # all tied: the last-listed candidate ("blue car") wins
    out = nms_ap_evaluate(gt, res)
    assert out["nms_ap"] == pytest.approx(0.25)
    assert out["counts"]["detections_after_nms"] == 2


def test_strict_threshold_and_untouched_predictions():
    gt, _ = _toy((1.0, 1.0))
    # IoU exactly 0.5 with the GT is not a candidate; a prediction on no GT is untouched
    half = {"image_id": 1, "category_id": 1, "bbox": [0, 0, 20, 10], "score": 0.4}
    far = {"image_id": 1, "category_id": 1, "bbox": [50, 50, 10, 10], "score": 0.3}
    best = {"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.9}
    out = nms_ap_evaluate(gt, [half, far, best])
    assert out["counts"]["detections_after_nms"] == 3
    dup = {**best, "score": 0.8}
    out = nms_ap_evaluate(gt, [half, far, best, dup])
    assert out["counts"]["detections_after_nms"] == 3


def test_empty_results_give_zeros():
    gt, _ = _toy((1.0, 1.0))
    out = nms_ap_evaluate(gt, [])
    assert out["nms_ap"] == 0.0
    assert out["stats"] == pycocotools_stats(gt, []).tolist()
    assert np.isfinite(out["stats"]).all()


def test_mixed_score_ties_use_numpys_argsort():
    # four predictions on one GT, scores [1.0, 1.0, 0.5, 0.5] in listing order: whichever
    # the same numpy call ranks first survives (docs/metrics.md §3: no simple rule)
    gt = {
        "images": [{"id": 1}],
        "categories": [{"id": 1}, {"id": 2}, {"id": 3}, {"id": 4}],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 1,
                "bbox": [0, 0, 10, 10],
                "area": 100,
                "iscrowd": 0,
            }
        ],
    }
    res = [
        {"image_id": 1, "category_id": c, "bbox": [0, 0, 10, 10], "score": s}
        for c, s in zip((1, 2, 3, 4), (1.0, 1.0, 0.5, 0.5), strict=True)
    ]
    winner = int(np.argsort(np.array([1.0, 1.0, 0.5, 0.5]))[::-1][0])
    kept = reference_gt_anchored_nms(gt, res)
    assert [r["category_id"] for r in kept] == [winner + 1]
    out = nms_ap_evaluate(gt, res)
    assert out["counts"]["detections_after_nms"] == 1
    assert out["nms_ap"] == pytest.approx(1.0 if winner == 0 else 0.0)

"""COCO mAP: bit-identical to pycocotools on random sets, and every quirk of docs/metrics.md §2."""

from __future__ import annotations

import random

import numpy as np
import pytest

from vlmr1_cli.errors import UserError
from vlmr1_cli.metrics.ap import STAT_NAMES
from vlmr1_cli.metrics.coco import coco_evaluate
from vlmr1_cli.metrics.pycoco import pycocotools_stats


@pytest.mark.parametrize("seed", range(4))
def test_random_sets_identical_to_pycocotools(coco_set, seed):
    rng = random.Random(seed)
    for _ in range(12):
        gt, res = coco_set(
            rng,
            rng.randint(1, 25),
            rng.randint(1, 6),
            ties=rng.random() < 0.4,
            dense=rng.random() < 0.3,
        )
        if rng.random() < 0.1:
            res = []
        ours = np.array(coco_evaluate(gt, res)["stats"])
        assert np.array_equal(ours, pycocotools_stats(gt, res)), (ours, pycocotools_stats(gt, res))


def _box_gt(ids=(1, 2), cats=({"id": 1},)):
    return {
        "images": [{"id": 1}, {"id": 2}],
        "categories": list(cats),
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
                "category_id": 1,
                "bbox": [0, 0, 10, 10],
                "area": 100,
                "iscrowd": 0,
            },
        ],
    }


TP = {"category_id": 1, "bbox": [0, 0, 10, 10], "score": 1.0}
FP = {"category_id": 1, "bbox": [50, 50, 10, 10], "score": 1.0}


def _on(img, det):
    return {**det, "image_id": img}


@pytest.mark.parametrize(
    "results, expected",
    [
        ([_on(1, FP), _on(1, TP), _on(2, TP)], 0.6667),  # FP,TP | TP
        ([_on(1, TP), _on(1, FP), _on(2, TP)], 0.8350),  # TP,FP | TP
        ([_on(1, TP), _on(2, TP), _on(2, FP)], 1.0),  # TP | TP,FP
        ([_on(2, TP), _on(2, FP), _on(1, TP)], 1.0),  # listing image 2 first changes nothing
    ],
)
def test_score_ties_order_by_image_then_listing(results, expected):
    out = coco_evaluate(_box_gt(), results)
    assert out["AP"] == pytest.approx(expected, abs=5e-5)
    assert out["stats"] == pycocotools_stats(_box_gt(), results).tolist()


def test_category_without_gt_is_excluded():
    gt = _box_gt(cats=({"id": 1}, {"id": 7}))
    res = [_on(1, TP), _on(2, TP), {**_on(1, FP), "category_id": 7}]
    assert coco_evaluate(gt, res)["AP"] == 1.0


def test_annotation_id_zero_quirk():
    res = [_on(1, TP), _on(2, TP)]
    assert coco_evaluate(_box_gt(ids=(0, 1)), res)["AP"] == pytest.approx(0.2525, abs=5e-5)
    assert coco_evaluate(_box_gt(ids=(1, 2)), res)["AP"] == 1.0
    assert (
        coco_evaluate(_box_gt(ids=(0, 1)), res)["stats"]
        == pycocotools_stats(_box_gt(ids=(0, 1)), res).tolist()
    )


def test_max_dets_keeps_first_listed_on_ties():
    gt = _box_gt()
    # 100 tied false positives listed before the true positive on image 1: it is cut
    res = [_on(1, FP)] * 100 + [_on(1, TP)]
    out = coco_evaluate(gt, res)
    assert out["stats"] == pycocotools_stats(gt, res).tolist()
    assert out["AR100"] == 0.0


def test_area_ranges_use_the_area_field():
    gt = _box_gt()
    gt["annotations"][0]["area"] = 5000.0  # a 10x10 box declared medium
    out = coco_evaluate(gt, [_on(1, TP), _on(2, TP)])
    assert out["APm"] == pytest.approx(1.0) and out["APs"] == pytest.approx(1.0)
    assert out["stats"] == pycocotools_stats(gt, [_on(1, TP), _on(2, TP)]).tolist()


def test_empty_results_give_no_detection_stats():
    out = coco_evaluate(_box_gt(), [])
    # all GT are small: 0 where the range has GT, -1 where it has none
    assert out["stats"] == [0.0, 0.0, 0.0, 0.0, -1.0, -1.0, 0.0, 0.0, 0.0, 0.0, -1.0, -1.0]
    assert out["stats"] == pycocotools_stats(_box_gt(), []).tolist()
    assert list(out)[:13] == ["stats", *STAT_NAMES]


def test_bad_inputs_are_user_errors():
    with pytest.raises(UserError, match="item 0: image_id 9 is not an image"):
        coco_evaluate(_box_gt(), [_on(9, TP)])
    with pytest.raises(UserError, match=r"item 1: missing 'score'"):
        coco_evaluate(
            _box_gt(), [_on(1, TP), {"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1]}]
        )
    with pytest.raises(UserError, match=r"item 0: 'bbox' must be a list of 4"):
        coco_evaluate(_box_gt(), [{**_on(1, TP), "bbox": [0, 0, 1]}])
    with pytest.raises(UserError, match=r"'score' must be a finite number"):
        coco_evaluate(_box_gt(), [{**_on(1, TP), "score": float("nan")}])
    bad = _box_gt(ids=(1, 1))
    with pytest.raises(UserError, match=r"annotations\[1\]: duplicate annotation id 1"):
        coco_evaluate(bad, [])
    with pytest.raises(UserError, match="key 'images' must be a list"):
        coco_evaluate({"annotations": []}, [])


def test_unknown_category_detections_are_counted_not_scored():
    res = [_on(1, TP), _on(2, TP), {**_on(1, TP), "category_id": 99}]
    out = coco_evaluate(_box_gt(), res)
    assert out["AP"] == 1.0
    assert out["counts"]["detections_unknown_category"] == 1

"""score_files: the contract's scoring mode over files."""

from __future__ import annotations

import json
import random

import pytest

from vlmr1_cli.errors import UserError
from vlmr1_cli.metrics.pycoco import pycocotools_stats, reference_gt_anchored_nms
from vlmr1_cli.metrics.scoring import score_files


def _write(tmp_path, name, obj):
    p = tmp_path / name
    p.write_text(json.dumps(obj))
    return p


def test_each_metric(tmp_path, coco_set):
    gt, res = coco_set(random.Random(3), 12, 3, ties=True)
    g, r = _write(tmp_path, "gt.json", gt), _write(tmp_path, "res.json", res)
    coco = score_files(g, r, "coco")
    assert coco["metric"] == "coco"
    assert coco["stats"] == pycocotools_stats(gt, res).tolist()
    assert [
        coco[k]
        for k in (
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
    ] == coco["stats"]
    nms = score_files(g, r, "nms-ap")
    assert nms["metric"] == "nms-ap"
    assert nms["stats"] == pycocotools_stats(gt, reference_gt_anchored_nms(gt, res)).tolist()
    assert nms["nms_ap"] == nms["stats"][0]
    gp = score_files(g, r, "greedy_pr", average="image")
    assert gp["metric"] == "greedy-pr" and gp["average"] == "image"
    assert 0.0 <= gp["greedy_precision"] <= 1.0 and 0.0 <= gp["greedy_recall"] <= 1.0
    json.dumps([coco, nms, gp])  # JSON-serialisable


def test_empty_results(tmp_path, coco_set):
    gt, _ = coco_set(random.Random(4), 5, 2)
    g, r = _write(tmp_path, "gt.json", gt), _write(tmp_path, "res.json", [])
    for metric in ("coco", "nms-ap"):
        assert score_files(g, r, metric)["stats"] == pycocotools_stats(gt, []).tolist()
    assert score_files(g, r, "greedy-pr")["greedy_precision"] == 0.0


def test_errors_name_file_and_item(tmp_path):
    gt = {"images": [{"id": 1}], "categories": [{"id": 1}], "annotations": []}
    g = _write(tmp_path, "gt.json", gt)
    bad = tmp_path / "bad.json"
    bad.write_text("[{")
    with pytest.raises(UserError, match="bad.json:1: invalid JSON"):
        score_files(g, bad, "coco")
    r = _write(
        tmp_path,
        "res.json",
        [
            {"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1},
            {"image_id": 1, "category_id": 1, "bbox": [0, 0, 1], "score": 1},
        ],
    )
    with pytest.raises(UserError, match=r"res.json: item 1: 'bbox'"):
        score_files(g, r, "coco")
    with pytest.raises(UserError, match=r"did you mean 'nms-ap'"):
        score_files(g, r, "nmsap")
    with pytest.raises(UserError, match="has no option"):
        score_files(g, r, "coco", average="image")
    with pytest.raises(UserError, match="file not found"):
        score_files(tmp_path / "none.json", r, "coco")
    notdict = _write(tmp_path, "list.json", [])
    with pytest.raises(UserError, match="list.json: expected a COCO object"):
        score_files(notdict, r, "coco")

"""Scoring mode refuses inputs pycocotools would score quietly wrong, naming the file and item:
negative GT widths/heights and areas, duplicate image/category/annotation ids, non-finite or
out-of-range numbers, detections with a negative width or height (vlmr1's evaluation never
writes one: tests/evaluate/test_coco_results.py)."""

from __future__ import annotations

import copy
import json
import random
import subprocess
import sys

import pytest

from vlmr1_cli.errors import UserError
from vlmr1_cli.metrics.pycoco import pycocotools_stats
from vlmr1_cli.metrics.scoring import METRICS, score_files

from .conftest import make_coco_set

GT = {
    "images": [{"id": 1}, {"id": 2}],
    "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
    "annotations": [
        {
            "id": 1,
            "image_id": 1,
            "category_id": 1,
            "bbox": [10, 10, 20, 20],
            "area": 400,
            "iscrowd": 0,
        },
        {
            "id": 2,
            "image_id": 2,
            "category_id": 2,
            "bbox": [5, 5, 30, 30],
            "area": 900,
            "iscrowd": 0,
        },
    ],
}
RESULTS = [
    {"image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20], "score": 0.9},
    {"image_id": 2, "category_id": 2, "bbox": [5, 5, 30, 30], "score": 0.8},
]


def _files(tmp_path, gt, results, gt_text=None, results_text=None):
    g, r = tmp_path / "gt.json", tmp_path / "res.json"
    g.write_text(gt_text if gt_text is not None else json.dumps(gt))
    r.write_text(results_text if results_text is not None else json.dumps(results))
    return g, r


def _gt_with(change) -> dict:
    gt = copy.deepcopy(GT)
    change(gt)
    return gt


BAD_GT = {
    "negative width": (
        lambda g: g["annotations"][1]["bbox"].__setitem__(2, -30),
        r"gt.json: annotations\[1\]: 'bbox' \[5, 5, -30, 30\] has a negative width or height",
    ),
    "negative height": (
        lambda g: g["annotations"][0]["bbox"].__setitem__(3, -0.5),
        r"gt.json: annotations\[0\]: 'bbox' .* negative width or height",
    ),
    "negative area": (
        lambda g: g["annotations"][0].__setitem__("area", -400),
        r"gt.json: annotations\[0\]: 'area' must be a finite number >= 0",
    ),
    "duplicate image id": (
        lambda g: g["images"].append({"id": 1}),
        r"gt.json: images\[2\]: duplicate id 1 \(first at images\[0\]\)",
    ),
    "duplicate category id": (
        lambda g: g["categories"].append({"id": 2, "name": "c"}),
        r"gt.json: categories\[2\]: duplicate id 2 \(first at categories\[1\]\)",
    ),
    "duplicate string image id": (
        lambda g: g["images"].extend([{"id": "x"}, {"id": "x"}]),
        r"gt.json: images\[3\]: duplicate id 'x'",
    ),
    "annotation id over 64 bits": (
        lambda g: g["annotations"][0].__setitem__("id", 2**63),
        r"gt.json: annotations\[0\]: needs an integer 'id' that fits 64 bits",
    ),
    "image id over 64 bits": (
        lambda g: g["images"][0].__setitem__("id", -(2**63) - 1),
        r"gt.json: images\[0\]: needs an integer \(64-bit\) or string 'id'",
    ),
    "box value too large for a float": (
        lambda g: g["annotations"][0]["bbox"].__setitem__(2, 10**400),
        r"gt.json: annotations\[0\]: 'bbox' must be .* got \[10, 10, an "
        r"integer of 1329 bits, 20\]",
    ),
    "box value over 1e12": (
        lambda g: g["annotations"][0]["bbox"].__setitem__(0, 2e12),
        r"gt.json: annotations\[0\]: 'bbox' must be .* magnitude at most 1e\+12",
    ),
}


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("case", list(BAD_GT))
def test_bad_ground_truth_is_refused_naming_the_item(tmp_path, case, metric):
    change, message = BAD_GT[case]
    g, r = _files(tmp_path, _gt_with(change), RESULTS)
    with pytest.raises(UserError, match=message):
        score_files(g, r, metric)


def test_negative_gt_width_would_move_the_ap(tmp_path):
    """Why it is refused: pycocotools counts the box as a GT that nothing can match."""
    bad = _gt_with(BAD_GT["negative width"][0])
    assert pycocotools_stats(GT, RESULTS)[0] == pytest.approx(1.0)
    assert pycocotools_stats(bad, RESULTS)[0] < 0.6


BAD_RESULTS = {
    "NaN score": ('"score": 0.9', '"score": NaN', "'score' must be a finite number .* got nan"),
    "infinite score": (
        '"score": 0.9',
        '"score": 1e400',
        "'score' must be a finite number .* got inf",
    ),
    "huge integer score": (
        '"score": 0.9',
        '"score": 1' + "0" * 400,
        "'score' must be a finite number .* got an integer of 1329 bits",
    ),
    "NaN box": (
        '"bbox": [10, 10, 20, 20]',
        '"bbox": [10, NaN, 20, 20]',
        "'bbox' must be a list of 4 finite",
    ),
    "infinite box": (
        '"bbox": [10, 10, 20, 20]',
        '"bbox": [10, 10, -Infinity, 20]',
        "'bbox' must be a list",
    ),
    "huge integer box": (
        '"bbox": [10, 10, 20, 20]',
        '"bbox": [10, 10, 20, 1' + "0" * 30 + "]",
        r"'bbox' must be .* magnitude at most 1e\+12",
    ),
}


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("case", list(BAD_RESULTS))
def test_bad_results_are_refused_naming_the_item(tmp_path, case, metric):
    old, new, message = BAD_RESULTS[case]
    text = json.dumps(RESULTS)
    assert old in text
    g, r = _files(tmp_path, GT, None, results_text=text.replace(old, new, 1))
    with pytest.raises(UserError, match="res.json: item 0: " + message):
        score_files(g, r, metric)


def test_huge_image_id_in_results_is_named_by_size(tmp_path):
    results = [{**RESULTS[0], "image_id": 10**1000}]
    g, r = _files(tmp_path, GT, results)
    with pytest.raises(
        UserError, match=r"item 0: image_id an integer of 3322 bits is not an image"
    ):
        score_files(g, r, "coco")


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("side", [2, 3])
def test_inverted_detections_are_refused_naming_the_item(tmp_path, metric, side):
    """COCO results are [x, y, w, h] with w, h >= 0: pycocotools would ignore such a box, or
    count it as a false positive when both sides are negative, without a word."""
    gt, res = make_coco_set(random.Random(5), 10, 3)
    res[4]["bbox"][side] = -abs(res[4]["bbox"][side]) - 1
    g, r = _files(tmp_path, gt, res)
    with pytest.raises(
        UserError, match=r"res.json: item 4: 'bbox' .* has a negative width or height"
    ):
        score_files(g, r, metric)
    res[4]["bbox"][side] = 0  # a zero-width box is a valid (empty) box
    g, r = _files(tmp_path, gt, res)
    assert score_files(g, r, "coco")["stats"] == pycocotools_stats(gt, res).tolist()


def test_cli_prints_one_line_and_exits_1(tmp_path):
    g, r = _files(tmp_path, _gt_with(BAD_GT["duplicate category id"][0]), RESULTS)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "vlmr1_cli",
            "evaluate",
            "--gt",
            str(g),
            "--results",
            str(r),
            "--metric",
            "coco",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"error: {g}: categories[2]: duplicate id 2 (first at categories[1])"
    ]

"""Scoring mode (`vlmr1 evaluate --gt --results --metric`): broken files, COCO items that would
move the metric silently (negative widths, duplicate ids, NaN), results that cannot be scored,
and outputs that are not folders. Perfect detections must score exactly 1."""

from __future__ import annotations

import json

import pytest

from tests.hostile import checks as C
from tests.hostile.harness import Case, Dir, error, ok, params
from tests.hostile.inputs import BIG_INT, HUGE_INT, bad_json, coco_gt, coco_results, dumps, named

GT, RES = "gt.json", "results.json"
SCORE = ("evaluate", "--gt", GT, "--results", RES, "--json")


def _score(metric: str = "coco") -> tuple[str, ...]:
    return (*SCORE, "--metric", metric)


def _files(gt=None, results=None) -> dict:
    return {
        GT: gt if isinstance(gt, str) else dumps(gt if gt is not None else coco_gt()),
        RES: results
        if isinstance(results, str)
        else dumps(results if results is not None else coco_results()),
    }


def _ann(i: int, **over) -> dict:
    a = {
        "id": i,
        "image_id": 1,
        "category_id": 1,
        "bbox": [10, 10, 30, 20],
        "area": 600,
        "iscrowd": 0,
    }
    a.update(over)
    return a


def _gt_with_ann(**over) -> dict:
    gt = coco_gt()
    gt["annotations"][0].update(over)
    return gt


def _raw_gt_bbox(text: str) -> str:
    """A GT whose first bbox is `text` verbatim (NaN, 1e999, huge integers)."""
    return dumps(coco_gt()).replace("[10, 10, 30, 20]", text, 1)


def _raw_score(text: str) -> str:
    return dumps(coco_results()).replace("0.9", text, 1)


CASES: list[Case] = [
    # the right answers: perfect detections score 1 with every metric
    ok("score/coco-perfect", _score("coco"), _files(), check=C.json_value("AP", 1.0)),
    ok("score/nms-ap-perfect", _score("nms-ap"), _files(), check=C.json_value("nms_ap", 1.0)),
    ok(
        "score/greedy-perfect",
        _score("greedy-pr"),
        _files(),
        check=C.json_value("greedy_precision", 1.0),
    ),
    ok(
        "score/empty-results-score-0",
        _score("greedy-pr"),
        _files(results=[]),
        check=C.json_value("greedy_recall", 0.0),
    ),
    # an annotation of a category the GT does not list is counted, not scored silently
    ok(
        "score/gt-unknown-category-counted",
        _score(),
        _files(gt=_gt_with_ann(category_id="cat")),
        check=C.holds(
            lambda r: C.stdout_json(r)["counts"]["annotations_unknown_category"] == 1,
            "an annotation of an unknown category went uncounted",
            loss=True,
        ),
    ),
    ok(
        "score/output-folder-created",
        (*_score(), "-o", "out/deeper"),
        _files(),
        check=lambda r: json.loads((r.folder / "out/deeper/metrics.json").read_text()),
    ),
    # scoring needs its three options, and only them
    error(
        "score/only-gt", ("evaluate", "--gt", GT), _files(), match="--gt, --results and --metric"
    ),
    error("score/unknown-metric", (*SCORE, "--metric", "banana"), _files(), match="--metric"),
    error("score/mixed-with-model", (*_score(), "--model", "x"), _files(), match="two modes"),
    error(
        "score/output-is-a-file",
        (*_score(), "-o", "taken"),
        {**_files(), "taken": "x"},
        match="taken",
    ),
    error("score/output-dash", (*_score(), "-o", "-"), _files(), match="--output"),
    error(
        "score/output-under-a-file",
        (*_score(), "-o", "taken/sub"),
        {**_files(), "taken": "x"},
        match="taken",
    ),
    error(
        "score/same-file-twice",
        ("evaluate", "--gt", GT, "--results", GT, "--metric", "coco"),
        _files(),
        match=named(GT),
    ),
]

# every broken-file variant, for both inputs
for variant, content in bad_json(GT, wrong_type="[1, 2, 3]"):
    files = _files()
    if content is None:
        del files[GT]
    else:
        files[GT] = content
    CASES.append(error(f"score/gt-{variant}", _score(), files, match=named(GT)))
for variant, content in bad_json(RES, wrong_type='{"image_id": 1}'):
    files = _files()
    if content is None:
        del files[RES]
    else:
        files[RES] = content
    CASES.append(error(f"score/results-{variant}", _score(), files, match=named(RES)))

# ground-truth items that would move the metric without a word
GT_ITEMS = {
    "negative-width": _gt_with_ann(bbox=[10, 10, -30, 20]),
    "negative-height": _gt_with_ann(bbox=[10, 10, 30, -20]),
    "bbox-3-numbers": _gt_with_ann(bbox=[10, 10, 30]),
    "bbox-strings": _gt_with_ann(bbox=["10", "10", "30", "20"]),
    "bbox-bools": _gt_with_ann(bbox=[True, True, True, True]),
    "bbox-null": _gt_with_ann(bbox=None),
    "bbox-missing": {
        **coco_gt(),
        "annotations": [{k: v for k, v in _ann(1).items() if k != "bbox"}],
    },
    "bbox-nested": _gt_with_ann(bbox=[[10, 10], [30, 20]]),
    "bbox-huge": _gt_with_ann(bbox=[10, 10, 1e300, 20]),
    "area-negative": _gt_with_ann(area=-5),
    "iscrowd-2": _gt_with_ann(iscrowd=2),
    "iscrowd-string": _gt_with_ann(iscrowd="no"),
    "duplicate-image-id": {
        **coco_gt(),
        "images": [{"id": 1, "width": 100, "height": 80}, {"id": 1, "width": 50, "height": 50}],
    },
    "duplicate-category-id": {
        **coco_gt(),
        "categories": [{"id": 1, "name": "cat"}, {"id": 1, "name": "dog"}],
    },
    "duplicate-annotation-id": {**coco_gt(), "annotations": [_ann(1), _ann(1, image_id=2)]},
    "ann-id-missing": {
        **coco_gt(),
        "annotations": [{k: v for k, v in _ann(1).items() if k != "id"}],
    },
    "ann-id-float": {**coco_gt(), "annotations": [_ann(1.5)]},
    "ann-id-bool": {**coco_gt(), "annotations": [_ann(True)]},
    "image-id-null": {**coco_gt(), "images": [{"id": None, "width": 100, "height": 80}]},
    "image-id-mixed-types": {
        **coco_gt(),
        "images": [{"id": 1, "width": 100, "height": 80}, {"id": "2", "width": 100, "height": 80}],
    },
    "image-id-over-64-bits": {**coco_gt(), "images": [{"id": 2**70, "width": 100, "height": 80}]},
    "images-not-a-list": {**coco_gt(), "images": {"id": 1}},
    "annotations-null": {**coco_gt(), "annotations": None},
    "categories-missing": {k: v for k, v in coco_gt().items() if k != "categories"},
    "annotation-not-an-object": {**coco_gt(), "annotations": [[1, 2, 3]]},
}
for name, gt in GT_ITEMS.items():
    CASES.append(error(f"score/gt-{name}", _score(), _files(gt=gt), match=named(GT)))
for name, text in {
    "bbox-nan": "[10, 10, NaN, 20]",
    "bbox-inf": "[10, 10, Infinity, 20]",
    "bbox-1e999": "[10, 10, 1e999, 20]",
    "bbox-big-int": f"[10, 10, {BIG_INT}, 20]",
    "bbox-huge-int": f"[10, 10, {HUGE_INT}, 20]",
}.items():
    CASES.append(
        error(f"score/gt-{name}", _score(), _files(gt=_raw_gt_bbox(text)), match=named(GT))
    )
# a negative width must be refused by every metric, not scored
for metric in ("nms-ap", "greedy-pr"):
    CASES.append(
        error(
            f"score/gt-negative-width-{metric}",
            _score(metric),
            _files(gt=_gt_with_ann(bbox=[10, 10, -30, 20])),
            match=named(GT),
        )
    )

# results that cannot be scored
RESULT_ITEMS = {
    "unknown-image": coco_results(
        {"image_id": 99, "category_id": 1, "bbox": [1, 1, 5, 5], "score": 0.5}
    ),
    "negative-width": coco_results(
        {"image_id": 1, "category_id": 1, "bbox": [1, 1, -5, 5], "score": 0.5}
    ),
    "score-string": coco_results(
        {"image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5], "score": "high"}
    ),
    "score-missing": coco_results({"image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5]}),
    "score-bool": coco_results(
        {"image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5], "score": True}
    ),
    "bbox-missing": coco_results({"image_id": 1, "category_id": 1, "score": 0.5}),
    "bbox-strings": coco_results(
        {"image_id": 1, "category_id": 1, "bbox": ["1", 1, 5, 5], "score": 0.5}
    ),
    "item-not-an-object": [*coco_results(), "detection"],
    "image-id-string": coco_results(
        {"image_id": "1", "category_id": 1, "bbox": [1, 1, 5, 5], "score": 0.5}
    ),
}
for name, results in RESULT_ITEMS.items():
    CASES.append(
        error(f"score/results-{name}", _score(), _files(results=results), match=named(RES))
    )
for name, text in {
    "score-nan": "NaN",
    "score-inf": "Infinity",
    "score-neg-inf": "-Infinity",
    "score-1e999": "1e999",
    "score-big-int": BIG_INT,
    "score-huge-int": HUGE_INT,
}.items():
    CASES.append(
        error(f"score/results-{name}", _score(), _files(results=_raw_score(text)), match=named(RES))
    )
CASES.append(
    error(
        "score/results-as-gt-folder",
        (*SCORE[:2], "gtdir", *SCORE[3:], "--metric", "coco"),
        {**_files(), "gtdir": Dir()},
        match="gtdir",
    )
)


@pytest.mark.parametrize("case", params(CASES))
def test_scoring(case, hostile):
    hostile.run(case)

"""OVD scoring in `vlmr1 evaluate --model` validates the ground truth and the predictions once,
and gives the numbers scoring mode gives on the files it writes."""

from __future__ import annotations

import pytest

from vlmr1_cli.evaluate.scoring import score_detection, score_ovdeval
from vlmr1_cli.metrics import coco, cocodata, nms_ap
from vlmr1_cli.metrics.scoring import score_files


def _records(subset: str | None = None) -> list[dict]:
    recs = []
    for i in range(3):
        r = {
            "id": f"o{i}",
            "task": "ovd",
            "images": [f"{i}.png"],
            "image_sizes": [[100, 80]],
            "problem": "",
            "labels": ["cat", "dog"],
            "_line": i + 1,
            "solution": [
                {"bbox_2d": [10.0 * i, 5.0, 10.0 * i + 30, 40.0], "label": "cat"},
                {"bbox_2d": [50.0, 20.0, 90.0, 70.0], "label": "dog"},
            ],
        }
        if subset:
            r["subset"] = subset
        recs.append(r)
    return recs


def _preds(records: list[dict]) -> dict[str, dict]:
    preds = {}
    for k, r in enumerate(records):
        objects = [
            {"bbox_2d": [o["bbox_2d"][0] + k, *o["bbox_2d"][1:]], "label": o["label"]}
            for o in r["solution"][: 1 + k % 2]
        ]
        objects.append({"bbox_2d": [0.0, 0.0, 5.0, 5.0], "label": "unicorn"})  # no such category
        preds[r["id"]] = {"parsed": True, "objects": objects}
    return preds


@pytest.fixture
def load_counts(monkeypatch):
    counts = {"gt": 0, "dets": 0}
    real_gt, real_dets = cocodata.load_ground_truth, cocodata.load_detections

    def gt(*args, **kwargs):
        counts["gt"] += 1
        return real_gt(*args, **kwargs)

    def dets(*args, **kwargs):
        counts["dets"] += 1
        return real_dets(*args, **kwargs)

    for module in (cocodata, coco, nms_ap):  # wherever a loader is bound to a name
        monkeypatch.setattr(module, "load_ground_truth", gt)
        monkeypatch.setattr(module, "load_detections", dets)
    return counts


def test_detection_reads_each_input_once_and_matches_scoring_mode(tmp_path, load_counts):
    records = _records()
    m = score_detection(records, _preds(records), tmp_path, tmp_path / "data.jsonl")
    assert load_counts == {"gt": 1, "dets": 1}
    load_counts.update(gt=0, dets=0)
    assert m["n_dropped_unknown_label"] == 3 and m["gt_file"] == "gt.json"
    files = score_files(tmp_path / "gt.json", tmp_path / "results.json", "coco")
    assert m["stats"] == files["stats"] and 0 < m["AP"] < 1
    greedy = score_files(tmp_path / "gt.json", tmp_path / "results.json", "greedy-pr")
    # results.json holds the known-label boxes only; greedy P/R in evaluation counts the
    # unknown-label ones as wrong predictions, so precision is lower by exactly that
    assert m["greedy_recall"] == greedy["greedy_recall"]
    assert m["greedy_counts"]["n_pred"] == greedy["n_pred"] + 3


def test_ovdeval_reads_each_subset_once_and_matches_scoring_mode(tmp_path, load_counts):
    records = _records("celebrity") + [
        {**r, "id": r["id"] + "b", "subset": "logo"} for r in _records()
    ]
    m = score_ovdeval(records, _preds(records), tmp_path, tmp_path / "data.jsonl")
    assert load_counts == {"gt": 2, "dets": 2}
    load_counts.update(gt=0, dets=0)
    for name in ("celebrity", "logo"):
        files = score_files(
            tmp_path / f"gt-{name}.json", tmp_path / f"results-{name}.json", "nms-ap"
        )
        assert m["subsets"][name]["nms_ap"] == files["nms_ap"]

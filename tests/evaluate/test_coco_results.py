"""OVD predictions -> COCO GT and results lists."""

from __future__ import annotations

import json

import pytest

from vlmr1_cli.errors import UserError
from vlmr1_cli.evaluate.coco_results import coco_gt_from_records, coco_results, records_coco
from vlmr1_cli.io import iter_jsonl


def _records(path):
    return [{**r, "_line": n} for n, r in iter_jsonl(path)]


def test_gt_built_from_records():
    recs = [
        {
            "id": "a",
            "images": ["a.png"],
            "image_sizes": [[10, 20]],
            "labels": ["x", "y"],
            "solution": [{"bbox_2d": [1, 2, 4, 8], "label": "y"}],
        },
        {
            "id": "b",
            "images": ["b.png"],
            "image_sizes": [[30, 40]],
            "labels": ["z"],
            "solution": [
                {"bbox_2d": [0, 0, 1, 1], "label": "w"},
                {"bbox_2d": [2, 2, 3, 5], "label": "x"},
            ],
        },
    ]
    gt = coco_gt_from_records(recs)
    assert gt.coco["categories"] == [
        {"id": 1, "name": "x"},
        {"id": 2, "name": "y"},
        {"id": 3, "name": "z"},
        {"id": 4, "name": "w"},
    ]
    assert gt.image_ids == {"a": 1, "b": 2}
    assert [a["id"] for a in gt.coco["annotations"]] == [1, 2, 3]  # never id 0
    assert gt.coco["annotations"][0] == {
        "id": 1,
        "image_id": 1,
        "category_id": 2,
        "bbox": [1, 2, 3, 6],
        "area": 18,
        "iscrowd": 0,
    }
    assert gt.coco["images"][1] == {"id": 2, "width": 30, "height": 40, "file_name": "b.png"}


def test_results_keep_order_drop_unknown_labels_and_score_one(eval_data):
    recs = _records(eval_data["coco"])
    gt = records_coco(recs, eval_data["coco"])
    preds = {r["id"]: {"objects": []} for r in recs}
    preds["coco-1"] = {
        "objects": [
            {"bbox_2d": [1, 2, 5, 10], "label": "red car"},
            {"bbox_2d": [0, 0, 1, 1], "label": "horse"},
            {"bbox_2d": [3, 3, 4, 4], "label": "cat"},
            {"bbox_2d": [3, 3, 4, 4], "label": "horse"},
        ]
    }
    res = coco_results(recs, preds, gt)
    assert res.results == [
        {"image_id": 2, "category_id": 5, "bbox": [1, 2, 4, 8], "score": 1.0},
        {"image_id": 2, "category_id": 1, "bbox": [3, 3, 1, 1], "score": 1.0},
    ]
    assert len(res.every) == 4 and res.dropped_labels == {"horse": 2}
    assert res.every[1] == {"image_id": 2, "category_id": None, "bbox": [0, 0, 1, 1], "score": 1.0}


def test_gt_file_restricted_to_evaluated_images(eval_data):
    recs = _records(eval_data["coco"])
    full = json.loads((eval_data["coco"].parent / "coco_gt.json").read_text())
    gt = records_coco(recs[1:2], eval_data["coco"])
    assert gt.total_images == len(full["images"]) == 3
    assert [i["id"] for i in gt.coco["images"]] == [2]
    assert {a["image_id"] for a in gt.coco["annotations"]} == {2}
    assert gt.coco["categories"] == full["categories"]
    assert gt.source.endswith("coco_gt.json")


def test_gt_file_problems_name_the_record(eval_data, tmp_path):
    recs = _records(eval_data["coco"])
    recs[1]["image_id"] = 999
    with pytest.raises(UserError, match=r"coco.jsonl:2: image_id 999 is not in .*coco_gt.json"):
        records_coco(recs, eval_data["coco"])
    recs = _records(eval_data["coco"])
    recs[2]["gt_file"] = "other.json"
    with pytest.raises(
        UserError,
        match=r"coco.jsonl:3: key 'gt_file': records scored together must name one GT file",
    ):
        records_coco(recs, eval_data["coco"])
    recs = [{**r, "gt_file": "missing.json"} for r in _records(eval_data["coco"])]
    with pytest.raises(UserError, match=r"coco.jsonl:1: key 'gt_file': file not found"):
        records_coco(recs, eval_data["coco"])


def test_gt_file_is_confined_to_the_data_folder(eval_data, tmp_path):
    """A record cannot make evaluation read a file outside the data file's folder: not by an
    absolute path, not by climbing with `..`, not through a symlink pointing out."""
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    gt_text = (eval_data["coco"].parent / "coco_gt.json").read_text()
    outside = tmp_path / "outside.json"
    outside.write_text(gt_text)  # a valid GT: refused for where it is, not for what it holds
    (data / "sub" / "gt.json").write_text(gt_text)
    (data / "out-link.json").symlink_to(outside)
    (data / "in-link.json").symlink_to(data / "sub" / "gt.json")
    jsonl = data / "coco.jsonl"
    jsonl.write_text(eval_data["coco"].read_text())
    recs = _records(jsonl)
    for bad in (str(outside), "../outside.json", "sub/../../outside.json", "out-link.json"):
        with pytest.raises(
            UserError,
            match=rf"coco.jsonl:1: key 'gt_file': '{bad}' is not a file "
            r"inside the data file's folder",
        ):
            records_coco([{**r, "gt_file": bad} for r in recs], jsonl)
    for good in ("sub/gt.json", "in-link.json", str(data / "sub" / "gt.json")):
        gt = records_coco([{**r, "gt_file": good} for r in recs], jsonl)
        assert gt.total_images == 3 and gt.source == str((data / "sub" / "gt.json").resolve())


def test_inverted_boxes_are_left_out_counted_and_the_folder_rescores(eval_data, tmp_path):
    """A model's inverted box (x2 < x1) is no COCO box: dropped from results.json and the mAP,
    counted; the mAP equals pycocotools' on the raw detections (which ignores such a box, its
    area being negative), `evaluate --gt --results` re-scores the folder to the same stats,
    and greedy P/R still counts the box as a wrong prediction."""
    from vlmr1_cli.evaluate.scoring import score_detection
    from vlmr1_cli.metrics.pycoco import pycocotools_stats
    from vlmr1_cli.metrics.scoring import score_files

    recs = _records(eval_data["coco"])
    gt_path = eval_data["coco"].parent / "coco_gt.json"
    gt = json.loads(gt_path.read_text())
    names = {c["id"]: c["name"] for c in gt["categories"]}
    preds, raw = {}, []
    for r in recs:
        objs = []
        for a in (a for a in gt["annotations"] if a["image_id"] == r["image_id"]):
            x, y, w, h = a["bbox"]
            objs.append({"bbox_2d": [x, y, x + w, y + h], "label": names[a["category_id"]]})
            raw.append(
                {
                    "image_id": r["image_id"],
                    "category_id": a["category_id"],
                    "bbox": [x, y, w, h],
                    "score": 1.0,
                }
            )
        x, y, w, h = gt["annotations"][0]["bbox"]
        objs.append(
            {"bbox_2d": [x + w, y, x, y + h], "label": names[gt["annotations"][0]["category_id"]]}
        )
        raw.append(
            {
                "image_id": r["image_id"],
                "category_id": gt["annotations"][0]["category_id"],
                "bbox": [x + w, y, -w, h],
                "score": 1.0,
            }
        )
        preds[r["id"]] = {"parsed": True, "objects": objs}
    m = score_detection(recs, preds, tmp_path, eval_data["coco"])
    assert m["n_dropped_inverted_box"] == len(recs)
    written = json.loads((tmp_path / "results.json").read_text())
    assert all(d["bbox"][2] >= 0 and d["bbox"][3] >= 0 for d in written)
    assert len(written) == len(raw) - len(recs)
    assert m["stats"] == pytest.approx(pycocotools_stats(gt, raw).tolist())
    again = score_files(tmp_path / m.get("gt_file", gt_path), tmp_path / "results.json", "coco")
    assert again["stats"] == m["stats"]
    assert m["greedy_counts"]["n_pred"] == len(raw) and m["greedy_precision"] < 1.0

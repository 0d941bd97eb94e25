"""Every task scored end to end with known completions (a scripted generator stands in for
the model): prompt -> completion -> parser -> original pixels -> COCO files -> metrics,
checked against pycocotools run directly on the expected detections."""

from __future__ import annotations

import json

import pytest

from vlmr1_cli.evaluate.runner import EvalOptions, evaluate
from vlmr1_cli.io import iter_jsonl
from vlmr1_cli.metrics.pycoco import pycocotools_stats

from .conftest import oracle_answer


def _records(path):
    return [r for _, r in iter_jsonl(path)]


def _run(tiny_model, data, out, **opts):
    return evaluate(
        str(tiny_model), data, out, opts=EvalOptions(batch_size=2, max_new_tokens=4, **opts)
    )


def test_rec_known_completions(tiny_model, eval_data, tmp_path, scripted):
    def answer(row):
        if row["id"] == "r4":
            return "I cannot see it."
        if row["id"] == "r5":
            return '<answer>{"bbox_2d": [0, 0, 3, 3]}</answer>'
        sol = json.loads(row["solution_json"])
        box = json.dumps([round(v) for v in sol])
        return '<think>t</think><answer>{"bbox_2d": ' + box + "}</answer>"

    scripted(answer)
    m = _run(tiny_model, eval_data["rec"], tmp_path / "o")
    assert m["task"] == "rec" and m["n"] == 6 and m["n_unparsed"] == 1
    assert m["acc"] == pytest.approx(4 / 6) and m["acc_vlmr1_compat"] == pytest.approx(4 / 6)
    assert m["primary"] == m["acc"] and m["primary_name"] == "acc"
    assert set(m["by_split"]) == {"refcoco val", "lisa test"}
    assert m["by_split"]["refcoco val"]["acc"] == 1.0 and m["by_split"]["lisa test"]["acc"] == 0.0
    assert 0.8 < m["by_split"]["refcoco val"]["mean_iou"] <= 1.0
    preds = {p["id"]: p for p in _records(tmp_path / "o" / "predictions.jsonl")}
    assert preds["r4"] == {
        "id": "r4",
        "completion": "I cannot see it.",
        "parsed": False,
        "box": None,
        "box_vlmr1": None,
    }
    gt = {r["id"]: r["solution"] for r in _records(eval_data["rec"])}
    assert preds["r0"]["box"] == pytest.approx(gt["r0"], abs=1.5)  # back in original pixels
    m2 = _run(tiny_model, eval_data["rec"], tmp_path / "o2", compat=True)
    assert m2["primary_name"] == "acc_vlmr1_compat" and m2["iou_variant"] == "vlmr1-compat"


@pytest.mark.parametrize("task", ["coco", "d3", "ovd"])
def test_detection_perfect_answers_score_one(tiny_model, eval_data, tmp_path, scripted, task):
    scripted(oracle_answer)
    m = _run(tiny_model, eval_data[task], tmp_path / task)
    assert m["task"] == task
    assert m["AP"] == pytest.approx(1.0) and m["AP50"] == pytest.approx(1.0)
    assert m["greedy_precision"] == 1.0 and m["greedy_recall"] == 1.0
    assert m["n_unparsed"] == 0 and m["n_dropped_unknown_label"] == 0
    assert len(m["stats"]) == 12 and m["primary"] == m["AP"]
    assert (tmp_path / task / "results.json").is_file()
    # generic OVD data has no GT file: one is built from the records and written beside
    assert (tmp_path / task / "gt.json").is_file() == (task == "ovd")


def test_coco_mixed_answers_match_pycocotools(tiny_model, eval_data, tmp_path, scripted):
    """Missing boxes, a wrong label, an unknown label and an unparseable answer."""
    recs = _records(eval_data["coco"])

    def answer(row):
        sol = json.loads(row["solution_json"])
        if row["id"] == "coco-0":
            sol = [
                {**sol[0], "label": "dog" if sol[0]["label"] != "dog" else "cat"},
                {**sol[1], "label": "zebra"},
            ]
        elif row["id"] == "coco-1":
            sol = sol[:1]
        else:
            return '```json [{"bbox_2d": [1, 2'
        return "<answer>```json\n" + json.dumps(sol) + "\n```</answer>"

    scripted(answer)
    m = _run(tiny_model, eval_data["coco"], tmp_path / "o")
    assert (
        m["n_unparsed"] == 1
        and m["n_dropped_unknown_label"] == 1
        and m["unknown_labels"] == {"zebra": 1}
    )
    gt = json.loads((eval_data["coco"].parent / "coco_gt.json").read_text())
    cat = {c["name"]: c["id"] for c in gt["categories"]}

    def det(rec, k, label):
        x1, y1, x2, y2 = rec["solution"][k]["bbox_2d"]
        return {
            "image_id": rec["image_id"],
            "category_id": cat[label],
            "bbox": [x1, y1, x2 - x1, y2 - y1],
            "score": 1.0,
        }

    wrong = "dog" if recs[0]["solution"][0]["label"] != "dog" else "cat"
    expected = [det(recs[0], 0, wrong), det(recs[1], 0, recs[1]["solution"][0]["label"])]
    ref = pycocotools_stats(gt, expected)
    assert m["stats"] == pytest.approx(list(ref), abs=1e-6)
    # greedy: 3 boxes predicted (the unknown label counts), 1 right, 6 GT boxes
    assert m["greedy_precision"] == pytest.approx(1 / 3) and m["greedy_recall"] == pytest.approx(
        1 / 6
    )


def test_ovdeval_table_and_five_group_average(tiny_model, eval_data, tmp_path, scripted):
    scripted(oracle_answer)
    m = _run(tiny_model, eval_data["ovdeval"], tmp_path / "o")
    assert m["task"] == "ovdeval"
    assert list(m["subsets"]) == [
        "celebrity",
        "logo",
        "landmark",
        "color",
        "material",
        "position",
        "relationship",
        "negation",
    ]
    for name, sub in m["subsets"].items():
        gt = json.loads((eval_data["ovdeval"].parent / f"{name}_gt.json").read_text())
        results = json.loads((tmp_path / "o" / f"results-{name}.json").read_text())
        # one prediction per GT box, none overlapping another GT: the NMS keeps them all, so
        # NMS-AP is plain COCOeval AP (below 1: the GT annotation id 0 quirk)
        assert sub["nms_ap"] == pytest.approx(pycocotools_stats(gt, results)[0], abs=1e-9)
        assert sub["nms_ap"] < 1.0
    v = {k: s["nms_ap"] for k, s in m["subsets"].items()}
    five = (
        sum(v[k] for k in ("celebrity", "logo", "landmark")) / 3
        + (v["color"] + v["material"]) / 2
        + v["position"]
        + v["relationship"]
        + v["negation"]
    ) / 5
    assert m["nms_ap_5group"] == pytest.approx(five) and m["primary_name"] == "nms_ap_5group"
    assert m["nms_ap_mean"] == pytest.approx(sum(v.values()) / 8)

    from vlmr1_cli.report.tables import summary_table

    title, cols, rows = summary_table(m)
    assert cols[1:4] == ["celeb", "logo", "landm"] and cols[-1] == "overall (5-group)"
    assert rows[0][-1] == f"{100 * five:.2f}"


def test_coco_label_modes_change_the_prompt(tiny_model, eval_data, tmp_path, scripted):
    gen = scripted(lambda row: "<answer>None</answer>")
    seen = {}
    orig = gen.generate

    def capture(rows):
        seen.update({r["id"]: r["text"] for r in rows})
        return orig(rows)

    gen.generate = capture
    _run(
        tiny_model,
        eval_data["coco"],
        tmp_path / "pos",
        labels="positive",
        template="Detect: {labels}",
    )
    assert "Detect: ['cat', 'dog']" in seen["coco-0"]
    _run(tiny_model, eval_data["coco"], tmp_path / "all", labels="all", template="Detect: {labels}")
    assert "Detect: ['cat', 'dog', 'red car']" in seen["coco-0"]

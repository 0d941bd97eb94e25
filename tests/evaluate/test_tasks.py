"""Task detection, label modes, and reading answers back into original pixels."""

from __future__ import annotations

import pytest

from vlmr1_cli.errors import UserError
from vlmr1_cli.evaluate.tasks import read_answer, resolve_task, set_query_labels
from vlmr1_cli.models.qwen2_5_vl import Qwen25VL


def _ovd(i, **extra):
    return {
        "id": str(i),
        "task": "ovd",
        "_line": i + 1,
        "labels": ["a", "b"],
        "images": ["x.png"],
        "solution": [{"bbox_2d": [0, 0, 1, 1], "label": "b"}],
        **extra,
    }


def test_task_from_records():
    assert resolve_task([{"task": "rec", "_line": 1, "images": ["x.png"]}], None, "f") == "rec"
    assert resolve_task([_ovd(0, source="coco")], None, "f") == "coco"
    assert resolve_task([_ovd(0, source="d3")], None, "f") == "d3"
    assert resolve_task([_ovd(0, source="ovdeval", subset="logo")], None, "f") == "ovdeval"
    assert resolve_task([_ovd(0, source="mine")], None, "f") == "ovd"
    assert resolve_task([_ovd(0, source="coco"), _ovd(1, source="d3")], None, "f") == "ovd"
    assert resolve_task([_ovd(0, source="coco")], "d3", "f") == "d3"


def test_wrong_task_is_one_clear_error():
    with pytest.raises(
        UserError, match=r"data.jsonl: --task coco needs 'ovd' records, this file holds 'rec'"
    ):
        resolve_task([{"task": "rec", "_line": 1, "images": ["x.png"]}], "coco", "data.jsonl")
    with pytest.raises(UserError, match=r"--task rec needs 'rec' records"):
        resolve_task([_ovd(0)], "rec", "data.jsonl")
    with pytest.raises(UserError, match=r"data.jsonl:2: --task ovdeval needs a 'subset' key"):
        resolve_task([_ovd(1, source="coco")], "ovdeval", "data.jsonl")
    with pytest.raises(UserError, match="choose one of"):
        resolve_task([_ovd(0)], "lvis", "data.jsonl")
    with pytest.raises(UserError, match="mixes tasks"):
        resolve_task(
            [_ovd(0), {"task": "rec", "_line": 2, "images": ["x.png"]}], None, "data.jsonl"
        )
    with pytest.raises(UserError, match=r"data.jsonl:3: a 'rec' record needs an image"):
        resolve_task([{"task": "rec", "_line": 3, "images": []}], None, "data.jsonl")
    with pytest.raises(UserError, match="task 'text' cannot be evaluated"):
        resolve_task([{"task": "text", "_line": 1}], None, "data.jsonl")


def test_label_modes():
    recs = [
        _ovd(0),
        {
            **_ovd(1),
            "solution": [
                {"bbox_2d": [0, 0, 1, 1], "label": "c"},
                {"bbox_2d": [0, 0, 2, 2], "label": "a"},
                {"bbox_2d": [0, 0, 3, 3], "label": "c"},
            ],
        },
    ]
    set_query_labels(recs, "positive", ["a", "b", "c"])
    assert [r["labels"] for r in recs] == [["b"], ["c", "a"]]
    set_query_labels(recs, "all", ["a", "b", "c"])
    assert recs[1]["labels"] == ["a", "b", "c"]
    with pytest.raises(UserError, match="--labels 'some'"):
        set_query_labels(recs, "some", [])


ROW = {"image_sizes": [[640, 480]], "input_sizes": [[644, 476]]}


def test_rec_answer_mapped_back_to_original_pixels():
    fam = Qwen25VL()
    out = read_answer("rec", '<answer>{"bbox_2d": [322, 119, 644, 476]}</answer>', ROW, fam)
    assert out["parsed"] is True
    assert out["box"] == pytest.approx([320.0, 120.0, 640.0, 480.0], abs=1e-3)
    assert out["box_vlmr1"] == out["box"]
    # decimals: the tolerant reader takes them, VLM-R1's integer-only regex does not
    out = read_answer("rec", '<answer>{"bbox_2d": [322.0, 119, 644, 476]}</answer>', ROW, fam)
    assert out["box"] is not None and out["box_vlmr1"] is None


def test_unparseable_answers_are_misses_not_errors():
    fam = Qwen25VL()
    for text in ("", "garbage ]]}{", "<answer>[1, 2, 3]</answer>", "x" * 10000):
        assert read_answer("rec", text, ROW, fam) == {
            "parsed": False,
            "box": None,
            "box_vlmr1": None,
        }
        assert read_answer("coco", text, ROW, fam) == {"parsed": False, "objects": []}


def test_ovd_answer_objects_and_none():
    fam = Qwen25VL()
    text = '<answer>```json\n[{"bbox_2d": [0, 0, 322, 238], "label": "cat"}, {"bbox_2d": [1, 1, 2, 2]}]\n```</answer>'
    out = read_answer("d3", text, ROW, fam)
    assert out["parsed"] is True
    assert out["objects"][0] == {
        "bbox_2d": pytest.approx([0, 0, 320, 240], abs=1e-3),
        "label": "cat",
    }
    assert out["objects"][1]["label"] == ""
    assert read_answer("ovdeval", "<think>no</think><answer> None. </answer>", ROW, fam) == {
        "parsed": True,
        "objects": [],
    }
    assert read_answer("ovdeval", "none of them", ROW, fam)["parsed"] is False

from __future__ import annotations

import json

import pytest

from vlmr1_cli.data.ovdeval import convert_ovdeval
from vlmr1_cli.errors import UserError

from .conftest import read_jsonl
from .fixtures import ovdeval_subset


def _write(folder, name, data=None):
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / f"{name}.json"
    p.write_text(json.dumps(data or ovdeval_subset(name)))
    return p


def test_category_subsets_query_all_names(tmp_path):
    f = _write(tmp_path / "ovdeval", "celebrity")
    out = tmp_path / "o.jsonl"
    convert_ovdeval([f], out)
    recs = read_jsonl(out)
    assert [r["id"] for r in recs] == ["celebrity-0", "celebrity-1"]
    for r in recs:
        assert r["labels"] == ["Tom Hanks", "Taylor Swift", "Keanu Reeves"]
        assert r["subset"] == "celebrity" and r["gt_file"] == "ovdeval/celebrity.json"
    assert recs[0]["image_id"] == 0  # ids start at 0, kept as in the GT file
    assert recs[1]["solution"] == [{"bbox_2d": [50.0, 60.0, 120.0, 140.0], "label": "Taylor Swift"},
                                   {"bbox_2d": [300.0, 60.0, 370.0, 140.0], "label": "Keanu Reeves"}]


def test_attribute_subsets_query_text_plus_neg_text(tmp_path):
    files = [_write(tmp_path, "negation"), _write(tmp_path, "logo")]
    out = tmp_path / "o.jsonl"
    s = convert_ovdeval(files, out)
    recs = {r["id"]: r for r in read_jsonl(out)}
    assert recs["negation-0"]["labels"] == ["computer with screen on", "computer without screen on"]
    assert recs["negation-1"]["labels"] == ["computer without screen on", "computer with screen on"]
    # the dog box's category is not queried on that image: out of solution, counted, GT untouched
    assert [o["label"] for o in recs["negation-1"]["solution"]] == ["computer without screen on"]
    assert s.skipped == {"box: category not among the queried labels (still in the GT file)": 1}
    assert {r["subset"] for r in recs.values()} == {"negation", "logo"} and s.written == 4


def test_gt_file_scores_with_pycocotools(tmp_path):
    from pycocotools.coco import COCO

    f = _write(tmp_path, "color")
    out = tmp_path / "o.jsonl"
    convert_ovdeval([f], out)
    coco = COCO(str(tmp_path / read_jsonl(out)[0]["gt_file"]))
    names = {c["name"]: c["id"] for c in coco.dataset["categories"]}
    for r in read_jsonl(out):
        assert r["image_id"] in coco.imgs
        assert all(o["label"] in names for o in r["solution"])


def test_subset_override_and_missing_text(tmp_path):
    data = ovdeval_subset("material")
    del data["images"][1]["neg_text"]
    f = _write(tmp_path, "mine", data)
    with pytest.raises(UserError, match=r"mine.json: images\[1\] \(id=1\): key 'neg_text' missing"):
        convert_ovdeval([f], tmp_path / "o.jsonl", subset="material")
    # a category subset does not need text / neg_text
    convert_ovdeval([f], tmp_path / "o.jsonl", subset="landmark")
    assert read_jsonl(tmp_path / "o.jsonl")[0]["subset"] == "landmark"

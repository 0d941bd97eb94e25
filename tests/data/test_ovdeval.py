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
    assert not (tmp_path / "o_gt.json").exists()  # the GT lies below the output's folder: no copy
    assert recs[0]["image_id"] == 0  # ids start at 0, kept as in the GT file
    assert recs[1]["solution"] == [
        {"bbox_2d": [50.0, 60.0, 120.0, 140.0], "label": "Taylor Swift"},
        {"bbox_2d": [300.0, 60.0, 370.0, 140.0], "label": "Keanu Reeves"},
    ]


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


def test_subset_file_outside_the_output_folder_is_copied_beside_it(tmp_path):
    # the README's flow: evaluate reads gt_file only in the JSONL's folder or below
    f = _write(tmp_path / "ovdeval", "negation")
    f.write_text(json.dumps(ovdeval_subset("negation"), indent=2))  # formatting is not content
    out = tmp_path / "data" / "ovdeval_negation.jsonl"
    s = convert_ovdeval([f], out)
    assert {r["gt_file"] for r in read_jsonl(out)} == {"ovdeval_negation_gt.json"}
    copy = tmp_path / "data" / "ovdeval_negation_gt.json"
    assert json.loads(copy.read_text()) == ovdeval_subset("negation")
    assert s.outputs["gt"] == str(copy)
    assert s.notes["GT copied beside the output (gt_file must lie in the output's folder)"] == 1


def test_several_files_copy_each_outside_subset_under_its_name(tmp_path):
    inside = _write(tmp_path / "data" / "ovdeval", "logo")
    outside = [_write(tmp_path / "ovdeval", "negation"), _write(tmp_path / "ovdeval", "color")]
    out = tmp_path / "data" / "o.jsonl"
    s = convert_ovdeval([inside, *outside], out)
    gt_files = {r["subset"]: r["gt_file"] for r in read_jsonl(out)}
    assert gt_files == {
        "logo": "ovdeval/logo.json",
        "negation": "o_negation_gt.json",
        "color": "o_color_gt.json",
    }
    for name in ("negation", "color"):
        assert json.loads((tmp_path / "data" / f"o_{name}_gt.json").read_text()) == ovdeval_subset(
            name
        )
    assert set(s.outputs) == {"records", "meta", "gt negation", "gt color"}


def test_link_inside_the_folder_to_a_gt_outside_is_copied(tmp_path):
    # evaluate resolves links before confining gt_file, so the importer does too
    real = _write(tmp_path / "elsewhere", "negation")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "negation.json").symlink_to(real)
    out = tmp_path / "data" / "o.jsonl"
    convert_ovdeval([tmp_path / "data" / "negation.json"], out)
    assert read_jsonl(out)[0]["gt_file"] == "o_gt.json"
    assert not (tmp_path / "data" / "o_gt.json").is_symlink()


def test_an_unrelated_file_in_the_copy_place_is_not_overwritten(tmp_path):
    f = _write(tmp_path / "ovdeval", "negation")
    out = tmp_path / "data" / "o.jsonl"
    (tmp_path / "data").mkdir()
    theirs = tmp_path / "data" / "o_gt.json"
    theirs.write_text('{"mine": true}\n')
    with pytest.raises(
        UserError, match=r"o_gt.json: exists and is not a GT copy written for .*o.jsonl"
    ):
        convert_ovdeval([f], out)
    assert theirs.read_text() == '{"mine": true}\n'
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["o_gt.json"]  # nothing written
    # a file that already holds the same GT is replaced (same content)
    theirs.write_text(json.dumps(ovdeval_subset("negation"), indent=4))
    convert_ovdeval([f], out)
    assert json.loads(theirs.read_text()) == ovdeval_subset("negation")
    # the copy an earlier conversion to this output wrote (its meta file lists it) is refreshed
    # when the source changed since
    changed = ovdeval_subset("negation")
    changed["annotations"].pop()
    f.write_text(json.dumps(changed))
    convert_ovdeval([f], out)
    assert json.loads(theirs.read_text()) == changed

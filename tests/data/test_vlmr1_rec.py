from __future__ import annotations

import json

import pytest

from vlmr1_cli.data.vlmr1_rec import bare_expression, convert_vlmr1_rec
from vlmr1_cli.errors import UserError

from .conftest import read_jsonl
from .fixtures import make_image, vlmr1_eval_items, vlmr1_train_lines


def test_eval_file_imported_unchanged(tmp_path):
    f = tmp_path / "refcoco_val.json"
    f.write_text(json.dumps(vlmr1_eval_items()))
    out = tmp_path / "o.jsonl"
    s = convert_vlmr1_rec([f], out)
    recs = read_jsonl(out)
    assert [r["id"] for r in recs] == ["0", "1"]
    r = recs[0]
    assert r["problem"] == "the lady with the blue shirt"
    assert r["solution"] == [103.93, 299.99, 238.15, 477.41]
    assert r["images"] == ["train2014/COCO_train2014_000000581857.jpg"] and r["image_sizes"] == [
        [427, 640]
    ]
    assert r["image_id"] == 581857 and r["original_id"] == 12
    assert recs[1]["problem"] == "bowl of broccoli"  # no normal_caption: instruction stripped
    assert s.notes["bbox_list = solution - 1 on x2,y2 (the documented convention)"] == 2
    assert s.notes["normalized_solution matches int(solution / size * 1000)"] == 2
    assert s.notes["instruction prefix removed from the problem"] == 1


def test_training_jsonl_reads_sizes_from_images(tmp_path):
    root = tmp_path / "images"
    make_image(root / "imgs" / "a.jpg", 320, 240)
    make_image(root / "imgs" / "b.jpg", 64, 48)
    f = tmp_path / "refcoco_train.jsonl"
    f.write_text("".join(json.dumps(x) + "\n" for x in vlmr1_train_lines()))
    out = tmp_path / "t.jsonl"
    convert_vlmr1_rec([f], out, image_root=root)
    recs = read_jsonl(out)
    assert [(r["id"], r["problem"], r["solution"], r["image_sizes"]) for r in recs] == [
        ("t0", "the red mug on the left", [10.0, 20.0, 110.0, 220.0], [[320, 240]]),
        ("t1", "a chair", [0.5, 1.5, 30.0, 40.0], [[64, 48]]),
    ]
    with pytest.raises(
        UserError, match=r"refcoco_train.jsonl:1: the record has no width/height; pass --image-root"
    ):
        convert_vlmr1_rec([f], out)


def test_norm1000_coords(tmp_path):
    items = vlmr1_eval_items()[:1]
    items[0]["solution"] = [243, 468, 557, 745]
    f = tmp_path / "internvl.json"
    f.write_text(json.dumps(items))
    out = tmp_path / "n.jsonl"
    convert_vlmr1_rec([f], out, coords="norm1000")
    assert read_jsonl(out)[0]["solution"] == pytest.approx([103.761, 299.52, 237.839, 476.8])


def test_duplicate_ids_and_renumber(tmp_path):
    items = vlmr1_eval_items()
    items[1]["id"] = 0
    f = tmp_path / "dup.json"
    f.write_text(json.dumps(items))
    with pytest.raises(UserError, match=r"dup.json: item 1: id '0' already used at .*item 0"):
        convert_vlmr1_rec([f], tmp_path / "o.jsonl")
    convert_vlmr1_rec([f], tmp_path / "o.jsonl", renumber=True)
    assert [r["id"] for r in read_jsonl(tmp_path / "o.jsonl")] == ["dup-0", "dup-1"]


def test_bad_inputs(tmp_path):
    items = vlmr1_eval_items()
    items[0]["image"] = "../../secret.jpg"
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(items))
    with pytest.raises(
        UserError, match=r"bad.json: item 0: image path '../../secret.jpg' escapes the image root"
    ):
        convert_vlmr1_rec([f], tmp_path / "o.jsonl")
    f.write_text(json.dumps(vlmr1_eval_items())[:-40])
    with pytest.raises(UserError, match=r"bad.json:1: invalid JSON.*\(file truncated\?\)"):
        convert_vlmr1_rec([f], tmp_path / "o.jsonl")
    items = vlmr1_eval_items()
    items[1]["height"] = -480
    f.write_text(json.dumps(items))
    with pytest.raises(
        UserError, match=r"bad.json: item 1: width/height must be positive integers, got 640x-480"
    ):
        convert_vlmr1_rec([f], tmp_path / "o.jsonl")
    assert not (tmp_path / "o.jsonl").exists()


def test_bare_expression():
    assert bare_expression(
        "<image>Please provide the bounding box coordinate of the region this "
        "sentence describes: the man."
    ) == ("the man", True)
    assert bare_expression("<image>the man.") == ("the man.", False)

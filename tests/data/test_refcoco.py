from __future__ import annotations

import json

import pytest

from vlmr1_cli.data.refcoco import convert_refcoco, in_split
from vlmr1_cli.data.validate import validate_file
from vlmr1_cli.errors import UserError

from .conftest import read_jsonl
from .fixtures import make_image, refer_data, write_refer


def test_train_split_one_record_per_sentence(tmp_path):
    root = write_refer(tmp_path / "refer")
    out = tmp_path / "train.jsonl"
    s = convert_refcoco(root, "refcoco", "unc", "train", out)
    recs = read_jsonl(out)
    assert [r["id"] for r in recs] == ["100", "101"]
    assert s.written == 2 and s.skipped == {"degenerate box": 1}
    r = recs[0]
    assert r["task"] == "rec" and r["problem"] == "The man on the LEFT"
    assert r["solution"] == [10.5, 20.25, 110.5, 70.25]
    assert r["images"] == ["COCO_train2014_000000000001.jpg"]  # from instances.json, not the ref
    assert r["image_sizes"] == [[640, 480]]
    assert (r["ref_id"], r["ann_id"], r["image_id"], r["split"]) == (0, 10, 1, "train")
    meta = json.loads((tmp_path / "train.meta.json").read_text())
    assert meta["written"] == 2 and meta["options"]["text"] == "raw"


def test_vlmr1_published_example_box(tmp_path):
    """The refer xywh of VLM-R1's published sample maps to its published `solution`."""
    root = write_refer(tmp_path / "refer")
    out = tmp_path / "a.jsonl"
    convert_refcoco(root, "refcoco", "unc", "testA", out, text="sent", image_prefix="train2014/")
    rec = read_jsonl(out)[0]
    assert rec["problem"] == "the lady with the blue shirt"
    assert rec["solution"] == [103.93, 299.99, 238.15, 477.41]  # exactly VLM-R1's published values
    assert rec["images"] == ["train2014/COCO_train2014_000000000002.jpg"]
    assert rec["image_sizes"] == [[427, 640]]


@pytest.mark.parametrize(
    "split,ids",
    [
        ("val", ["102"]),
        ("testA", ["103", "104", "106"]),  # the toolkit's testA also takes testAB
        ("testB", ["105", "106"]),
        ("test", ["103", "104", "105", "106"]),
        ("testAB", ["106"]),
    ],
)
def test_split_semantics_follow_the_toolkit(tmp_path, split, ids):
    root = write_refer(tmp_path / "refer")
    out = tmp_path / "o.jsonl"
    convert_refcoco(root, "refcoco", "unc", split, out)
    assert [r["id"] for r in read_jsonl(out)] == ids


def test_in_split():
    assert (
        in_split("testAB", "testA")
        and in_split("testAB", "testB")
        and not in_split("train", "testA")
    )
    assert (
        in_split("testB", "test")
        and not in_split("val", "test")
        and not in_split("testAB", "train")
    )


def test_python2_utf8_strings_are_decoded(tmp_path):
    root = write_refer(tmp_path / "refer")
    out = tmp_path / "a.jsonl"
    s = convert_refcoco(root, "refcoco", "unc", "testA", out)
    assert read_jsonl(out)[1]["problem"] == "café woman"
    assert not s.notes.get("pickle strings decoded as latin1 (not UTF-8)")


def test_python2_latin1_strings_fall_back(tmp_path):
    data = refer_data()
    data["refs"][3]["sentences"][0]["raw"] = b"caf\xe9 dog"  # a Latin-1 Python 2 str
    root = write_refer(tmp_path / "refer", data)
    out = tmp_path / "b.jsonl"
    s = convert_refcoco(root, "refcoco", "unc", "testB", out)
    assert read_jsonl(out)[0]["problem"] == "café dog"
    assert s.notes["pickle strings decoded as latin1 (not UTF-8)"] == 1


def test_refcocog_umd_layout(tmp_path):
    data = refer_data()
    for r in data["refs"]:
        r["split"] = {"testA": "test", "testB": "test", "testAB": "val"}.get(r["split"], r["split"])
    root = write_refer(tmp_path / "refer", data, dataset="refcocog", split_by="umd")
    out = tmp_path / "g.jsonl"
    s = convert_refcoco(root, "refcocog", "umd", "test", out)
    assert s.written == 3


def test_output_validates_against_images(tmp_path):
    root = write_refer(tmp_path / "refer")
    imgs = tmp_path / "train2014"
    for im in refer_data()["images"]:
        make_image(imgs / im["file_name"], im["width"], im["height"])
    out = tmp_path / "t.jsonl"
    convert_refcoco(root, "refcoco", "unc", "test", out)
    rep = validate_file(out, imgs)
    assert rep.ok, rep.problems
    assert rep.records == 4 and rep.images_checked == 2


@pytest.mark.parametrize(
    "mutate,match",
    [
        (
            lambda d: d["refs"][0].update(ann_id=999),
            r"ref #0 \(ref_id=0\): ann_id 999 is not in .*instances.json",
        ),
        (
            lambda d: d["refs"][0].update(image_id=3),
            r"ref #0 \(ref_id=0\): image_id 3, but its annotation 10 is on image 1",
        ),
        (lambda d: d["refs"][2].pop("split"), r"ref #2 \(ref_id=2\): key 'split' missing"),
        (
            lambda d: d["images"][0].update(width=-640),
            r"images\[0\] \(id=1\): key 'width' must be a positive integer, got -640",
        ),
        (
            lambda d: d["annotations"][0].update(bbox=[1, 2, -3, 4]),
            r"annotations\[0\] \(id=10\): key 'bbox' has a negative size",
        ),
        (
            lambda d: d["images"][0].update(file_name="../../etc/passwd"),
            r"images\[0\].*escapes the image root",
        ),
        (lambda d: d["refs"][0]["sentences"][0].pop("raw"), r"sentences\[0\]: key 'raw' missing"),
    ],
)
def test_bad_input_names_file_and_record(tmp_path, mutate, match):
    data = refer_data()
    mutate(data)
    root = write_refer(tmp_path / "refer", data)
    out = tmp_path / "x.jsonl"
    with pytest.raises(UserError, match=match):
        convert_refcoco(root, "refcoco", "unc", "train", out)
    assert not out.exists() and not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".x*"))


def test_missing_split_lists_present_ones(tmp_path):
    data = refer_data()
    data["refs"] = [r for r in data["refs"] if r["split"] != "val"]
    root = write_refer(tmp_path / "refer", data)
    with pytest.raises(
        UserError, match=r"no refs in split 'val' \(splits present: testA, testAB, testB, train\)"
    ):
        convert_refcoco(root, "refcoco", "unc", "val", tmp_path / "v.jsonl")


def test_missing_refs_file_says_what_is_there(tmp_path):
    root = write_refer(tmp_path / "refer")
    with pytest.raises(
        UserError, match=r"refs\(google\)\.p: file not found \(this folder has: refs\(unc\)\.p\)"
    ):
        convert_refcoco(root, "refcoco", "google", "train", tmp_path / "v.jsonl")


def test_old_output_survives_a_failed_run(tmp_path):
    root = write_refer(tmp_path / "refer")
    out = tmp_path / "o.jsonl"
    out.write_text("previous\n")
    data = refer_data()
    data["refs"][5]["ann_id"] = 12345  # fails after the first records were streamed
    write_refer(root, data)
    with pytest.raises(UserError):
        convert_refcoco(root, "refcoco", "unc", "train", out)
    assert out.read_text() == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.jsonl", "refer"]

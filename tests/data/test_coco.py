from __future__ import annotations

import json

import pytest

from vlmr1_cli.data.coco import convert_coco
from vlmr1_cli.errors import UserError

from .conftest import read_jsonl
from .fixtures import coco_instances


@pytest.fixture
def instances(tmp_path):
    p = tmp_path / "instances_val2017.json"
    p.write_text(json.dumps(coco_instances()))
    return p


def test_coco_filtered_per_image_category_pair(tmp_path, instances):
    out = tmp_path / "coco_filtered.jsonl"
    s = convert_coco(instances, out, max_boxes_per_category=10, image_prefix="val2017/")
    recs = {r["id"]: r for r in read_jsonl(out)}
    assert list(recs) == ["1", "2", "3", "4"]
    # image 1: 11 persons dropped (> 10), the 2 cars kept
    assert [o["label"] for o in recs["1"]["solution"]] == ["car", "car"]
    assert recs["1"]["solution"][0]["bbox_2d"] == [300.0, 200.0, 400.0, 250.0]
    # image 2: exactly 10 dogs kept, plus the crowd person (--crowd keep)
    assert [o["label"] for o in recs["2"]["solution"]] == ["dog"] * 10 + ["person"]
    assert recs["3"]["solution"] == [] and recs["4"]["solution"] == []
    assert recs["1"]["labels"] == ["person", "car", "dog"]  # --labels all, category order
    assert recs["1"]["images"] == ["val2017/000000000001.jpg"] and recs["1"]["image_id"] == 1
    assert s.skipped == {
        "box: its category has > 10 boxes on the image": 11,
        "box: degenerate box": 1,
    }
    assert s.notes["image-category pairs dropped by the filter"] == 1

    gt_path = tmp_path / "coco_filtered_gt.json"
    assert recs["1"]["gt_file"] == "coco_filtered_gt.json"
    gt = json.loads(gt_path.read_text())
    assert [i["id"] for i in gt["images"]] == [1, 2, 3, 4]
    assert (
        len(gt["annotations"]) == 2 + 11
        and gt["info"]["vlmr1_options"]["max_boxes_per_category"] == 10
    )
    assert {a["iscrowd"] for a in gt["annotations"]} == {0, 1}
    assert all("segmentation" not in a for a in gt["annotations"])
    # scorable with pycocotools; label name -> category id recoverable
    from pycocotools.coco import COCO

    coco = COCO(str(gt_path))
    name_to_id = {c["name"]: c["id"] for c in coco.loadCats(coco.getCatIds())}
    assert name_to_id == {"person": 1, "car": 3, "dog": 18}
    assert len(coco.getAnnIds(imgIds=[1])) == 2 and len(coco.getAnnIds(imgIds=[2])) == 11
    # every record box is in the GT file under the same category
    for rec in recs.values():
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[rec["image_id"]]))
        got = sorted(
            (a["bbox"][0], a["bbox"][1], name_to_id[o["label"]])
            for a, o in zip(anns, rec["solution"], strict=True)
        )
        want = sorted((a["bbox"][0], a["bbox"][1], a["category_id"]) for a in anns)
        assert got == want


def test_without_filter_everything_is_kept(tmp_path, instances):
    out = tmp_path / "all.jsonl"
    convert_coco(instances, out)
    assert len(read_jsonl(out)[0]["solution"]) == 13


def test_positive_mode_crowd_drop_empty_drop(tmp_path, instances):
    out = tmp_path / "pos.jsonl"
    gt = tmp_path / "gt.json"
    s = convert_coco(
        instances,
        out,
        gt_output=gt,
        max_boxes_per_category=10,
        labels="positive",
        crowd="drop",
        empty="drop",
    )
    recs = {r["id"]: r for r in read_jsonl(out)}
    assert list(recs) == ["1", "2"]
    assert recs["1"]["labels"] == ["car"] and recs["2"]["labels"] == ["dog"]
    assert s.skipped["image with no box left"] == 2 and s.skipped["box: crowd (--crowd drop)"] == 1
    g = json.loads(gt.read_text())
    assert [i["id"] for i in g["images"]] == [1, 2] and len(g["annotations"]) == 12
    assert len(g["categories"]) == 3  # all categories stay: name -> id mapping complete


def test_gt_output_inside_the_output_folder_is_named_as_is(tmp_path, instances):
    out = tmp_path / "data" / "o.jsonl"
    gt = tmp_path / "data" / "gt" / "coco_gt.json"
    s = convert_coco(instances, out, gt_output=gt)
    assert {r["gt_file"] for r in read_jsonl(out)} == {"gt/coco_gt.json"}
    assert sorted(p.name for p in out.parent.iterdir()) == ["gt", "o.jsonl", "o.meta.json"]
    assert set(s.outputs) == {"records", "gt", "meta"}


def test_gt_output_outside_the_output_folder_is_also_written_beside_it(tmp_path, instances):
    # evaluate reads gt_file only in the JSONL's folder or below: '../gt/coco_gt.json' is refused
    out = tmp_path / "data" / "o.jsonl"
    gt = tmp_path / "gt" / "coco_gt.json"
    s = convert_coco(instances, out, gt_output=gt, max_boxes_per_category=10)
    assert {r["gt_file"] for r in read_jsonl(out)} == {"o_gt.json"}
    copy = tmp_path / "data" / "o_gt.json"
    assert json.loads(copy.read_text()) == json.loads(gt.read_text())
    assert len(json.loads(copy.read_text())["annotations"]) == 13
    assert s.outputs["gt"] == str(gt) and s.outputs["gt copy"] == str(copy)


def test_seed_shuffles_labels_deterministically(tmp_path, instances):
    a, b = tmp_path / "a" / "o.jsonl", tmp_path / "b" / "o.jsonl"
    convert_coco(instances, a, seed=5)
    convert_coco(instances, b, seed=5)
    assert a.read_bytes() == b.read_bytes()
    assert (tmp_path / "a" / "o_gt.json").read_bytes() == (
        tmp_path / "b" / "o_gt.json"
    ).read_bytes()
    assert sorted(read_jsonl(a)[0]["labels"]) == ["car", "dog", "person"]


def test_duplicate_category_names_are_refused(tmp_path):
    data = coco_instances()
    data["categories"][1]["name"] = "person"
    p = tmp_path / "i.json"
    p.write_text(json.dumps(data))
    with pytest.raises(UserError, match=r"categories 1 and 3 share the name 'person'"):
        convert_coco(p, tmp_path / "o.jsonl")
    assert not list(tmp_path.glob("o*"))


def test_unknown_category_is_refused(tmp_path):
    data = coco_instances()
    data["annotations"][3]["category_id"] = 77
    p = tmp_path / "i.json"
    p.write_text(json.dumps(data))
    with pytest.raises(
        UserError, match=r"annotations\[3\] \(id=503\): category_id 77 is not in 'categories'"
    ):
        convert_coco(p, tmp_path / "o.jsonl")


def test_max_boxes_per_image_skips_whole_images(tmp_path, instances):
    out = tmp_path / "o.jsonl"
    s = convert_coco(instances, out, max_boxes_per_image=12)
    recs = {r["id"]: r for r in read_jsonl(out)}
    # image 1 keeps 13 boxes (11 persons + 2 cars) > 12: skipped whole; image 2 keeps 11
    assert list(recs) == ["2", "3", "4"] and len(recs["2"]["solution"]) == 11
    assert s.skipped["image with > 12 boxes (--max-boxes-per-image)"] == 1
    gt = json.loads((tmp_path / "o_gt.json").read_text())
    assert [i["id"] for i in gt["images"]] == [2, 3, 4] and len(gt["annotations"]) == 11


def test_published_variants_fill_their_options(tmp_path, instances):
    # pos2: positive labels, every category with more than one box on an image dropped there
    s = convert_coco(instances, tmp_path / "pos2.jsonl", variant="pos2")
    recs = read_jsonl(tmp_path / "pos2.jsonl")
    assert [(r["id"], r["labels"], [o["label"] for o in r["solution"]]) for r in recs] == [
        ("2", ["person"], ["person"])
    ]
    assert s.options["labels"] == "positive" and s.options["max_boxes_per_category"] == 1
    # pos3 at its published 10 boxes: both images with boxes have more; nothing left to query
    s = convert_coco(instances, tmp_path / "pos3.jsonl", variant="pos3")
    assert read_jsonl(tmp_path / "pos3.jsonl") == []
    assert s.skipped["image with > 10 boxes (--max-boxes-per-image)"] == 2
    # filtered is the paper's COCO-filtered: the same bytes as spelling the option out
    convert_coco(instances, tmp_path / "f1.jsonl", variant="filtered")
    convert_coco(instances, tmp_path / "f2.jsonl", max_boxes_per_category=10)
    assert [r["solution"] for r in read_jsonl(tmp_path / "f1.jsonl")] == [
        r["solution"] for r in read_jsonl(tmp_path / "f2.jsonl")
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"variant": "pos9"}, r"unknown --variant 'pos9' \(choose filtered, pos2, pos3\)"),
        (
            {"variant": "pos2", "labels": "all"},
            r"--labels all contradicts --variant pos2 \(--labels positive\)",
        ),
        (
            {"variant": "filtered", "max_boxes_per_category": 5},
            r"--max-boxes-per-category 5 contradicts --variant filtered",
        ),
        ({"max_boxes_per_image": 0}, r"--max-boxes-per-image must be >= 1, got 0"),
    ],
)
def test_bad_variant_options_are_one_clear_error(tmp_path, instances, kwargs, message):
    with pytest.raises(UserError, match=message):
        convert_coco(instances, tmp_path / "o.jsonl", **kwargs)
    assert not list(tmp_path.glob("o*"))

from __future__ import annotations

import json

import pytest

from vlmr1_cli.data.d3 import convert_d3, pkl_bbox
from vlmr1_cli.errors import UserError

from .conftest import read_jsonl
from .fixtures import D3_SENTENCES, d3_data, d3_json, write_d3


def _by_id(path):
    return {r["id"]: r for r in read_jsonl(path)}


def test_records_from_pickles(tmp_path):
    anno = write_d3(tmp_path / "pkl")
    out = tmp_path / "d3.jsonl"
    s = convert_d3(out, anno_dir=anno, negatives=13, seed=0)
    recs = _by_id(out)
    assert list(recs) == ["100", "101", "102"] and s.written == 3
    r = recs["100"]
    assert (
        r["task"] == "ovd"
        and r["images"] == ["street/100.jpg"]
        and r["image_sizes"] == [[640, 480]]
    )
    # one entry per (instance, matching description): instance 1000 matches two descriptions
    assert r["solution"] == [
        {"bbox_2d": [10.0, 20.0, 40.0, 60.0], "label": "a dog without leash"},
        {"bbox_2d": [10.0, 20.0, 40.0, 60.0], "label": "person holding a torch"},
        {"bbox_2d": [100.5, 50.0, 120.5, 90.0], "label": "red car"},
    ]
    positives = {"a dog without leash", "person holding a torch", "red car"}
    assert len(r["labels"]) == 3 + 13 and set(r["labels"]) >= positives
    assert len(r["negatives"]) == 13 and not set(r["negatives"]) & positives
    assert set(r["labels"]) == positives | set(r["negatives"])
    assert set(r["negatives"]) <= set(D3_SENTENCES.values())
    assert r["image_id"] == 100 and r["group_id"] == 1
    # image 101 has no instance: every description is a verified negative, solution []
    assert recs["101"]["solution"] == [] and len(recs["101"]["labels"]) == 13
    assert recs["102"]["solution"] == [
        {"bbox_2d": [0.0, 0.0, 10.0, 10.0], "label": "description number 5"}
    ]


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    anno = write_d3(tmp_path / "pkl")
    outs = [tmp_path / f"{k}.jsonl" for k in range(3)]
    for out, seed in zip(outs, (7, 7, 8), strict=True):
        convert_d3(out, anno_dir=anno, seed=seed)
    assert outs[0].read_bytes() == outs[1].read_bytes()
    assert outs[0].read_bytes() != outs[2].read_bytes()


def test_dict_order_does_not_change_output(tmp_path):
    data = d3_data()
    rev = {k: dict(reversed(list(v.items()))) for k, v in data.items()}
    a = tmp_path / "a.jsonl"
    b = tmp_path / "b.jsonl"
    convert_d3(a, anno_dir=write_d3(tmp_path / "p1", data), seed=3)
    convert_d3(b, anno_dir=write_d3(tmp_path / "p2", rev), seed=3)
    assert a.read_bytes() == b.read_bytes()


def test_prefer_group_takes_the_own_group_first(tmp_path):
    anno = write_d3(tmp_path / "pkl")
    out = tmp_path / "g.jsonl"
    convert_d3(out, anno_dir=anno, negatives=1, prefer_group=True, seed=1)
    recs = _by_id(out)
    # image 100 (group 1 = sentences 1-4, positives 1-3): the only in-group negative is 4
    assert recs["100"]["negatives"] == ["a hat that is not blue"]
    assert recs["102"]["negatives"][0].startswith("description number")
    out2 = tmp_path / "g2.jsonl"
    convert_d3(out2, anno_dir=anno, negatives=3, prefer_group=True, seed=1)
    negs = _by_id(out2)["100"]["negatives"]
    assert "a hat that is not blue" in negs and len(negs) == 3  # then filled from the rest


def test_fewer_negatives_than_requested_is_noted(tmp_path):
    anno = write_d3(tmp_path / "pkl")
    s = convert_d3(tmp_path / "n.jsonl", anno_dir=anno, negatives=100)
    recs = _by_id(tmp_path / "n.jsonl")
    assert len(recs["100"]["negatives"]) == 20 - 3
    assert s.notes["images with fewer verified negatives than requested"] == 3


@pytest.mark.parametrize("protocol,numpy1", [(4, False), (5, False), (2, True), (3, True)])
def test_pickle_protocols_and_numpy_names(tmp_path, protocol, numpy1):
    anno = write_d3(tmp_path / "pkl", protocol=protocol, numpy1_names=numpy1)
    out = tmp_path / "p.jsonl"
    convert_d3(out, anno_dir=anno, seed=0)
    ref = tmp_path / "ref.jsonl"
    convert_d3(ref, anno_dir=write_d3(tmp_path / "ref"), seed=0)
    assert out.read_bytes() == ref.read_bytes()


def test_json_input_matches_pickles_and_is_the_gt(tmp_path):
    gt = tmp_path / "d3_full_annotations.json"
    gt.write_text(json.dumps(d3_json()))
    out = tmp_path / "j.jsonl"
    convert_d3(out, json_file=gt, seed=0)
    from_json = _by_id(out)
    convert_d3(tmp_path / "p.jsonl", anno_dir=write_d3(tmp_path / "pkl"), seed=0)
    from_pkl = _by_id(tmp_path / "p.jsonl")
    for rid in from_pkl:
        assert from_json[rid]["solution"] == from_pkl[rid]["solution"]
        assert sorted(from_json[rid]["labels"]) == sorted(from_pkl[rid]["labels"])
    assert from_json["100"]["gt_file"] == "d3_full_annotations.json"
    assert not (tmp_path / "j_gt.json").exists()  # inside the output's folder: no copy
    with pytest.raises(UserError, match="--prefer-group needs the pickles"):
        convert_d3(out, json_file=gt, prefer_group=True)


def test_gt_outside_the_output_folder_is_copied_beside_it(tmp_path):
    # evaluate reads gt_file only in the JSONL's folder or below: '../gt/...' would be refused
    gt = tmp_path / "gt" / "d3_full_annotations.json"
    gt.parent.mkdir()
    gt.write_text(json.dumps(d3_json(), indent=1))
    out = tmp_path / "out" / "d.jsonl"
    s = convert_d3(out, anno_dir=write_d3(tmp_path / "pkl"), gt_file=gt)
    assert {r["gt_file"] for r in read_jsonl(out)} == {"d_gt.json"}
    copy = tmp_path / "out" / "d_gt.json"
    assert json.loads(copy.read_text()) == json.loads(gt.read_text())  # segmentations included
    assert s.outputs["gt"] == str(copy)
    # the JSON input is its own GT: copied the same way when it lies elsewhere
    convert_d3(tmp_path / "out" / "j.jsonl", json_file=gt)
    assert read_jsonl(tmp_path / "out" / "j.jsonl")[0]["gt_file"] == "j_gt.json"
    assert json.loads((tmp_path / "out" / "j_gt.json").read_text()) == d3_json()


def test_gt_inside_the_output_folder_is_referenced_not_copied(tmp_path):
    gt = tmp_path / "out" / "gt" / "d3_full_annotations.json"
    gt.parent.mkdir(parents=True)
    gt.write_text(json.dumps(d3_json()))
    out = tmp_path / "out" / "d.jsonl"
    s = convert_d3(out, anno_dir=write_d3(tmp_path / "pkl"), gt_file=gt)
    assert {r["gt_file"] for r in read_jsonl(out)} == {"gt/d3_full_annotations.json"}
    assert sorted(p.name for p in out.parent.iterdir()) == ["d.jsonl", "d.meta.json", "gt"]
    assert "gt" not in s.outputs


def test_bbox_forms():
    import numpy as np

    assert pkl_bbox(np.array([[1, 2, 3, 4]]), "x") == [1.0, 2.0, 3.0, 4.0]
    assert pkl_bbox(np.array([1.5, 2, 3, 4]), "x") == [1.5, 2.0, 3.0, 4.0]
    assert pkl_bbox([1, 2, 3, 4], "x") == [1.0, 2.0, 3.0, 4.0]
    assert pkl_bbox([[1, 2, 3, 4]], "x") == [1.0, 2.0, 3.0, 4.0]
    with pytest.raises(UserError, match="negative size"):
        pkl_bbox(np.array([[1, 2, -3, 4]]), "x")
    with pytest.raises(UserError, match="finite numbers"):
        pkl_bbox(np.array([[1, 2, np.nan, 4]]), "x")


@pytest.mark.parametrize(
    "mutate,match",
    [
        (
            lambda d: d["images"][100]["anno_id"].append(4242),
            r"images.pkl: image 100: anno_id 4242 is not in annotations.pkl",
        ),
        (
            lambda d: d["annotations"][1000].update(sent_id=[999]),
            r"annotation 1000: sent_id 999 is not in sentences.pkl",
        ),
        (
            lambda d: d["annotations"][1000].update(image_id=5),
            r"annotation 1000: image_id 5 is not in images.pkl",
        ),
        (
            lambda d: d["images"][101].update(height=-3),
            r"image 101: width/height must be positive integers",
        ),
        (
            lambda d: d["images"][101].update(file_name="/etc/passwd"),
            r"image 101: image path '/etc/passwd' is absolute",
        ),
        (lambda d: d["sentences"][2].pop("raw_sent"), r"sentence 2: key 'raw_sent' missing"),
    ],
)
def test_bad_input(tmp_path, mutate, match):
    data = d3_data()
    mutate(data)
    with pytest.raises(UserError, match=match):
        convert_d3(tmp_path / "x.jsonl", anno_dir=write_d3(tmp_path / "pkl", data))
    assert not (tmp_path / "x.jsonl").exists()

from __future__ import annotations

import json

import pytest

from vlmr1_cli.data.lisa import convert_lisa
from vlmr1_cli.data.validate import validate_file
from vlmr1_cli.errors import UserError

from .conftest import read_jsonl
from .fixtures import write_lisa


def test_targets_rule(tmp_path):
    folder = write_lisa(tmp_path / "test")
    out = tmp_path / "lisa.jsonl"
    s = convert_lisa(folder, out)
    recs = {r["id"]: r for r in read_jsonl(out)}
    assert list(recs) == ["a-0", "a-1", "b-0"]
    # a: union of both target polygons; the (larger) ignore polygon is left out
    assert recs["a-0"]["solution"] == [10.0, 10.0, 150.0, 90.0]
    assert recs["a-1"]["problem"] == "Which object is a shelter from rain?"
    assert recs["a-0"]["image_sizes"] == [[200, 100]] and recs["a-0"]["images"] == ["a.jpg"]
    # b: the target polygon, clamped to the image (a point at x = -3)
    assert recs["b-0"]["solution"] == [0.0, 20.0, 60.0, 50.0]
    assert all(r["box_rule"] == "targets" for r in recs.values())
    assert s.skipped == {"no target shape": 1}
    assert validate_file(out, folder).ok


def test_first_shape_rule(tmp_path):
    folder = write_lisa(tmp_path / "test")
    out = tmp_path / "lisa.jsonl"
    s = convert_lisa(folder, out, box_rule="first-shape", texts="first")
    recs = {r["id"]: r for r in read_jsonl(out)}
    assert list(recs) == ["a-0", "b-0", "c-0"]
    assert recs["a-0"]["solution"] == [10.0, 10.0, 50.5, 60.0]
    assert recs["b-0"]["solution"] == [0.0, 0.0, 90.0, 70.0]  # b's first shape is the ignore region
    assert recs["c-0"]["box_rule"] == "first-shape" and s.options["box_rule"] == "first-shape"


def test_cp1252_fallback_is_counted_and_bad_json_is_an_error(tmp_path):
    folder = write_lisa(tmp_path / "test")
    anno = json.loads((folder / "b.json").read_text())
    anno["text"] = ["the caf\u00e9 chair"]
    (folder / "b.json").write_bytes(json.dumps(anno, ensure_ascii=False).encode("cp1252"))
    out = tmp_path / "o.jsonl"
    s = convert_lisa(folder, out)
    assert {r["id"]: r for r in read_jsonl(out)}["b-0"]["problem"] == "the caf\u00e9 chair"
    assert s.notes["annotation files decoded as cp1252 (LISA's fallback)"] == 1
    (folder / "c.json").write_text('{"text": ["x"], "shapes": [')
    with pytest.raises(UserError, match=r"c.json:1: invalid JSON"):
        convert_lisa(folder, out)


def test_missing_image_and_bad_points(tmp_path):
    folder = write_lisa(tmp_path / "test")
    (folder / "a.jpg").unlink()
    with pytest.raises(UserError, match=r"a.json: image a.jpg not found"):
        convert_lisa(folder, tmp_path / "o.jsonl")
    folder = write_lisa(tmp_path / "t2")
    anno = json.loads((folder / "b.json").read_text())
    anno["shapes"][1]["points"][0] = ["x", 3]
    (folder / "b.json").write_text(json.dumps(anno))
    with pytest.raises(UserError, match=r"b.json: shapes\[1\]: point \['x', 3\] is not \[x, y\]"):
        convert_lisa(folder, tmp_path / "o.jsonl")

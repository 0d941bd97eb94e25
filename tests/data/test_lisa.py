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


def test_files_linked_from_outside_the_folder_are_refused(tmp_path):
    """Like image paths, the importer reads nothing outside the folder it is given."""
    outside = write_lisa(tmp_path / "elsewhere")
    folder = write_lisa(tmp_path / "test")
    (folder / "a.jpg").unlink()
    (folder / "a.jpg").symlink_to(outside / "a.jpg")
    with pytest.raises(UserError, match=r"a.json: image a.jpg is a link to a file outside .*test$"):
        convert_lisa(folder, tmp_path / "o.jsonl")
    folder = write_lisa(tmp_path / "t2")
    (folder / "b.json").unlink()
    (folder / "b.json").symlink_to(outside / "b.json")
    with pytest.raises(
        UserError, match=r"b.json: annotation file b.json is a link to a file outside"
    ):
        convert_lisa(folder, tmp_path / "o.jsonl")
    folder = write_lisa(tmp_path / "t3")  # a link that stays inside the folder is fine
    (folder / "b.jpg").rename(folder / "b-image.jpg")
    (folder / "b.jpg").symlink_to(folder / "b-image.jpg")
    assert convert_lisa(folder, tmp_path / "o.jsonl").written == 3
    for prefix in ("../", "/abs/"):  # the record's path: relative to the image root, never out
        with pytest.raises(UserError, match=rf"image path '{prefix}a.jpg' (escapes|is absolute)"):
            convert_lisa(folder, tmp_path / "o.jsonl", image_prefix=prefix)

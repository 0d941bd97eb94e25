from __future__ import annotations

import json
import os

import pytest

from vlmr1_cli.data.paths import UnsafePathError, check_relpath, safe_join
from vlmr1_cli.data.validate import box_problem, validate_file

from .fixtures import make_image


def _rec(i, **kw):
    r = {
        "id": f"r{i}",
        "task": "rec",
        "images": ["a.png"],
        "image_sizes": [[100, 50]],
        "problem": "the thing",
        "solution": [10.0, 5.0, 60.0, 45.0],
    }
    r.update(kw)
    return r


def _ovd(i, **kw):
    r = {
        "id": f"o{i}",
        "task": "ovd",
        "images": ["a.png"],
        "image_sizes": [[100, 50]],
        "problem": "",
        "solution": [{"bbox_2d": [1, 1, 20, 20], "label": "cat"}],
        "labels": ["dog", "cat"],
        "negatives": ["dog"],
    }
    r.update(kw)
    return r


@pytest.fixture
def root(tmp_path):
    make_image(tmp_path / "a.png", 100, 50)
    make_image(tmp_path / "b.png", 30, 30)
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    return tmp_path


def _write(path, lines):
    path.write_text("".join((ln if isinstance(ln, str) else json.dumps(ln)) + "\n" for ln in lines))
    return path


def test_clean_file_passes(root):
    f = _write(root / "ok.jsonl", [_rec(0), _ovd(0), _rec(1, solution=[0, 0, 100.5, 50])])
    rep = validate_file(f, root)
    assert rep.ok and rep.records == 3 and rep.images_checked == 1


def test_every_problem_is_reported_per_line(root):
    lines = [
        _rec(0),  # 1 ok
        '{"id": "x", "task": ',  # 2 invalid JSON
        _rec(2, images=["missing.png"]),  # 3 image not found
        _rec(3, images=["b.png"]),  # 4 size mismatch
        _rec(4, images=["broken.jpg"]),  # 5 unreadable
        _rec(5, solution=[10, 5, 160, 45]),  # 6 outside
        _ovd(6, solution=[{"bbox_2d": [5, 5, 5, 9], "label": "cat"}]),  # 7 degenerate
        '{"id": "r7", "task": "rec", "images": ["a.png"], "image_sizes": [[100, 50]], '
        '"problem": "p", "solution": [NaN, 1, 2, 3]}',  # 8 not finite
        _rec(8, images=["../a.png"]),  # 9 escapes
        _rec(9, images=[str(root / "a.png")]),  # 10 absolute
        _ovd(10, solution=[{"bbox_2d": [1, 1, 9, 9], "label": "bird"}]),  # 11 label not queried
        _ovd(11, negatives=["cat"]),  # 12 negative is positive
        _rec(0),  # 13 duplicate id
        _rec(12, image_sizes=[[-100, 50]]),  # 14 negative size
    ]
    rep = validate_file(_write(root / "bad.jsonl", lines), root)
    assert not rep.ok and rep.records == 14
    bad = sorted({ln for ln, _ in rep.problems})
    assert bad == list(range(2, 15)), rep.problems
    msgs = dict(rep.problems)
    assert "invalid JSON" in msgs[2]
    assert "image not found: missing.png" in msgs[3]
    assert "b.png is 30x30, record says 100x50" in msgs[4]
    assert "image not readable" in msgs[5]
    assert "box outside the image" in msgs[6]
    assert "degenerate box" in msgs[7]
    assert "a rec solution must be" in msgs[8]
    assert "escapes the image root" in msgs[9]
    assert "is absolute" in msgs[10]
    assert "solution labels not queried" in msgs[11]
    assert "also a solution label" in msgs[12]
    assert "duplicate id (first on line 1)" in msgs[13]
    assert "image_sizes" in msgs[14]
    assert validate_file(root / "bad.jsonl", root, allow_absolute=True).kinds["image path"] == 1


def test_symlink_out_of_root_is_refused(tmp_path):
    inside = tmp_path / "root"
    inside.mkdir()
    make_image(tmp_path / "outside.png", 10, 10)
    os.symlink(tmp_path / "outside.png", inside / "link.png")
    f = _write(
        inside / "d.jsonl",
        [_rec(0, images=["link.png"], image_sizes=[[10, 10]], solution=[1, 1, 5, 5])],
    )
    rep = validate_file(f, inside)
    assert "escapes the image root" in rep.problems[0][1]


def test_empty_file_fails(tmp_path):
    rep = validate_file(_write(tmp_path / "e.jsonl", []), None)
    assert not rep.ok and rep.kinds["empty file"] == 1


def test_box_problem():
    assert box_problem([0, 0, 10, 10], 10, 10) is None
    assert box_problem([-0.9, 0, 10.9, 10], 10, 10) is None  # within the 1 px tolerance
    assert box_problem([-1.5, 0, 10, 10], 10, 10) == "box outside the image"
    assert box_problem([3, 0, 3, 10], 10, 10) == "degenerate box"
    assert box_problem([0, 0, float("inf"), 1], 10, 10) == "box is not finite"
    assert box_problem([0, 0, 1], 10, 10) == "box is not 4 numbers"


@pytest.mark.parametrize(
    "bad",
    [
        "../x.jpg",
        "a/../../x.jpg",
        "/etc/passwd",
        "C:/x.jpg",
        "..\\x.jpg",
        "",
        ".",
        "a/..",
        "x\x00.jpg",
    ],
)
def test_check_relpath_refuses(bad):
    with pytest.raises(UnsafePathError):
        check_relpath(bad)


def test_check_relpath_and_safe_join_accept(tmp_path):
    assert check_relpath("a/../b/c.jpg") == "a/../b/c.jpg"
    assert safe_join(tmp_path, "x/y.jpg") == os.path.join(os.path.realpath(tmp_path), "x", "y.jpg")
    inside = os.path.join(os.path.realpath(tmp_path), "z.jpg")
    assert safe_join(tmp_path, inside) == inside  # absolute, but inside the root
    with pytest.raises(UnsafePathError):
        safe_join(tmp_path / "sub", inside)


def test_corrupted_records_never_crash_validate(root):
    import random

    from .test_malformed_inputs import corrupt

    good = [_rec(0), _ovd(0)]
    rng = random.Random("validate")
    f = root / "f.jsonl"
    flagged = 0
    for _ in range(300):
        recs = [corrupt({"r": r}, rng)["r"] for r in good]
        _write(f, recs)
        rep = validate_file(f, root)  # must not raise, whatever the record holds
        flagged += not rep.ok
    assert flagged > 100

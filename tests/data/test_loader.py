import json

import pytest

from vlmr1_cli.data.loader import build_rows, load_image, load_records
from vlmr1_cli.data.paths import safe_join
from vlmr1_cli.errors import UserError
from vlmr1_cli.models.base import PixelLimits
from vlmr1_cli.models.qwen2_5_vl import Qwen25VL
from vlmr1_cli.recipes import DEFAULTS


def _rec(**over):
    rec = {"id": "a", "task": "rec", "images": ["img.png"], "image_sizes": [[640, 480]],
           "problem": "the cat", "solution": [64.0, 48.0, 320.0, 240.0]}
    rec.update(over)
    return rec


@pytest.fixture
def folder(tmp_path):
    from PIL import Image

    Image.new("RGB", (640, 480), "white").save(tmp_path / "img.png")
    return tmp_path


def test_broken_line_names_file_and_line(folder):
    f = folder / "d.jsonl"
    f.write_text(json.dumps(_rec()) + "\n" + '{"id": "b", "task": \n')
    with pytest.raises(UserError, match=r"d.jsonl:2: invalid JSON"):
        load_records(f)


def test_schema_problem_names_key(folder):
    f = folder / "d.jsonl"
    f.write_text(json.dumps(_rec(solution=[1, 2, 3])) + "\n")
    with pytest.raises(UserError, match=r"d.jsonl:1: key 'solution'"):
        load_records(f)


def test_duplicate_ids_and_missing_images(folder):
    f = folder / "d.jsonl"
    f.write_text(json.dumps(_rec()) + "\n" + json.dumps(_rec()) + "\n")
    with pytest.raises(UserError, match="duplicate id 'a'"):
        load_records(f)
    f.write_text(json.dumps(_rec(images=["nope.png"])) + "\n")
    with pytest.raises(UserError, match="image not found: nope.png"):
        load_records(f)


def test_image_paths_stay_inside_root(folder):
    with pytest.raises(UserError, match="escapes the image root"):
        safe_join(folder, "../../etc/passwd", "x")
    with pytest.raises(UserError, match="escapes the image root"):
        safe_join(folder, "/etc/passwd", "x")


def test_rows_convert_gt_into_model_frame(folder):
    f = folder / "d.jsonl"
    f.write_text(json.dumps(_rec()) + "\n")
    recs = load_records(f)
    fam = Qwen25VL()
    rows = build_rows(recs, fam, PixelLimits(3136, 12845056, 28), DEFAULTS["prompt"], with_answers=True)
    row = rows[0]
    assert row["input_sizes"] == [[644, 476]]
    sol = json.loads(row["solution_json"])
    assert sol == pytest.approx([64 * 644 / 640, 48 * 476 / 480, 320 * 644 / 640, 240 * 476 / 480])
    assert "the cat" in row["prompt"][-1]["content"]
    assert '"bbox_2d": [64, 48, 322, 238]' in row["completion"][0]["content"]
    img = load_image(recs[0]["_image_paths"][0], row["input_sizes"][0])
    assert img.size == (644, 476)

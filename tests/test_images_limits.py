"""Decompression bombs: a PNG of a few hundred bytes declaring 30000 x 30000 pixels is refused
with one line naming the file (validate, evaluation, importers, training's image loading),
and the documented limit can be raised (--max-image-pixels, VLMR1_MAX_IMAGE_PIXELS)."""

from __future__ import annotations

import functools
import io
import json
import struct
import zlib
from pathlib import Path

import pytest

from tests.cli_runner import run_main
from vlmr1_cli.errors import UserError
from vlmr1_cli.images import (
    DEFAULT_MAX_IMAGE_PIXELS,
    MAX_PIXELS_ENV,
    ImageTooLarge,
    image_size,
    load_rgb,
    max_image_pixels,
    open_image,
)

BOMB_SIDE = 30000


def bomb_png(width: int = BOMB_SIDE, height: int = BOMB_SIDE) -> bytes:
    """A 4x4 PNG whose IHDR is rewritten to declare width x height (CRC fixed up)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 0, 0)).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    ihdr = 8 + 8  # signature, then the chunk's length and type
    data[ihdr : ihdr + 8] = struct.pack(">II", width, height)
    data[ihdr + 13 : ihdr + 17] = struct.pack(
        ">I", zlib.crc32(bytes(data[12 : ihdr + 13])) & 0xFFFFFFFF
    )
    return bytes(data)


def write_bomb(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bomb_png())
    return path


def small_png(path: Path, w: int = 20, h: int = 20) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (w, h), (10, 120, 200)).save(path)
    return path


@pytest.fixture(autouse=True)
def _default_limit(monkeypatch):
    from PIL import Image

    monkeypatch.delenv(MAX_PIXELS_ENV, raising=False)
    # open_image raises Pillow's own guard to a raised limit: undo it after each test
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)


@pytest.fixture
def main_cli(monkeypatch, capsys):
    """The real `main()` in-process: (exit code, stdout, stderr)."""
    return functools.partial(run_main, monkeypatch, capsys)


def test_the_bomb_is_tiny_but_declares_900_megapixels(tmp_path):
    from PIL import Image

    bomb = write_bomb(tmp_path / "bomb.png")
    assert bomb.stat().st_size < 200
    with pytest.raises(Image.DecompressionBombError):  # PIL itself, without a file name
        Image.open(bomb)


def test_open_image_refuses_a_bomb_naming_the_file_and_the_way_out(tmp_path):
    bomb = write_bomb(tmp_path / "bomb.png")
    with pytest.raises(ImageTooLarge) as e:
        open_image(bomb)
    msg = str(e.value)
    assert (
        str(bomb) in msg and "900,000,000 pixels" in msg and f"{DEFAULT_MAX_IMAGE_PIXELS:,}" in msg
    )
    assert "--max-image-pixels" in msg and MAX_PIXELS_ENV in msg and "\n" not in msg
    assert isinstance(e.value, UserError)  # the CLI prints it as one line


def test_the_limit_is_the_documented_one_and_can_be_raised(tmp_path, monkeypatch):
    bomb = write_bomb(tmp_path / "bomb.png")
    assert max_image_pixels() == DEFAULT_MAX_IMAGE_PIXELS == 178_956_970
    # raised: the header is read, nothing decoded
    assert image_size(bomb, max_pixels=BOMB_SIDE * BOMB_SIDE) == (BOMB_SIDE, BOMB_SIDE)
    monkeypatch.setenv(MAX_PIXELS_ENV, str(BOMB_SIDE * BOMB_SIDE))
    assert image_size(bomb) == (BOMB_SIDE, BOMB_SIDE)
    # lowered: an ordinary image over it is refused the same way
    small = small_png(tmp_path / "small.png", 20, 20)
    monkeypatch.setenv(MAX_PIXELS_ENV, "399")
    with pytest.raises(
        ImageTooLarge, match=r"small.png: image of 20x20 = 400 pixels is over the limit of 399"
    ):
        load_rgb(small)
    monkeypatch.setenv(MAX_PIXELS_ENV, "400")
    assert load_rgb(small, (7, 5)).size == (7, 5)


@pytest.mark.parametrize("bad", ["lots", "-5", "0", "1e9"])
def test_a_bad_environment_value_is_one_line(monkeypatch, tmp_path, bad):
    monkeypatch.setenv(MAX_PIXELS_ENV, bad)
    with pytest.raises(
        UserError, match=rf"environment variable {MAX_PIXELS_ENV}: must be a whole number"
    ):
        open_image(small_png(tmp_path / "a.png"))


def _rec(rel: str, w: int, h: int) -> dict:
    return {
        "id": "r0",
        "task": "rec",
        "images": [rel],
        "image_sizes": [[w, h]],
        "problem": "the thing",
        "solution": [1.0, 1.0, 3.0, 3.0],
    }


def test_validate_reports_the_bomb_in_one_line_and_the_option_raises_the_limit(tmp_path, main_cli):
    write_bomb(tmp_path / "bomb.png")
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps(_rec("bomb.png", BOMB_SIDE, BOMB_SIDE)) + "\n")
    code, out, err = main_cli("prepare-data", "validate", data)
    assert code == 1 and "Traceback" not in out + err
    problem = [ln for ln in out.splitlines() if ln.startswith(f"{data}:1:")]
    assert len(problem) == 1 and "bomb.png" in problem[0] and "--max-image-pixels" in problem[0]
    code, out, err = main_cli(
        "prepare-data", "validate", data, "--max-image-pixels", BOMB_SIDE * BOMB_SIDE
    )
    assert code == 0, out + err
    code, out, err = main_cli("prepare-data", "validate", data, "--max-image-pixels", 0)
    assert code == 2 and "--max-image-pixels" in err


def test_validate_library_call_takes_the_limit(tmp_path):
    from vlmr1_cli.data.validate import validate_file

    small_png(tmp_path / "a.png", 20, 20)
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps(_rec("a.png", 20, 20)) + "\n")
    assert validate_file(data, tmp_path).ok
    rep = validate_file(data, tmp_path, max_pixels=100)
    assert [k for k in rep.kinds] == ["image over the pixel limit"]


def test_evaluation_and_training_images_refuse_the_bomb(tmp_path):
    from vlmr1_cli.evaluate.generation import row_images

    bomb = write_bomb(tmp_path / "bomb.png")
    with pytest.raises(ImageTooLarge, match=str(bomb)):
        row_images([{"image_paths": [str(bomb)], "input_sizes": [[28, 28]]}])
    with pytest.raises(ImageTooLarge, match=str(bomb)):
        load_rgb(bomb, (28, 28))  # the loader's image transform (training) goes through here


def test_evaluation_pictures_refuse_the_bomb(tmp_path):
    from vlmr1_cli.evaluate.pictures import draw_one

    bomb = write_bomb(tmp_path / "bomb.png")
    rec = {
        "id": "r0",
        "task": "rec",
        "_image_paths": [str(bomb)],
        "problem": "x",
        "solution": [1, 1, 3, 3],
    }
    with pytest.raises(ImageTooLarge, match=str(bomb)):
        draw_one(rec, {"parsed": False, "box": None}, tmp_path / "out.png")
    assert not (tmp_path / "out.png").exists()


def test_importers_refuse_the_bomb(tmp_path):
    from vlmr1_cli.data.hf_images import probe_bytes
    from vlmr1_cli.data.lisa import convert_lisa
    from vlmr1_cli.data.vlmr1_rec import convert_vlmr1_rec

    # VLM-R1 training JSONL: sizes are read from the images
    root = tmp_path / "images"
    write_bomb(root / "bomb.jpg")
    src = tmp_path / "train.jsonl"
    src.write_text(
        json.dumps(
            {
                "id": "t0",
                "image": "bomb.jpg",
                "conversations": [
                    {"from": "human", "value": "<image>the mug"},
                    {"from": "gpt", "value": "[1, 2, 3, 4]"},
                ],
            }
        )
        + "\n"
    )
    with pytest.raises(
        ImageTooLarge, match=r"train.jsonl:1: image bomb.jpg: image of 900,000,000 pixels"
    ):
        convert_vlmr1_rec([src], tmp_path / "out.jsonl", image_root=root)
    assert not (tmp_path / "out.jsonl").exists()
    # LISA: an image beside its annotation
    lisa = tmp_path / "lisa"
    write_bomb(lisa / "a.jpg")
    (lisa / "a.json").write_text(
        json.dumps(
            {
                "text": ["the thing"],
                "is_sentence": False,
                "shapes": [
                    {"label": "target", "points": [[1, 1], [3, 1], [3, 3]], "shape_type": "polygon"}
                ],
            }
        )
    )
    with pytest.raises(ImageTooLarge, match=r"a.json: image a.jpg: image of 900,000,000 pixels"):
        convert_lisa(lisa, tmp_path / "lisa.jsonl")
    # Hugging Face rows: a bomb row is skipped with its reason, like any unusable row
    assert probe_bytes(bomb_png()) == "image over the pixel limit (decompression bomb guard)"
    # to-hf: a bomb is not shipped in a dataset
    from vlmr1_cli.data.hf_export import record_to_row

    with pytest.raises(UserError, match=r"data.jsonl:1: .*bomb.jpg: image of 900,000,000 pixels"):
        record_to_row(
            {**_rec("bomb.jpg", BOMB_SIDE, BOMB_SIDE), "images": ["bomb.jpg"]}, root, "data.jsonl:1"
        )


def test_evaluate_refuses_the_bomb_in_one_line(tmp_path, tiny_model, main_cli, monkeypatch):
    write_bomb(tmp_path / "bomb.png")
    small_png(tmp_path / "a.png", 40, 40)
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps(_rec("bomb.png", BOMB_SIDE, BOMB_SIDE)) + "\n")
    code, out, err = main_cli(
        "evaluate",
        "--model",
        tiny_model,
        "--data",
        data,
        "--output",
        tmp_path / "ev",
        "--max-new-tokens",
        2,
        "--device",
        "cpu",
    )
    assert code == 1 and "Traceback" not in err
    # refused with the image headers' check, before the model loads: FILE:LINE, then the image
    assert (
        err.strip()
        .splitlines()[-1]
        .startswith(f"error: {data}:1: {tmp_path / 'bomb.png'}: image of 900,000,000 pixels")
    )
    # --max-image-pixels reaches the images evaluation opens (here lowered under a 40x40 image)
    monkeypatch.setenv(MAX_PIXELS_ENV, str(DEFAULT_MAX_IMAGE_PIXELS))  # restored after the test
    data.write_text(json.dumps(_rec("a.png", 40, 40)) + "\n")
    code, out, err = main_cli(
        "evaluate",
        "--model",
        tiny_model,
        "--data",
        data,
        "--output",
        tmp_path / "ev2",
        "--max-new-tokens",
        2,
        "--device",
        "cpu",
        "--max-image-pixels",
        1599,
    )
    assert code == 1 and "a.png: image of 40x40 = 1,600 pixels is over the limit of 1,599" in err

"""`prepare-data hf`: the three layouts (TRL, EasyR1, ms-swift) from parquet, JSONL and the Hub
double, every box convention, images as bytes / decoded images / paths, skipped rows by reason."""

from __future__ import annotations

import hashlib
import io
import json
import struct
import zlib
from pathlib import Path

import pytest

from tests.cli_runner import run_main
from vlmr1_cli.data.hf_import import convert_hf
from vlmr1_cli.data.hf_layouts import parse_solution, to_xyxy_pixels
from vlmr1_cli.data.validate import validate_file
from vlmr1_cli.errors import UserError

from .conftest import read_jsonl


def png(width: int, height: int, color=(200, 30, 30)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, format="PNG")
    return buf.getvalue()


def jpeg(width: int, height: int, color=(30, 30, 200)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def bomb_png(width: int = 30000, height: int = 30000) -> bytes:
    """A tiny PNG whose header claims width x height pixels (over PIL's bomb limit)."""
    data = bytearray(png(4, 4))
    ihdr = 8 + 8  # signature, then length + b"IHDR"
    data[ihdr : ihdr + 8] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[12 : ihdr + 13])) & 0xFFFFFFFF
    data[ihdr + 13 : ihdr + 17] = struct.pack(">I", crc)
    return bytes(data)


def stored(image_root: Path, data: bytes, ext: str) -> str:
    digest = hashlib.sha256(data).hexdigest()
    return f"{digest[:2]}/{digest}{ext}"


def write_parquet(path: Path, columns: dict, features: dict | None = None) -> Path:
    import datasets

    feats = datasets.Features(features) if features else None
    path.parent.mkdir(parents=True, exist_ok=True)
    datasets.Dataset.from_dict(columns, features=feats).to_parquet(str(path))
    return path


def hf_meta(name: str, split: str = "train") -> dict:
    return {"source": "hf", "hf_dataset": name, "hf_split": split}


# -- pure functions ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "units", "box"),
    [
        ("xyxy", "pixels", [10, 20, 110, 70]),
        ("xywh", "pixels", [10, 20, 100, 50]),
        ("cxcywh", "pixels", [60, 45, 100, 50]),
        ("xyxy", "norm1", [0.05, 0.2, 0.55, 0.7]),
        ("xywh", "norm1", [0.05, 0.2, 0.5, 0.5]),
        ("cxcywh", "norm1", [0.3, 0.45, 0.5, 0.5]),
        ("xyxy", "norm1000", [50, 200, 550, 700]),
        ("xywh", "norm1000", [50, 200, 500, 500]),
        ("cxcywh", "norm1000", [300, 450, 500, 500]),
    ],
)
def test_every_box_convention_maps_to_original_pixels(fmt, units, box):
    assert to_xyxy_pixels(box, fmt, units, 200, 100) == [10, 20, 110, 70]


def test_solution_shapes_are_read_and_text_stays_text():
    assert parse_solution("<think>x</think><answer>[1, 2, 3, 4]</answer>") == ("box", [1, 2, 3, 4])
    assert parse_solution('```json\n{"bbox_2d": [1, 2, 3, 4], "label": "cat"}\n```') == (
        "objects",
        [([1, 2, 3, 4], "cat")],
    )
    assert parse_solution([[1, 2, 3, 4], [5, 6, 7, 8]]) == (
        "objects",
        [([1, 2, 3, 4], None), ([5, 6, 7, 8], None)],
    )
    assert parse_solution("<answer> 42 </answer>") == ("text", "42")
    assert parse_solution("the left one") == ("text", "the left one")


# -- TRL layout: every convention, images as decoded PIL images in an Image column ------------


@pytest.mark.parametrize(
    ("fmt", "units", "raw"),
    [
        ("xyxy", "pixels", "<answer>[10, 20, 110, 70]</answer>"),
        ("xywh", "pixels", '{"bbox_2d": [10, 20, 100, 50]}'),
        ("cxcywh", "norm1", "[0.3, 0.45, 0.5, 0.5]"),
        ("xywh", "norm1000", "[50, 200, 500, 500]"),
    ],
)
def test_trl_parquet_rec_rows_match_hand_made_records(tmp_path, fmt, units, raw):
    import datasets
    from PIL import Image

    pic = Image.new("RGB", (200, 100), (10, 200, 10))
    src = write_parquet(
        tmp_path / "trl.parquet",
        {"image": [pic], "problem": ["<image>the green field"], "solution": [raw]},
        {
            "image": datasets.Image(),
            "problem": datasets.Value("string"),
            "solution": datasets.Value("string"),
        },
    )
    out, root = tmp_path / "out.jsonl", tmp_path / "images"
    s = convert_hf(src, out, root, box_format=fmt, box_units=units)
    (rec,) = read_jsonl(out)
    image_bytes = (root / rec["images"][0]).read_bytes()
    assert rec == {
        "id": "train-0",
        "task": "rec",
        "images": [stored(root, image_bytes, ".png")],
        "image_sizes": [[200, 100]],
        "problem": "the green field",
        "solution": [10, 20, 110, 70],
        **hf_meta(str(src)),
        "hf_row": 0,
    }
    assert Image.open(root / rec["images"][0]).size == (200, 100)
    assert s.options["layout"] == "trl (detected from the columns)"
    assert s.notes["<image> placeholders removed from the problem"] == 1
    assert validate_file(out, root).ok


def test_trl_conversational_prompt_and_unstated_convention(tmp_path, monkeypatch, capsys):
    import datasets

    prompt = [
        {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
        {
            "role": "user",
            "content": [
                {"type": "image", "text": None},
                {"type": "text", "text": "the red square"},
            ],
        },
    ]
    src = write_parquet(
        tmp_path / "p.parquet",
        {
            "image": [{"bytes": png(64, 32), "path": None}],
            "prompt": [prompt],
            "solution": ["[1, 2, 30, 20]"],
        },
        {
            "image": datasets.Image(),
            "solution": datasets.Value("string"),
            "prompt": [
                {
                    "role": datasets.Value("string"),
                    "content": [
                        {"type": datasets.Value("string"), "text": datasets.Value("string")}
                    ],
                }
            ],
        },
    )
    out = tmp_path / "o.jsonl"
    with pytest.raises(
        UserError, match="convention is not stated: pass --box-format and --box-units"
    ):
        convert_hf(src, out, tmp_path / "img")
    assert not out.exists()
    convert_hf(src, out, tmp_path / "img", box_format="xyxy", box_units="pixels")
    (rec,) = read_jsonl(out)
    assert rec["problem"] == "the red square" and rec["solution"] == [1, 2, 30, 20]
    # the CLI says it in one line
    code, _, err = run_main(
        monkeypatch,
        capsys,
        "prepare-data",
        "hf",
        src,
        "-o",
        tmp_path / "c.jsonl",
        "--image-root",
        tmp_path / "img",
    )
    assert code == 1 and err.count("\n") == 1
    assert err.startswith("error: ") and "--box-format and --box-units" in err


# -- EasyR1 layout: images as raw bytes, REC and OVD rows, skips counted ------------------------


def test_easyr1_parquet_rows_skips_and_deduplicated_images(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    a, b = png(100, 80), jpeg(60, 40)
    rows = [
        ([a], "<image>Where is the dog?", "<answer>[0.01, 0.01, 0.05, 0.05]</answer>", None),
        ([a], "<image>the cat", "[0.1, 0.125, 0.5, 0.5]", None),  # same image: written once
        (
            [b],
            "Find them.",
            json.dumps(
                [
                    {"bbox_2d": [0, 0, 0.5, 0.5], "label": "cup"},
                    {"bbox_2d": [0.5, 0.5, 1, 1], "label": "cup"},
                ]
            ),
            ["cup", "plate"],
        ),
        ([b], "empty image", "[]", ["plate"]),
        ([a], "degenerate", "[0.5, 0.5, 0.5, 0.9]", None),
        ([a], "outside", "[0.5, 0.5, 1.2, 0.9]", None),
        ([b"not an image"], "broken", "[0, 0, 0.5, 0.5]", None),
        ([bomb_png()], "bomb", "[0, 0, 0.5, 0.5]", None),
        ([a], "a text answer", "<answer>42</answer>", None),
        ([a, b], "two images", "[0, 0, 0.5, 0.5]", None),
        (
            [b],
            "label not queried",
            json.dumps([{"bbox_2d": [0, 0, 1, 1], "label": "fork"}]),
            ["cup"],
        ),
    ]
    table = pa.table(
        {
            "images": [r[0] for r in rows],
            "problem": [r[1] for r in rows],
            "answer": [r[2] for r in rows],
            "labels": [r[3] for r in rows],
        }
    )
    src = tmp_path / "easy" / "train.parquet"
    src.parent.mkdir()
    pq.write_table(table, src)
    out, root = tmp_path / "easy.jsonl", tmp_path / "images"
    s = convert_hf(src, out, root, box_format="xyxy", box_units="norm1")
    recs = {r["id"]: r for r in read_jsonl(out)}
    ia, ib = stored(root, a, ".png"), stored(root, b, ".jpg")
    meta = hf_meta(str(src))
    assert recs == {
        "train-0": {
            "id": "train-0",
            "task": "rec",
            "images": [ia],
            "image_sizes": [[100, 80]],
            "problem": "Where is the dog?",
            "solution": [1, 0.8, 5, 4],
            **meta,
            "hf_row": 0,
        },
        "train-1": {
            "id": "train-1",
            "task": "rec",
            "images": [ia],
            "image_sizes": [[100, 80]],
            "problem": "the cat",
            "solution": [10, 10, 50, 40],
            **meta,
            "hf_row": 1,
        },
        "train-2": {
            "id": "train-2",
            "task": "ovd",
            "images": [ib],
            "image_sizes": [[60, 40]],
            "problem": "Find them.",
            "labels": ["cup", "plate"],
            "solution": [
                {"bbox_2d": [0, 0, 30, 20], "label": "cup"},
                {"bbox_2d": [30, 20, 60, 40], "label": "cup"},
            ],
            **meta,
            "hf_row": 2,
        },
        "train-3": {
            "id": "train-3",
            "task": "ovd",
            "images": [ib],
            "image_sizes": [[60, 40]],
            "problem": "empty image",
            "labels": ["plate"],
            "solution": [],
            **meta,
            "hf_row": 3,
        },
    }
    assert (root / ia).read_bytes() == a and (root / ib).read_bytes() == b
    assert sorted(p.name for p in root.rglob("*") if p.is_file()) == sorted(
        [Path(ia).name, Path(ib).name]
    )
    assert s.written == 4
    assert dict(s.skipped) == {
        "degenerate box": 1,
        "box outside the image": 1,
        "image not readable": 1,
        "image over the pixel limit (decompression bomb guard)": 1,
        "solution is not a box or a list of objects (text answers: --task text)": 1,
        "multi-image row (rec and ovd rows need exactly one image)": 1,
        "ovd row: a solution label is not among the labels": 1,
    }
    assert s.notes["images written"] == 2
    assert validate_file(out, root).ok
    # a rerun reuses the images already there
    s2 = convert_hf(src, tmp_path / "again.jsonl", root, box_format="xyxy", box_units="norm1")
    assert s2.notes["image already under the image root (same content)"] == 4
    assert "images written" not in s2.notes


def test_text_task_keeps_answers(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    src = tmp_path / "math.parquet"
    pq.write_table(
        pa.table(
            {
                "images": [[png(8, 8)], []],
                "problem": ["<image>2+2?", "1+1?"],
                "answer": ["<answer> 4 </answer>", "2"],
            }
        ),
        src,
    )
    out = tmp_path / "t.jsonl"
    convert_hf(src, out, tmp_path / "img", task="text")
    recs = read_jsonl(out)
    assert [(r["task"], r["problem"], r["solution"], len(r["images"])) for r in recs] == [
        ("text", "2+2?", "4", 1),
        ("text", "1+1?", "2", 0),
    ]
    assert validate_file(out, tmp_path / "img").ok


# -- ms-swift layout: images as paths, objects with bbox_type -----------------------------------


def test_swift_parquet_objects_with_paths(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "swift"
    (folder / "pics").mkdir(parents=True)
    big, small = png(400, 200), jpeg(50, 50)
    (folder / "pics" / "big.png").write_bytes(big)
    (folder / "pics" / "small.jpg").write_bytes(small)
    objects = [
        {
            "ref": ["the left dog"],
            "bbox": [[100, 200, 500, 700]],
            "bbox_type": "norm1000",
            "image_id": [0],
        },
        {
            "ref": ["dog", "woman"],
            "bbox": [[10, 20, 110, 120], [200, 0, 400, 200]],
            "bbox_type": "real",
            "image_id": [0, 0],
        },
        {
            "ref": ["sheep"],
            "bbox": [[0.0, 0.0, 0.5, 0.5], [0.5, 0.5, 1.0, 1.0]],
            "bbox_type": "norm1",
            "image_id": [0, 0],
        },
        {"ref": ["far"], "bbox": [[300, 150, 450, 210]], "bbox_type": "real", "image_id": [0]},
        {
            "ref": ["a", "b", "c"],
            "bbox": [[1, 1, 2, 2], [2, 2, 3, 3]],
            "bbox_type": "real",
            "image_id": [0, 0],
        },
    ]
    images = [
        ["pics/big.png"],
        ["pics/big.png"],
        ["pics/small.jpg"],
        ["pics/big.png"],
        ["pics/big.png"],
    ]
    messages = [
        [
            {"role": "user", "content": "<image>Find the <ref-object>"},
            {"role": "assistant", "content": "<bbox>"},
        ]
    ] * 5
    pq.write_table(
        pa.table({"messages": messages, "images": images, "objects": objects}),
        folder / "train.parquet",
    )
    out, root = tmp_path / "swift.jsonl", tmp_path / "img"
    s = convert_hf(folder / "train.parquet", out, root)
    ibig, ismall = stored(root, big, ".png"), stored(root, small, ".jpg")
    meta = hf_meta(str(folder / "train.parquet"))
    assert read_jsonl(out) == [
        {
            "id": "train-0",
            "task": "rec",
            "images": [ibig],
            "image_sizes": [[400, 200]],
            "problem": "the left dog",
            "solution": [40, 40, 200, 140],
            **meta,
            "hf_row": 0,
        },
        {
            "id": "train-1",
            "task": "ovd",
            "images": [ibig],
            "image_sizes": [[400, 200]],
            "problem": "",
            "solution": [
                {"bbox_2d": [10, 20, 110, 120], "label": "dog"},
                {"bbox_2d": [200, 0, 400, 200], "label": "woman"},
            ],
            "labels": ["dog", "woman"],
            **meta,
            "hf_row": 1,
        },
        {
            "id": "train-2",
            "task": "ovd",
            "images": [ismall],
            "image_sizes": [[50, 50]],
            "problem": "",
            "solution": [
                {"bbox_2d": [0, 0, 25, 25], "label": "sheep"},
                {"bbox_2d": [25, 25, 50, 50], "label": "sheep"},
            ],
            "labels": ["sheep"],
            **meta,
            "hf_row": 2,
        },
    ]
    assert dict(s.skipped) == {"box outside the image": 1, "objects: ref and bbox counts differ": 1}
    assert s.options["layout"] == "swift (detected from the columns)"
    assert validate_file(out, root).ok
    with pytest.raises(UserError, match="--box-format must be xyxy"):
        convert_hf(folder / "train.parquet", out, root, box_format="xywh")
    with pytest.raises(
        UserError, match=r"row 0: the row states bbox_type for norm1000 but --box-units is pixels"
    ):
        convert_hf(folder / "train.parquet", out, root, box_units="pixels")


def test_image_paths_resolve_under_the_source_root_only(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "secret.png").write_bytes(png(4, 4))
    (tmp_path / "elsewhere" / "pics").mkdir(parents=True)
    (tmp_path / "elsewhere" / "pics" / "a.png").write_bytes(png(6, 3))
    src = tmp_path / "data" / "x.parquet"
    src.parent.mkdir()
    opts = {"box_format": "xyxy", "box_units": "pixels"}
    pq.write_table(
        pa.table({"image": ["../secret.png"], "problem": ["p"], "solution": ["[0, 0, 1, 1]"]}), src
    )
    with pytest.raises(
        UserError, match=r"x.parquet \[train\] row 0: image path '../secret.png' escapes"
    ):
        convert_hf(src, tmp_path / "o.jsonl", tmp_path / "img", **opts)
    pq.write_table(
        pa.table({"image": ["pics/a.png"], "problem": ["p"], "solution": ["[0, 0, 1, 1]"]}), src
    )
    s = convert_hf(src, tmp_path / "o.jsonl", tmp_path / "img", **opts)  # relative to data/
    assert s.written == 0 and dict(s.skipped) == {"image file not found": 1}
    convert_hf(
        src, tmp_path / "o.jsonl", tmp_path / "img", source_root=tmp_path / "elsewhere", **opts
    )
    assert read_jsonl(tmp_path / "o.jsonl")[0]["image_sizes"] == [[6, 3]]


def test_save_to_disk_folder_and_arrow_file(tmp_path):
    import datasets

    ds = datasets.Dataset.from_dict(
        {
            "image": [{"bytes": png(30, 30), "path": None}] * 2,
            "problem": ["a", "b"],
            "solution": ["[0, 0, 10, 10]", "https://example.invalid/x.png"],
            "id": ["k1", "k2"],
        },
        features=datasets.Features(
            {
                "image": datasets.Image(),
                "problem": datasets.Value("string"),
                "solution": datasets.Value("string"),
                "id": datasets.Value("string"),
            }
        ),
    )
    ds.save_to_disk(str(tmp_path / "saved"))
    opts = {"box_format": "xyxy", "box_units": "pixels"}
    s = convert_hf(tmp_path / "saved", tmp_path / "a.jsonl", tmp_path / "img", **opts)
    assert [r["id"] for r in read_jsonl(tmp_path / "a.jsonl")] == ["k1"]
    assert dict(s.skipped) == {
        "solution is not a box or a list of objects (text answers: --task text)": 1
    }
    (arrow,) = (tmp_path / "saved").glob("*.arrow")
    convert_hf(arrow, tmp_path / "b.jsonl", tmp_path / "img", **opts)
    assert read_jsonl(tmp_path / "b.jsonl")[0]["solution"] == [0, 0, 10, 10]


def test_image_urls_are_counted_not_fetched(tmp_path):
    (tmp_path / "d.jsonl").write_text(
        json.dumps(
            {"images": ["https://example.invalid/a.jpg"], "problem": "p", "answer": "[0, 0, 1, 1]"}
        )
        + "\n"
    )
    s = convert_hf(
        tmp_path / "d.jsonl",
        tmp_path / "o.jsonl",
        tmp_path / "img",
        box_format="xyxy",
        box_units="pixels",
    )
    assert dict(s.skipped) == {"image is a URL (download the images, then pass --source-root)": 1}


def test_jsonl_source_with_columns_mapped(tmp_path):
    (tmp_path / "a.png").write_bytes(png(20, 10))
    src = tmp_path / "d.jsonl"
    src.write_text(
        json.dumps({"uid": "x1", "img": "a.png", "q": "thing", "box": [2, 1, 12, 9]}) + "\n"
    )
    out = tmp_path / "o.jsonl"
    convert_hf(
        src,
        out,
        tmp_path / "img",
        layout="trl",
        box_format="xyxy",
        box_units="pixels",
        columns={"image": "img", "problem": "q", "solution": "box", "id": "uid"},
    )
    (rec,) = read_jsonl(out)
    assert (rec["id"], rec["problem"], rec["solution"], rec["image_sizes"]) == (
        "x1",
        "thing",
        [2, 1, 12, 9],
        [[20, 10]],
    )


def test_json_array_file_is_read(tmp_path):
    """A `.json` file holding an array streams with unknown features: its rows still convert."""
    (tmp_path / "a.png").write_bytes(png(20, 10))
    src = tmp_path / "d.json"
    src.write_text(
        json.dumps([{"image": "a.png", "problem": "thing", "solution": "[2, 1, 12, 9]"}])
    )
    out = tmp_path / "o.jsonl"
    s = convert_hf(src, out, tmp_path / "img", box_format="xyxy", box_units="pixels")
    (rec,) = read_jsonl(out)
    assert (s.written, rec["solution"], rec["image_sizes"]) == (1, [2, 1, 12, 9], [[20, 10]])


@pytest.mark.parametrize(
    "name, text, why",
    [
        ("d.json", '[{"image": "a.png", "problem": "x", ', "reading split 'train' failed"),
        ("d.json", "[" * 5000 + "]" * 5000, "reading split 'train' failed"),
        ("d.jsonl", "", "no rows"),
    ],
)
def test_broken_local_json_is_one_line_naming_it(tmp_path, name, text, why):
    src = tmp_path / name
    src.write_text(text)
    with pytest.raises(UserError) as e:
        convert_hf(
            src, tmp_path / "o.jsonl", tmp_path / "img", box_format="xyxy", box_units="pixels"
        )
    assert str(e.value).startswith(f"{src}: ") and why in str(e.value)


# -- errors: one line, naming what to fix -------------------------------------------------------


def test_bad_column_and_unknown_source_are_one_line(tmp_path, cli, monkeypatch, capsys):
    import pyarrow as pa
    import pyarrow.parquet as pq

    src = tmp_path / "x.parquet"
    pq.write_table(
        pa.table({"image": [png(4, 4)], "problem": ["p"], "solution": ["[0, 0, 1, 1]"]}), src
    )
    r = cli(
        "prepare-data",
        "hf",
        src,
        "-o",
        tmp_path / "o.jsonl",
        "--image-root",
        tmp_path / "i",
        "--image-column",
        "picture",
        "--box-format",
        "xyxy",
        "--box-units",
        "pixels",
    )
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and r.stderr.startswith("error: ")
    assert (
        "--image-column 'picture' is not a column (columns: image, problem, solution)" in r.stderr
    )

    def run(*args: object) -> tuple[int, str]:
        code, _, err = run_main(
            monkeypatch,
            capsys,
            "prepare-data",
            "hf",
            *args,
            "-o",
            tmp_path / "o.jsonl",
            "--image-root",
            tmp_path / "i",
        )
        return code, err

    code, err = run(tmp_path / "nope.parquet")
    assert code == 1 and "nope.parquet: no such file or folder, and not a Hub dataset id" in err
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    code, err = run("org/not-cached")
    assert code == 1 and err.count("\n") == 1
    assert (
        "Hub dataset 'org/not-cached': the Hub is off (HF_HUB_OFFLINE=1) and it is not in the "
        "local cache" in err
    )
    pq.write_table(pa.table({"picture": [png(4, 4)], "text": ["p"]}), tmp_path / "y.parquet")
    code, err = run(tmp_path / "y.parquet")
    assert code == 1 and err.count("\n") == 1
    assert "cannot tell the layout from the columns (picture, text); pass --layout" in err
    code, err = run(tmp_path / "y.parquet", "--layout", "easyr1")
    assert (
        code == 1
        and "no image column for the easyr1 layout (looked for 'images', 'image'; "
        "columns: picture, text); pass --image-column"
        in err
    )
    code, err = run(src, "--box-units", "inches")
    assert code == 2 and "pixels" in err  # Typer lists the choices
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 not really")
    code, err = run(tmp_path / "bad.parquet")
    assert code == 1 and err.count("\n") == 1 and "bad.parquet: cannot read the dataset" in err
    assert not (tmp_path / "o.jsonl").exists()


# -- the Hub: a dataset repo served by the double ----------------------------------------------


def _hub_repo_files(tmp_path: Path) -> tuple[dict[str, bytes], bytes]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    image = png(120, 60)
    files = {}
    for config, problem in (("rec", "the red box"), ("other", "other config")):
        path = tmp_path / f"{config}.parquet"
        pq.write_table(
            pa.table(
                {"images": [[image]], "problem": [problem], "answer": ["[0.25, 0.5, 0.75, 1.0]"]}
            ),
            path,
        )
        files[f"{config}/train-00000-of-00001.parquet"] = path.read_bytes()
    return files, image


def test_hub_dataset_through_the_double(tmp_path, hub):
    files, image = _hub_repo_files(tmp_path)
    sha = hub.add_repo("org/grounding", files, repo_type="dataset")
    out, root = tmp_path / "hub.jsonl", tmp_path / "img"
    s = convert_hf("org/grounding", out, root, config="rec", box_format="xyxy", box_units="norm1")
    (rec,) = read_jsonl(out)
    assert rec == {
        "id": "train-0",
        "task": "rec",
        "images": [stored(root, image, ".png")],
        "image_sizes": [[120, 60]],
        "problem": "the red box",
        "solution": [30, 30, 90, 60],
        **hf_meta("org/grounding"),
        "hf_row": 0,
    }
    assert s.options["revision"] == sha and s.options["config"] == "rec"
    assert validate_file(out, root).ok
    convert_hf(
        "org/grounding",
        out,
        root,
        config="other",
        revision=sha,
        box_format="xyxy",
        box_units="norm1",
    )
    assert read_jsonl(out)[0]["problem"] == "other config"
    with pytest.raises(UserError, match="no config or subfolder 'nope'.*subfolders: other, rec"):
        convert_hf("org/grounding", out, root, config="nope")
    with pytest.raises(UserError, match="Hub dataset 'org/grounding': revision 'v9' not found"):
        convert_hf("org/grounding", out, root, revision="v9")


def test_hub_errors_name_the_id(tmp_path, hub, cli, monkeypatch, capsys):
    files, _ = _hub_repo_files(tmp_path)
    hub.add_repo("org/gated", files, repo_type="dataset", gated=True)
    r = cli(
        "prepare-data", "hf", "org/missing", "-o", tmp_path / "o.jsonl", "--image-root", tmp_path
    )
    assert r.returncode == 1 and r.stderr.count("\n") == 1
    assert r.stderr.startswith("error: Hub dataset 'org/missing' not found")

    def run(source: str) -> tuple[int, str]:
        code, _, err = run_main(
            monkeypatch,
            capsys,
            "prepare-data",
            "hf",
            source,
            "-o",
            tmp_path / "o.jsonl",
            "--image-root",
            tmp_path,
        )
        return code, err

    code, err = run("org/gated")
    assert code == 1 and "error: Hub dataset 'org/gated' is gated" in err
    hub.stop()  # unreachable, and nothing cached for this id
    code, err = run("org/other")
    assert (
        code == 1
        and err.count("\n") == 1
        and "Hub dataset 'org/other': cannot reach the Hub" in err
    )


# -- lmms-eval's RefCOCO (lmms-lab/RefCOCO): expressions as a list, COCO xywh pixel boxes -------

LMMS_INSTRUCTION = (
    "Please carefully observe the area circled in the image and come up with a "
    "caption for the area."
)
# lmms-lab/RefCOCO's dataset card, cut to the features and the configs block (two splits here)
LMMS_CARD = b"""---
dataset_info:
  features:
  - name: question_id
    dtype: string
  - name: image
    dtype: image
  - name: question
    dtype: string
  - name: answer
    sequence: string
  - name: segmentation
    sequence: float32
  - name: bbox
    sequence: float32
  - name: iscrowd
    dtype: int8
  - name: file_name
    dtype: string
  splits:
  - name: val
    num_examples: 4
  - name: testA
    num_examples: 1
configs:
- config_name: default
  data_files:
  - split: val
    path: data/val-*
  - split: testA
    path: data/testA-*
---
# RefCOCO
"""


def lmms_features():
    import datasets

    return {
        "question_id": datasets.Value("string"),
        "image": datasets.Image(),
        "question": datasets.Value("string"),
        "answer": datasets.Sequence(datasets.Value("string")),
        "segmentation": datasets.Sequence(datasets.Value("float32")),
        "bbox": datasets.Sequence(datasets.Value("float32")),
        "iscrowd": datasets.Value("int8"),
        "file_name": datasets.Value("string"),
    }


def lmms_rows(image_a: bytes, image_b: bytes, split_rows: list[tuple]) -> dict:
    """Columns in lmms-lab/RefCOCO's layout from (question_id, image, expressions, xywh box)."""
    return {
        "question_id": [r[0] for r in split_rows],
        "image": [
            {"bytes": r[1], "path": f"COCO_train2014_{i:012d}.jpg"}
            for i, r in enumerate(split_rows)
        ],
        "question": [LMMS_INSTRUCTION] * len(split_rows),
        "answer": [r[2] for r in split_rows],
        "segmentation": [
            [r[3][0], r[3][1], r[3][0] + r[3][2], r[3][1] + r[3][3]] for r in split_rows
        ],
        "bbox": [r[3] for r in split_rows],
        "iscrowd": [0] * len(split_rows),
        "file_name": [f"COCO_train2014_{i:012d}_{r[0]}.jpg" for i, r in enumerate(split_rows)],
    }


def lmms_refcoco_files(tmp_path: Path) -> tuple[dict[str, bytes], bytes, bytes]:
    """The repo's files: README card, val (4 rows) and testA (1 row) parquet shards."""
    a, b = jpeg(64, 48), png(40, 30)
    val = [
        ("3041", a, ["the lady with the blue shirt", "lady w back to us"], [4.5, 8.0, 20.0, 10.25]),
        ("3042", a, ["bottom left"], [0.0, 30.0, 16.0, 18.0]),
        ("3043", b, [], [1.0, 1.0, 2.0, 2.0]),
        ("3044", b, ["far right", "right edge"], [30.0, 20.0, 20.0, 20.0]),
    ]  # overhangs 40x30
    test_a = [("9001", b, ["center"], [10.0, 10.0, 20.0, 10.0])]
    files = {"README.md": LMMS_CARD}
    for split, rows in (("val", val), ("testA", test_a)):
        path = write_parquet(
            tmp_path / "shards" / f"{split}.parquet", lmms_rows(a, b, rows), lmms_features()
        )
        files[f"data/{split}-00000-of-00001.parquet"] = path.read_bytes()
    return files, a, b


def lmms_expected(root: Path, image: bytes, name: str) -> list[dict]:
    img = stored(root, image, ".jpg")
    meta = {**hf_meta(name, "val"), "image_sizes": [[64, 48]], "images": [img], "task": "rec"}
    return [
        {
            "id": "3041-0",
            "problem": "the lady with the blue shirt",
            "solution": [4.5, 8, 24.5, 18.25],
            **meta,
            "hf_row": 0,
            "hf_text_index": 0,
        },
        {
            "id": "3041-1",
            "problem": "lady w back to us",
            "solution": [4.5, 8, 24.5, 18.25],
            **meta,
            "hf_row": 0,
            "hf_text_index": 1,
        },
        {
            "id": "3042-0",
            "problem": "bottom left",
            "solution": [0, 30, 16, 48],
            **meta,
            "hf_row": 1,
            "hf_text_index": 0,
        },
    ]


def test_lmms_refcoco_folder_and_hub_give_one_record_per_expression(
    tmp_path, hub, monkeypatch, capsys
):
    files, a, _ = lmms_refcoco_files(tmp_path)
    folder = tmp_path / "RefCOCO"
    for rel, data in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
    out, root = tmp_path / "local.jsonl", tmp_path / "img"
    s = convert_hf(folder, out, root, split="val")
    assert read_jsonl(out) == lmms_expected(root, a, str(folder))
    assert s.options["layout"] == "lmms-refcoco (detected from the columns)"
    assert (s.options["box_format"], s.options["box_units"], s.options["texts"]) == (
        "xywh",
        "pixels",
        "all",
    )
    assert s.options["columns"] == {
        "image": "image",
        "problem": "answer",
        "solution": "bbox",
        "labels": None,
        "id": "question_id",
    }
    # the overhanging box skips both of its expressions; the empty list skips its row
    assert dict(s.skipped) == {"box outside the image": 2, "problem is an empty list of texts": 1}
    assert s.notes["rows whose problem is a list of texts (one record per text)"] == 2
    assert validate_file(out, root).ok

    # the Hub double serving the same repo; the README's command line, verbatim
    sha = hub.add_repo("lmms-lab/RefCOCO", files, repo_type="dataset")
    hub_out, hub_root = tmp_path / "data" / "refcoco_val.jsonl", tmp_path / "data" / "img"
    monkeypatch.chdir(tmp_path)
    code, _, err = run_main(
        monkeypatch,
        capsys,
        "prepare-data",
        "hf",
        "lmms-lab/RefCOCO",
        "--split",
        "val",
        "-o",
        "data/refcoco_val.jsonl",
        "--image-root",
        "data/img",
    )
    assert code == 0, err
    assert read_jsonl(hub_out) == lmms_expected(hub_root, a, "lmms-lab/RefCOCO")
    assert (
        json.loads((tmp_path / "data" / "refcoco_val.meta.json").read_text())["options"]["revision"]
        == sha
    )
    assert validate_file(hub_out, hub_root).ok
    s = convert_hf("lmms-lab/RefCOCO", tmp_path / "a.jsonl", root, split="testA")
    assert [(r["id"], r["solution"]) for r in read_jsonl(tmp_path / "a.jsonl")] == [
        ("9001-0", [10, 10, 30, 20])
    ]


def test_lmms_refcoco_first_text_and_stated_convention(tmp_path):
    files, a, _ = lmms_refcoco_files(tmp_path)
    src = tmp_path / "val.parquet"
    src.write_bytes(files["data/val-00000-of-00001.parquet"])
    out, root = tmp_path / "first.jsonl", tmp_path / "img"
    s = convert_hf(src, out, root, texts="first")
    recs = read_jsonl(out)
    assert [(r["id"], r["problem"], r["hf_text_index"]) for r in recs] == [
        ("3041-0", "the lady with the blue shirt", 0),
        ("3042-0", "bottom left", 0),
    ]
    assert dict(s.skipped) == {"box outside the image": 1, "problem is an empty list of texts": 1}
    assert s.notes["rows whose problem is a list of texts (first text only)"] == 2
    # repeating the preset's convention is fine; contradicting it is one clear error
    convert_hf(src, out, root, box_format="xywh", box_units="pixels")
    assert len(read_jsonl(out)) == 3
    for wrong in ({"box_format": "xyxy"}, {"box_units": "norm1"}):
        with pytest.raises(
            UserError,
            match=r"lmms-eval's RefCOCO datasets \(lmms-refcoco layout\) store "
            r"xywh boxes in original-image pixels: drop --box-format",
        ):
            convert_hf(src, out, root, **wrong)
    with pytest.raises(UserError, match="--task text does not fit the lmms-refcoco layout"):
        convert_hf(src, out, root, task="text")


def test_explicit_columns_need_no_layout(tmp_path, monkeypatch, capsys):
    import datasets

    image = png(50, 40)
    feats = {
        "qid": datasets.Value("string"),
        "picture": datasets.Image(),
        "refs": datasets.Sequence(datasets.Value("string")),
        "box": datasets.Sequence(datasets.Value("float32")),
        "solution": datasets.Value("string"),
    }
    src = write_parquet(
        tmp_path / "mine.parquet",
        {
            "qid": ["q1", "q2"],
            "picture": [{"bytes": image, "path": None}] * 2,
            "refs": [["the cup", "white cup"], ["  "]],
            "box": [[0.5, 0.5, 10.0, 20.0], [1.0, 2.0, 3.0, 4.0]],
            "solution": ["not used", "not used"],
        },
        feats,
    )
    columns = {"image": "picture", "problem": "refs", "solution": "box", "id": "qid"}
    # `solution` makes it look like TRL's layout; naming another solution column rules that out
    with pytest.raises(UserError, match="no image column for the trl layout"):
        convert_hf(
            src, tmp_path / "o.jsonl", tmp_path / "img", box_format="xywh", box_units="pixels"
        )
    out = tmp_path / "o.jsonl"
    s = convert_hf(
        src, out, tmp_path / "img", columns=columns, box_format="xywh", box_units="pixels"
    )
    img = stored(tmp_path / "img", image, ".png")
    base = {
        "task": "rec",
        "images": [img],
        "image_sizes": [[50, 40]],
        "solution": [0.5, 0.5, 10.5, 20.5],
        **hf_meta(str(src)),
        "hf_row": 0,
    }
    assert read_jsonl(out) == [
        {"id": "q1-0", "problem": "the cup", **base, "hf_text_index": 0},
        {"id": "q1-1", "problem": "white cup", **base, "hf_text_index": 1},
    ]
    assert s.options["layout"] == "none (columns given by the options)"
    assert dict(s.skipped) == {"empty problem": 1}
    assert validate_file(out, tmp_path / "img").ok
    # a column set no preset knows, mapped on the command line (the repro of the original refusal)
    plain = tmp_path / "plain.parquet"
    write_parquet(
        plain,
        {
            "qid": ["q1"],
            "picture": [{"bytes": image, "path": None}],
            "refs": [["the cup"]],
            "box": [[0.5, 0.5, 10.0, 20.0]],
        },
        {k: feats[k] for k in ("qid", "picture", "refs", "box")},
    )
    code, _, err = run_main(
        monkeypatch,
        capsys,
        "prepare-data",
        "hf",
        plain,
        "-o",
        tmp_path / "p.jsonl",
        "--image-root",
        tmp_path / "img",
        "--box-format",
        "xywh",
        "--box-units",
        "pixels",
        "--problem-column",
        "refs",
        "--solution-column",
        "box",
        "--image-column",
        "picture",
    )
    assert code == 0, err
    assert [(r["id"], r["solution"]) for r in read_jsonl(tmp_path / "p.jsonl")] == [
        ("train-0-0", [0.5, 0.5, 10.5, 20.5])
    ]
    code, _, err = run_main(
        monkeypatch,
        capsys,
        "prepare-data",
        "hf",
        plain,
        "-o",
        tmp_path / "p.jsonl",
        "--image-root",
        tmp_path / "img",
        "--problem-column",
        "refs",
    )
    assert code == 1 and err.count("\n") == 1
    assert "cannot tell the layout from the columns (qid, picture, refs, box); pass --layout" in err

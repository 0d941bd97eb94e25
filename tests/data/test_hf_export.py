"""`prepare-data to-hf`: JSONL -> parquet dataset (images embedded) -> back to the same records;
and `--push-to-hub` through the Hub double."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_runner import run_main
from vlmr1_cli.data.hf_export import export_to_folder, push_folder
from vlmr1_cli.data.hf_import import convert_hf
from vlmr1_cli.data.validate import validate_file
from vlmr1_cli.errors import UserError

from .conftest import read_jsonl
from .test_hf_import import jpeg, png


def write_source(tmp_path: Path) -> tuple[Path, list[dict]]:
    """A JSONL with REC, OVD and text records, extra keys, shared and distinct images."""
    root = tmp_path / "src"
    (root / "imgs").mkdir(parents=True)
    (root / "imgs" / "a.png").write_bytes(png(120, 80))
    (root / "imgs" / "b.jpg").write_bytes(jpeg(64, 48))
    records = [
        {
            "id": "r1",
            "task": "rec",
            "images": ["imgs/a.png"],
            "image_sizes": [[120, 80]],
            "problem": "the red block",
            "solution": [10.5, 20, 60.25, 70],
            "source": "refcoco",
            "split": "val",
            "ref_id": 7,
        },
        {
            "id": "o1",
            "task": "ovd",
            "images": ["imgs/b.jpg"],
            "image_sizes": [[64, 48]],
            "problem": "",
            "solution": [{"bbox_2d": [1, 2, 30, 40], "label": "cup"}],
            "labels": ["cup", "plate"],
            "negatives": ["plate"],
            "gt_file": "gt.json",
            "image_id": 3,
        },
        {
            "id": "o2",
            "task": "ovd",
            "images": ["imgs/a.png"],
            "image_sizes": [[120, 80]],
            "problem": "",
            "solution": [],
            "labels": ["dog"],
        },
        {
            "id": "t1",
            "task": "text",
            "images": [],
            "image_sizes": [],
            "problem": "2+2?",
            "solution": "4",
        },
    ]
    src = root / "data.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return src, records


def same_records(got: list[dict], want: list[dict], got_root: Path, want_root: Path) -> None:
    """Equal in every key; images compared by content (the import names them by hash)."""
    assert [r["id"] for r in got] == [r["id"] for r in want]
    for g, w in zip(got, want, strict=True):
        assert {k: v for k, v in g.items() if k != "images"} == {
            k: v for k, v in w.items() if k != "images"
        }
        assert [(got_root / p).read_bytes() for p in g["images"]] == [
            (want_root / p).read_bytes() for p in w["images"]
        ]


def test_round_trip_jsonl_parquet_jsonl(tmp_path):
    import datasets

    src, records = write_source(tmp_path)
    out = tmp_path / "hfds"
    s = export_to_folder(src, out)
    assert (s.records, s.images, s.shards) == (4, 3, ["data/train-00000-of-00001.parquet"])
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [
        "README.md",
        "data",
        "data/train-00000-of-00001.parquet",
    ]
    assert "path: data/train-*" in (out / "README.md").read_text()
    # any reader: datasets.load_dataset("parquet", ...) with images as an Image feature
    ds = datasets.load_dataset(
        "parquet",
        data_files=str(out / "data" / "*.parquet"),
        split="train",
        cache_dir=str(tmp_path / "cache"),
    )
    assert ds.num_rows == 4 and isinstance(ds.features["images"].feature, datasets.Image)
    assert (
        ds[0]["images"][0].size == (120, 80) and json.loads(ds[1]["solution"])[0]["label"] == "cup"
    )
    assert ds[0]["labels"] is None and ds[2]["labels"] == ["dog"]
    # and back: the vlmr1 layout is detected, records identical
    back, root = tmp_path / "back.jsonl", tmp_path / "images"
    s2 = convert_hf(out, back, root)
    assert s2.options["layout"] == "vlmr1 (detected from the columns)" and not s2.skipped
    same_records(read_jsonl(back), records, root, src.parent)
    assert s2.notes["images written"] == 2  # a.png is used twice, stored once
    assert validate_file(back, root).ok


def test_shards_split_by_size(tmp_path):
    import datasets

    src, records = write_source(tmp_path)
    out = tmp_path / "sharded"
    s = export_to_folder(src, out, split="validation", max_shard_bytes=1)
    assert s.shards == [f"data/validation-{i:05d}-of-00004.parquet" for i in range(4)]
    ds = datasets.load_dataset(
        "parquet",
        data_files=str(out / "data" / "*.parquet"),
        split="train",
        cache_dir=str(tmp_path / "cache"),
    )
    assert ds["id"] == ["r1", "o1", "o2", "t1"]
    convert_hf(out, tmp_path / "back.jsonl", tmp_path / "img", split="validation")
    same_records(read_jsonl(tmp_path / "back.jsonl"), records, tmp_path / "img", src.parent)


def test_export_refuses_bad_input_in_one_line(tmp_path, monkeypatch, capsys):
    src, records = write_source(tmp_path)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("mine")

    def run(path: Path, *more: object) -> tuple[int, str]:
        code, _, err = run_main(monkeypatch, capsys, "prepare-data", "to-hf", path, *more)
        return code, err

    code, err = run(src, "-o", tmp_path / "busy")
    assert (
        code == 1
        and err.count("\n") == 1
        and "busy: already exists and is not an empty folder" in err
    )
    assert (tmp_path / "busy" / "keep.txt").read_text() == "mine"
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        json.dumps(records[0]) + "\n" + json.dumps({**records[1], "solution": [[1, 2]]}) + "\n"
    )
    code, err = run(bad, "-o", tmp_path / "x", "--image-root", src.parent)
    assert code == 1 and err.count("\n") == 1 and "bad.jsonl:2: key 'solution'" in err
    missing = tmp_path / "missing.jsonl"
    missing.write_text(json.dumps({**records[0], "images": ["imgs/none.png"]}) + "\n")
    code, err = run(missing, "-o", tmp_path / "x", "--image-root", src.parent)
    assert code == 1 and "missing.jsonl:1: image not found: imgs/none.png" in err
    escape = tmp_path / "escape.jsonl"
    escape.write_text(json.dumps({**records[0], "images": ["../../etc/passwd"]}) + "\n")
    code, err = run(escape, "-o", tmp_path / "x", "--image-root", src.parent)
    assert code == 1 and "escapes the image root" in err
    assert not (tmp_path / "x").exists()  # nothing half-written
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".x.")]
    code, err = run(src, "-o", tmp_path / "x", "--private")
    assert code == 1 and "--private and --revision apply to --push-to-hub" in err


@pytest.mark.parametrize(
    "damage, why",
    [
        (lambda b: b[: len(b) // 2], "imgs/a.png is not readable, or truncated"),
        (None, "imgs/a.png is 120x80 but the record's image_sizes says 240x160"),
    ],
)
def test_export_refuses_a_truncated_or_missized_image(tmp_path, damage, why):
    """The image is decoded to the end and measured: a truncated file or boxes measured on
    another size of image are not shipped in the dataset."""
    src, records = write_source(tmp_path)
    image = src.parent / "imgs" / "a.png"
    rec = records[0]
    if damage is not None:
        noisy = tmp_path / "noisy.png"
        from PIL import Image

        Image.effect_noise((120, 80), 64).convert("RGB").save(noisy)  # compressed across the file
        image.write_bytes(damage(noisy.read_bytes()))
    else:
        rec = {**rec, "image_sizes": [[240, 160]]}
    src.write_text(json.dumps(rec) + "\n")
    with pytest.raises(UserError) as e:
        export_to_folder(src, tmp_path / "x")
    assert str(e.value).startswith(f"{src}:1: ") and why in str(e.value)
    assert not (tmp_path / "x").exists()


def test_push_to_hub_and_read_back(tmp_path, hub, monkeypatch, capsys):
    from tests.hub_double import DEFAULT_TOKEN

    src, records = write_source(tmp_path)
    monkeypatch.setenv("HF_TOKEN", DEFAULT_TOKEN)
    code, out, err = run_main(
        monkeypatch,
        capsys,
        "prepare-data",
        "to-hf",
        src,
        "-o",
        tmp_path / "ds",
        "--push-to-hub",
        "org/shapes-v1",
        "--private",
        "--json",
    )
    assert code == 0, err
    summary = json.loads(out)
    assert summary["records"] == 4 and summary["pushed"]["repo"] == "org/shapes-v1"
    assert DEFAULT_TOKEN not in out + err
    files = hub.files("org/shapes-v1", repo_type="dataset")
    assert sorted(files) == [".gitattributes", "README.md", "data/train-00000-of-00001.parquet"]
    assert (
        files["data/train-00000-of-00001.parquet"]
        == (tmp_path / "ds" / "data" / "train-00000-of-00001.parquet").read_bytes()
    )
    assert summary["pushed"]["commit"] == hub.head("org/shapes-v1", repo_type="dataset")
    from huggingface_hub import HfApi

    assert HfApi().repo_info("org/shapes-v1", repo_type="dataset").private is True
    # read back from the Hub: the same records
    convert_hf("org/shapes-v1", tmp_path / "back.jsonl", tmp_path / "img")
    same_records(read_jsonl(tmp_path / "back.jsonl"), records, tmp_path / "img", src.parent)
    # a second push with more shards replaces the old ones; a branch is created on demand
    export_to_folder(src, tmp_path / "ds2", max_shard_bytes=1)
    info = push_folder(tmp_path / "ds2", "org/shapes-v1", split="train")
    assert info["removed"] == "1"
    assert sorted(hub.files("org/shapes-v1", repo_type="dataset")) == [
        ".gitattributes",
        "README.md",
    ] + [f"data/train-{i:05d}-of-00004.parquet" for i in range(4)]
    push_folder(tmp_path / "ds", "org/shapes-v1", split="train", revision="dev")
    assert "data/train-00000-of-00001.parquet" in hub.files(
        "org/shapes-v1", repo_type="dataset", revision="dev"
    )


def test_push_without_a_token_is_one_line(tmp_path, hub, monkeypatch):
    src, _ = write_source(tmp_path)
    export_to_folder(src, tmp_path / "ds")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with pytest.raises(UserError, match="push to Hub dataset 'org/x': not authenticated"):
        push_folder(tmp_path / "ds", "org/x", split="train")

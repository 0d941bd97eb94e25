import json
from pathlib import Path

import pytest

from vlmr1_cli.data.dataset import build_dataset, dataset_composition
from vlmr1_cli.data.loader import (
    build_rows,
    interleave,
    load_image,
    load_records,
    weighted_indices,
    weighted_take,
)
from vlmr1_cli.data.paths import safe_join
from vlmr1_cli.errors import UserError
from vlmr1_cli.models.base import PixelLimits
from vlmr1_cli.models.qwen2_5_vl import Qwen25VL
from vlmr1_cli.recipes.schema import DEFAULTS


def _rec(**over):
    rec = {
        "id": "a",
        "task": "rec",
        "images": ["img.png"],
        "image_sizes": [[640, 480]],
        "problem": "the cat",
        "solution": [64.0, 48.0, 320.0, 240.0],
    }
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


def test_labels_of_any_task_must_be_strings(folder):
    f = folder / "d.jsonl"
    f.write_text(json.dumps(_rec(labels=5)) + "\n")
    with pytest.raises(
        UserError, match=r"d.jsonl:1: key 'labels': must be a list of label strings"
    ):
        load_records(f)


def test_refused_image_shape_names_record_and_image(folder):
    f = folder / "d.jsonl"
    f.write_text(json.dumps(_rec(image_sizes=[[4020, 20]], solution=[1.0, 1.0, 5.0, 5.0])) + "\n")
    recs = load_records(f)
    limits = PixelLimits(56 * 56, 112 * 112, 28)
    with pytest.raises(UserError, match=r"d.jsonl:1: img.png: image 4020x20: aspect ratio 201"):
        build_rows(recs, Qwen25VL(), limits, DEFAULTS["prompt"], with_answers=False)


def test_rows_convert_gt_into_model_frame(folder):
    f = folder / "d.jsonl"
    f.write_text(json.dumps(_rec()) + "\n")
    recs = load_records(f)
    fam = Qwen25VL()
    rows = build_rows(
        recs, fam, PixelLimits(3136, 12845056, 28), DEFAULTS["prompt"], with_answers=True
    )
    row = rows[0]
    assert row["input_sizes"] == [[644, 476]]
    sol = json.loads(row["solution_json"])
    assert sol == pytest.approx([64 * 644 / 640, 48 * 476 / 480, 320 * 644 / 640, 240 * 476 / 480])
    assert "the cat" in row["prompt"][-1]["content"]
    assert '"bbox_2d": [64, 48, 322, 238]' in row["completion"][0]["content"]
    img = load_image(recs[0]["_image_paths"][0], row["input_sizes"][0])
    assert img.size == (644, 476)


def test_image_of_another_size_than_its_record_states_is_refused(folder):
    """The record's boxes are in the pixels of its image_sizes: an image of another size would
    put them in the wrong frame. Evaluation checks every header before the model loads (one
    line naming FILE:LINE, the image and both sizes); training's lazy image load refuses it
    naming the image."""
    from PIL import Image

    from vlmr1_cli.data.loader import check_image_sizes

    Image.new("RGB", (32, 24)).save(folder / "small.png")
    f = folder / "d.jsonl"
    f.write_text(json.dumps(_rec()) + "\n" + json.dumps(_rec(id="b", images=["small.png"])) + "\n")
    recs = load_records(f)
    with pytest.raises(
        UserError,
        match=r"^.*d\.jsonl:2: record 'b': image small.png is 32x24 but the "
        r"record's image_sizes says 640x480$",
    ):
        check_image_sizes(recs)
    check_image_sizes(recs[:1])
    (folder / "text.png").write_text("no image")
    with pytest.raises(UserError, match=r"one\.jsonl:1: image text.png is not readable"):
        check_image_sizes(load_records(_write_one(folder, _rec(images=["text.png"]))))
    with pytest.raises(
        UserError, match=r"small.png is 32x24 but the record's image_sizes says 640x480"
    ):
        load_image(str(folder / "small.png"), (28, 28), original=(640, 480))
    assert load_image(str(folder / "small.png"), (28, 28), original=(32, 24)).size == (28, 28)
    ds = build_dataset([{"path": str(f), "task": "rec"}], Qwen25VL(), LIMITS, DEFAULTS["prompt"])
    assert ds[0]["images"][0].size == tuple(ds[0]["input_sizes"][0])
    with pytest.raises(
        UserError, match=r"small.png is 32x24 but the record's image_sizes says 640x480"
    ):
        ds[1]


def _write_one(folder: Path, rec: dict) -> Path:
    f = folder / "one.jsonl"
    f.write_text(json.dumps(rec) + "\n")
    return f


# ---- the Arrow cache (vlmr1_cli/data/arrow_cache.py) ----------------------------------------

LIMITS = PixelLimits(56 * 56, 112 * 112, 28)


@pytest.fixture(autouse=True)
def _private_datasets_cache(tmp_path, monkeypatch):
    """Every test here caches under its own tmp folder, never in the user's home."""
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-datasets"))


@pytest.fixture(scope="module")
def baseline():
    """The loader as it was before the Arrow cache, kept as the benchmark's baseline."""
    from bench import bench_data_loading

    return bench_data_loading


def _write(path: Path, records: list[dict]) -> Path:
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8"
    )
    return path


@pytest.fixture
def realistic(tmp_path) -> Path:
    """Three sources under one image root: a mixed file (REC, OVD with negatives-only images,
    text, a two-image REC record whose boxes refer to its second image, extra keys, non-ASCII
    text, blank lines), a REC file and a text file."""
    from PIL import Image

    root = tmp_path / "data"
    sizes = [(640, 480), (480, 640), (333, 500), (1024, 768), (50, 40)]
    for k in range(len(sizes)):
        (root / "img" / f"sub{k % 2}").mkdir(parents=True, exist_ok=True)
        Image.new("RGB", sizes[k], (k * 40, 0, 0)).save(root / "img" / f"sub{k % 2}" / f"{k}.png")
    img = [(f"img/sub{k % 2}/{k}.png", [w, h]) for k, (w, h) in enumerate(sizes)]
    mixed = []
    for i in range(30):
        name, (w, h) = img[i % len(img)]
        box = [w * 0.1 + i % 4, h * 0.2, w * 0.6, h * 0.7 + i % 3]
        if i % 5 == 0:
            mixed.append(
                {
                    "id": f"t{i}",
                    "task": "text",
                    "images": [],
                    "image_sizes": [],
                    "problem": f"Combien font {i} et 1 ?",
                    "solution": str(i + 1),
                    "source": "maths",
                }
            )
        elif i % 5 == 1:
            objs = (
                []
                if i % 2
                else [
                    {"bbox_2d": box, "label": "chat noir"},
                    {"bbox_2d": [1, 2, 30, 31], "label": "dog"},
                ]
            )
            mixed.append(
                {
                    "id": f"o{i}",
                    "task": "ovd",
                    "images": [name],
                    "image_sizes": [[w, h]],
                    "problem": "",
                    "labels": ["chat noir", "dog", "zèbre"],
                    "solution": objs,
                    "negatives": ["zèbre"],
                }
            )
        elif i % 5 == 2:
            other, osize = img[(i + 1) % len(img)]
            mixed.append(
                {
                    "id": f"m{i}",
                    "task": "rec",
                    "images": [other, name],
                    "image_sizes": [osize, [w, h]],
                    "box_image": 1,
                    "problem": "the cat in the second image.",
                    "solution": box,
                }
            )
        else:
            mixed.append(
                {
                    "id": f"r{i}",
                    "task": "rec",
                    "images": [name],
                    "image_sizes": [[w, h]],
                    "problem": f"the «{i}th» object ",
                    "solution": box,
                    "source": "refcoco",
                    "split": "train",
                }
            )
            if i == 8:  # labels on a REC record travel as they are
                mixed[-1]["labels"] = ["cat", "chat"]
    _write(root / "mixed.jsonl", mixed)
    with open(root / "mixed.jsonl", "a") as fh:
        fh.write("\n   \n")
    rec = [
        {
            "id": f"b{i}",
            "task": "rec",
            "images": [img[i % 3][0]],
            "image_sizes": [img[i % 3][1]],
            "problem": "left one",
            "solution": [1.5, 2, 20 + i, 30],
        }
        for i in range(13)
    ]
    _write(root / "rec.jsonl", rec)
    text = [
        {
            "id": f"x{i}",
            "task": "text",
            "images": [],
            "image_sizes": [],
            "problem": f"{i}?",
            "solution": "yes",
        }
        for i in range(7)
    ]
    _write(root / "text.jsonl", text)
    return root


def _sources(root: Path, weights=(1.5, 0.5, 2.0)) -> list[dict]:
    return [
        {"path": str(root / f"{name}.jsonl"), "image_root": str(root), "weight": w}
        for name, w in zip(("mixed", "rec", "text"), weights, strict=True)
    ]


def _raw(ds) -> list[dict]:
    return list(ds.with_format(None))


@pytest.mark.parametrize("with_answers", [False, True])
def test_cached_rows_equal_the_from_list_rows(realistic, baseline, with_answers):
    fam = Qwen25VL()
    old = baseline.baseline_build_dataset(
        _sources(realistic), fam, LIMITS, DEFAULTS["prompt"], with_answers=with_answers, seed=3
    )
    for _ in ("cold", "warm"):
        new = build_dataset(
            _sources(realistic), fam, LIMITS, DEFAULTS["prompt"], with_answers=with_answers, seed=3
        )
        assert new.features == old.features
        assert len(new) == len(old) == 45 + 6 + 14
        assert _raw(new) == _raw(
            old
        )  # same rows, same order: ids, prompts, sizes, solutions, extras
        for i in (0, 7, len(old) - 1):  # and the same rows after the image transform
            a, b = new[i], old[i]
            assert [im.size for im in a.pop("images")] == [im.size for im in b.pop("images")]
            assert a == b


def test_mix_order_matches_the_list_implementation(baseline):
    import random

    rng = random.Random(0)
    for _ in range(30):
        n = rng.randint(1, 40)
        weight, seed = rng.choice((0.0, 0.3, 0.5, 1.0, 1.5, 2.0, 2.75)), rng.randint(0, 99)
        rows = [f"r{i}" for i in range(n)]
        assert weighted_take(rows, weight, seed) == baseline.baseline_weighted_take(
            rows, weight, seed
        )
        parts = [[(s, i) for i in range(rng.randint(0, 25))] for s in range(rng.randint(1, 4))]
        assert interleave(parts) == baseline.baseline_interleave(parts)
    with pytest.raises(UserError, match="data weight must be >= 0"):
        weighted_indices(3, -1.0, 0)


def _entries(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "hf-datasets" / "vlmr1").glob("*.arrow"))


def test_second_load_memory_maps_the_cache(realistic, tmp_path):
    fam = Qwen25VL()
    first = build_dataset(_sources(realistic), fam, LIMITS, DEFAULTS["prompt"], seed=1)
    entries = _entries(tmp_path)
    assert [e.name.split("-")[0] for e in entries] == ["mixed", "rec", "text"]
    stamps = [e.stat().st_mtime_ns for e in entries]
    again = build_dataset(_sources(realistic), fam, LIMITS, DEFAULTS["prompt"], seed=1)
    assert (
        _entries(tmp_path) == entries and [e.stat().st_mtime_ns for e in entries] == stamps
    )  # not rebuilt
    assert {Path(f["filename"]) for f in again.cache_files} == set(entries)  # read from the files
    assert _raw(again) == _raw(first)
    # weights and the seed only select among the cached rows: a new mix, no new entry
    other = build_dataset(
        _sources(realistic, (1.0, 2.0, 0.5)), fam, LIMITS, DEFAULTS["prompt"], seed=2
    )
    assert _entries(tmp_path) == entries and len(other) == 30 + 26 + 4


def test_changed_file_or_setting_never_reuses_the_cache(realistic, tmp_path):
    fam = Qwen25VL()
    src = [{"path": str(realistic / "rec.jsonl"), "image_root": str(realistic)}]

    def load(sources=src, limits=LIMITS, prompt=DEFAULTS["prompt"], **kw):
        return _raw(build_dataset(sources, fam, limits, prompt, **kw))

    base = load()
    seen = {e.name for e in _entries(tmp_path)}

    def new_entry() -> bool:
        names = {e.name for e in _entries(tmp_path)}
        added = names - seen
        seen.update(names)
        return len(added) == 1

    assert (
        load(limits=PixelLimits(28 * 28, 56 * 56, 28))[0]["input_sizes"] != base[0]["input_sizes"]
        and new_entry()
    )
    prompt = {**DEFAULTS["prompt"], "system": "Be brief."}
    assert (
        load(prompt=prompt)[0]["prompt"][0] == {"role": "system", "content": "Be brief."}
        and new_entry()
    )
    assert "completion" in load(with_answers=True)[0] and new_entry()
    assert len(load(max_samples=4)) == 4 and new_entry()
    moved = [{**src[0], "image_root": str(realistic / ".")}]
    assert load(moved) == base and not new_entry()  # the same root, written differently
    link = tmp_path / "root-link"
    link.symlink_to(realistic)
    assert (
        load([{**src[0], "image_root": str(link)}]) == base and not new_entry()
    )  # resolves to the same root
    f = realistic / "rec.jsonl"
    recs = [json.loads(line) for line in f.read_text().splitlines()]
    recs[0]["problem"] = "right one"
    _write(f, recs)  # same size, new content
    assert "right one" in load()[0]["prompt"][-1]["content"] and new_entry()
    _write(f, recs + [{**recs[0], "id": "new"}])
    assert load()[-1]["id"] == "new" and new_entry()


def test_images_are_checked_again_on_a_cached_load(realistic):
    fam = Qwen25VL()
    build_dataset(_sources(realistic), fam, LIMITS, DEFAULTS["prompt"])
    (realistic / "img" / "sub0" / "2.png").unlink()
    with pytest.raises(UserError, match=r"mixed\.jsonl:3: image not found: img/sub0/2.png"):
        build_dataset(_sources(realistic), fam, LIMITS, DEFAULTS["prompt"])
    ds = build_dataset(_sources(realistic), fam, LIMITS, DEFAULTS["prompt"], check_images=False)
    assert len(ds) == 65


def test_a_folder_turned_symlink_out_of_the_root_is_refused_on_a_cached_load(realistic, tmp_path):
    import shutil

    fam = Qwen25VL()
    build_dataset(_sources(realistic), fam, LIMITS, DEFAULTS["prompt"])
    outside = tmp_path / "outside"
    shutil.move(str(realistic / "img" / "sub1"), str(outside))
    (realistic / "img" / "sub1").symlink_to(outside)  # same file names, now outside the root
    with pytest.raises(
        UserError, match=r"mixed\.jsonl:2: image path 'img/sub1/1.png' escapes the image root"
    ):
        build_dataset(_sources(realistic), fam, LIMITS, DEFAULTS["prompt"])


def test_a_failed_build_leaves_no_cache_entry(realistic, tmp_path):
    f = realistic / "rec.jsonl"
    lines = f.read_text().splitlines()
    lines[4] = lines[4].replace('"rec"', '"ovd"')  # an OVD record without labels
    f.write_text("\n".join(lines) + "\n")
    with pytest.raises(UserError, match=r"rec\.jsonl:5: key 'solution'"):
        build_dataset(_sources(realistic), Qwen25VL(), LIMITS, DEFAULTS["prompt"])
    folder = tmp_path / "hf-datasets" / "vlmr1"
    assert [e.name.split("-")[0] for e in _entries(tmp_path)] == ["mixed"]  # built before rec.jsonl
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_duplicate_ids_are_found_through_hash_collisions(folder, monkeypatch):
    import vlmr1_cli.data.loader as loader

    monkeypatch.setattr(loader, "_id_hash", lambda record_id: 0)  # every id collides
    f = folder / "d.jsonl"
    _write(f, [_rec(id=i) for i in ("a", "b", "c")])
    assert [r["id"] for r in load_records(f)] == ["a", "b", "c"]
    _write(f, [_rec(id=i) for i in ("a", "b", "c", "b")])
    with pytest.raises(UserError, match=r"d\.jsonl:4: duplicate id 'b' \(first on line 2\)"):
        load_records(f)


def test_one_process_builds_while_the_others_wait(realistic, monkeypatch):
    import threading
    import time

    from vlmr1_cli.data import arrow_cache

    builds = []
    write_rows = arrow_cache.write_rows

    def slow_write_rows(*args, **kwargs):
        builds.append(threading.get_ident())
        time.sleep(0.3)  # long enough for the other caller to arrive while this one builds
        return write_rows(*args, **kwargs)

    monkeypatch.setattr(arrow_cache, "write_rows", slow_write_rows)
    src = [{"path": str(realistic / "mixed.jsonl"), "image_root": str(realistic)}]
    results = []

    def load():
        results.append(_raw(build_dataset(src, Qwen25VL(), LIMITS, DEFAULTS["prompt"])))

    threads = [threading.Thread(target=load) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(builds) == 1 and len(results) == 2 and results[0] == results[1]


def test_dataset_composition_counts_tasks_and_text_rows(realistic):
    ds = build_dataset(_sources(realistic), Qwen25VL(), LIMITS, DEFAULTS["prompt"], seed=3)
    raw = _raw(ds)
    n_text = sum(1 for r in raw if not r["image_paths"])
    assert dataset_composition(ds) == ({"rec", "ovd", "text"}, n_text, len(raw) - n_text)
    assert n_text == 9 + 14  # 6 of mixed.jsonl's 1.5 x 6 text rows + text.jsonl twice


def test_cache_folder_follows_hf_datasets_cache(tmp_path, monkeypatch):
    from vlmr1_cli.data.arrow_cache import default_cache_dir

    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "elsewhere"))
    assert default_cache_dir() == tmp_path / "elsewhere" / "vlmr1"

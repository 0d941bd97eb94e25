"""`prepare-data validate`, `shapes`, `hf` and `to-hf`: broken JSONL, records with every kind of
schema or image fault (path traversal, symlinks out of the root, truncated images,
decompression bombs, NaN/inverted/outside boxes), extreme option values, outputs that are
files or folders. validate must report each fault (exit 1), never call a bad file OK."""

from __future__ import annotations

import pytest

from tests.hostile import checks as C
from tests.hostile.harness import Case, Dir, Link, either, error, ok, params
from tests.hostile.inputs import (
    DEEP,
    HUGE_INT,
    NOT_UTF8,
    bomb_png,
    images,
    jsonl,
    ovd_record,
    png,
    rec_record,
    truncated_png,
)

VAL = ("prepare-data", "validate", "data.jsonl", "--json")
GOOD = {"data.jsonl": jsonl(rec_record(0), rec_record(1)), **images("img0.png", "img1.png")}


def _val(record: dict | str, extra=(), files=None) -> tuple[tuple, dict]:
    return (*VAL, *extra), {
        "data.jsonl": jsonl(rec_record(0), record),
        **images("img0.png", "img1.png"),
        **(files or {}),
    }


def report(id: str, record: dict | str, pattern: str, extra=(), files=None) -> Case:
    argv, f = _val(record, extra, files)
    return ok(id, argv, f, check=C.reported(pattern), exit=1)


CASES: list[Case] = [
    ok("validate/valid", VAL, GOOD, check=C.clean_report(2)),
    ok("validate/valid-decode", (*VAL, "--decode"), GOOD, check=C.clean_report(2)),
    ok(
        "validate/blank-lines-are-fine",
        VAL,
        {**GOOD, "data.jsonl": "\n" + GOOD["data.jsonl"] + "\n\n"},
        check=C.clean_report(2),
    ),
    error("validate/file-missing", VAL, {}, match="data.jsonl"),
    error("validate/file-is-a-folder", VAL, {"data.jsonl": Dir()}, match="data.jsonl"),
    error(
        "validate/file-dangling-link", VAL, {"data.jsonl": Link("gone.jsonl")}, match="data.jsonl"
    ),
    ok("validate/file-empty", VAL, {"data.jsonl": ""}, check=C.reported("no records"), exit=1),
    ok(
        "validate/line-not-utf8",
        VAL,
        {**GOOD, "data.jsonl": jsonl(rec_record(0)).encode() + NOT_UTF8},
        check=C.reported("UTF-8|utf-8"),
        exit=1,
    ),
    report("validate/line-invalid-json", '{"id": "x",', "invalid JSON"),
    report("validate/line-is-a-list", "[1, 2]", "object"),
    report("validate/line-deep", DEEP, "nested|deep"),
    report("validate/line-huge-int", '{"id": ' + HUGE_INT + "}", "digits"),
    report(
        "validate/missing-key",
        {k: v for k, v in rec_record(1).items() if k != "solution"},
        "solution",
    ),
    report("validate/id-is-an-int", rec_record(1, id=7), "'id'"),
    report("validate/duplicate-id", rec_record(1, id="r0"), "duplicate"),
    report("validate/task-empty", rec_record(1, task=""), "'task'"),
    report("validate/images-a-string", rec_record(1, images="img1.png"), "'images'"),
    report(
        "validate/sizes-count-differs",
        rec_record(1, image_sizes=[[32, 24], [32, 24]]),
        "image_sizes",
    ),
    report("validate/size-negative", rec_record(1, image_sizes=[[-32, 24]]), "image_sizes"),
    report("validate/size-float", rec_record(1, image_sizes=[[32.5, 24]]), "image_sizes"),
    report("validate/size-huge", rec_record(1, image_sizes=[[10**30, 24]]), "image_sizes"),
    report("validate/size-wrong-for-image", rec_record(1, image_sizes=[[64, 48]]), "size|32"),
    report(
        "validate/box-nan", jsonl(rec_record(1)).strip().replace("2.0, 3.0", "NaN, 3.0"), "solution"
    ),
    report(
        "validate/box-inf",
        jsonl(rec_record(1)).strip().replace("2.0, 3.0", "Infinity, 3.0"),
        "solution",
    ),
    report(
        "validate/box-1e999",
        jsonl(rec_record(1)).strip().replace("2.0, 3.0", "1e999, 3.0"),
        "solution",
    ),
    report("validate/box-inverted", rec_record(1, solution=[20, 18, 2, 3]), "degenerate|inverted"),
    report("validate/box-degenerate", rec_record(1, solution=[5, 5, 5, 9]), "degenerate"),
    report(
        "validate/box-outside-image",
        rec_record(1, solution=[2, 3, 200, 18]),
        "outside|overhang|image",
    ),
    report(
        "validate/box-negative", rec_record(1, solution=[-50, -40, 5, 5]), "outside|overhang|image"
    ),
    report("validate/box-strings", rec_record(1, solution=["2", "3", "20", "18"]), "solution"),
    report(
        "validate/ovd-label-not-queried",
        ovd_record(1, images=["img1.png"], labels=["cat"]),
        "labels",
    ),
    report(
        "validate/ovd-inverted-box",
        ovd_record(1, images=["img1.png"], solution=[{"bbox_2d": [20, 18, 2, 3], "label": "cat"}]),
        "inverted",
    ),
    report("validate/image-missing", rec_record(1, images=["nope.png"]), "nope.png"),
    report("validate/image-traversal", rec_record(1, images=["../../etc/passwd"]), "escapes"),
    report(
        "validate/image-absolute", rec_record(1, images=["/etc/passwd"]), "absolute|escapes|outside"
    ),
    report("validate/image-nul-byte", rec_record(1, images=["img\x001.png"]), "NUL|image path"),
    report(
        "validate/image-symlink-out-of-root",
        rec_record(1, images=["link.png"]),
        "escapes|outside",
        extra=("--image-root", "root"),
        files={
            "root/img0.png": png(),
            "outside.png": png(),
            "root/link.png": Link("../outside.png"),
        },
    ),
    report(
        "validate/image-not-an-image",
        rec_record(1, images=["text.png"]),
        "text.png",
        files={"text.png": "hello"},
    ),
    report(
        "validate/image-is-a-folder",
        rec_record(1, images=["dir.png"]),
        "dir.png",
        files={"dir.png": Dir()},
    ),
    report(
        "validate/image-truncated-decode",
        rec_record(1, images=["cut.png"], image_sizes=[[64, 48]]),
        "cut.png",
        extra=("--decode",),
        files={"cut.png": truncated_png(64, 48)},
    ),
    report(
        "validate/image-bomb",
        rec_record(1, images=["bomb.png"], image_sizes=[[30000, 30000]], solution=[1, 1, 5, 5]),
        "bomb.png|pixels",
        files={"bomb.png": bomb_png()},
    ),
    report(
        "validate/image-bomb-decode",
        rec_record(1, images=["bomb.png"], image_sizes=[[30000, 30000]], solution=[1, 1, 5, 5]),
        "bomb.png|pixels",
        extra=("--decode",),
        files={"bomb.png": bomb_png()},
    ),
    # options
    error("validate/tolerance-negative", (*VAL, "--tolerance", "-1"), GOOD, match="--tolerance"),
    error(
        "validate/tolerance-nan",
        (*VAL, "--tolerance", "nan"),
        {**GOOD, "data.jsonl": jsonl(rec_record(0), rec_record(1, solution=[2, 3, 90, 18]))},
        match="--tolerance",
    ),
    error("validate/tolerance-text", (*VAL, "--tolerance", "lots"), GOOD, match="--tolerance"),
    error("validate/max-lines-negative", (*VAL, "--max-lines", "-1"), GOOD, match="--max-lines"),
    ok(
        "validate/max-lines-huge",
        (*VAL, "--max-lines", "1" + "0" * 30),
        GOOD,
        check=C.clean_report(2),
    ),
    error("validate/image-root-missing", (*VAL, "--image-root", "nowhere"), GOOD, match="nowhere"),
    error(
        "validate/image-root-is-a-file", (*VAL, "--image-root", "img0.png"), GOOD, match="img0.png"
    ),
    ok(
        "validate/megabyte-problem",
        VAL,
        {
            **GOOD,
            "data.jsonl": jsonl(
                rec_record(0), rec_record(1, problem="the " + "red " * 250_000 + "square")
            ),
        },
        check=C.clean_report(2),
    ),
    ok(
        "validate/no-images-skips-files",
        (*VAL, "--no-images"),
        {"data.jsonl": jsonl(rec_record(0), rec_record(1))},
        check=C.clean_report(2),
    ),
]

# --------------------------------------------------------------------------- shapes

SHAPES = (
    "prepare-data",
    "shapes",
    "-o",
    "shp",
    "--train",
    "3",
    "--eval",
    "2",
    "--ood",
    "1",
    "--json",
)
CASES += [
    ok(
        "shapes/valid",
        SHAPES,
        check=C.shapes_counts("shp", train=3, eval=2, eval_ood=1, eval_ood_pairs=1),
    ),
    ok(
        "shapes/zero-records",
        (
            "prepare-data",
            "shapes",
            "-o",
            "shp",
            "--train",
            "0",
            "--eval",
            "0",
            "--ood",
            "0",
            "--json",
        ),
        check=C.shapes_counts("shp", train=0, eval=0, eval_ood=0),
    ),
    ok(
        "shapes/crowded-tiny-canvas",
        (*SHAPES, "--shapes", "6", "6", "--canvas", "16", "16"),
        check=C.shapes_counts("shp", train=3, eval=2, eval_ood=1, eval_ood_pairs=1),
    ),
    error("shapes/seed-huge", (*SHAPES, "--seed", "9" * 40), match="--seed"),
    error("shapes/train-negative", (*SHAPES, "--train", "-1"), match="--train"),
    error("shapes/train-float", (*SHAPES, "--train", "1e3"), match="--train"),
    error("shapes/seed-negative", (*SHAPES, "--seed", "-5"), match="--seed"),
    error("shapes/shapes-min-above-max", (*SHAPES, "--shapes", "3", "1"), match="--shapes"),
    error("shapes/shapes-zero", (*SHAPES, "--shapes", "0", "2"), match="--shapes"),
    error("shapes/shapes-over-max", (*SHAPES, "--shapes", "1", "7"), match="--shapes"),
    error(
        "shapes/ood-shapes-min-above-max", (*SHAPES, "--ood-shapes", "4", "2"), match="--ood-shapes"
    ),
    error("shapes/canvas-too-small", (*SHAPES, "--canvas", "15", "30"), match="--canvas"),
    error("shapes/canvas-min-above-max", (*SHAPES, "--canvas", "200", "100"), match="--canvas"),
    error(
        "shapes/canvas-one-number",
        ("prepare-data", "shapes", "-o", "shp", "--canvas", "64"),
        match="--canvas",
    ),
    # 60000 x 60000 px images (10.8 GB each): refused, not allocated (the child may use 3 GB)
    error(
        "shapes/canvas-absurd",
        (*SHAPES, "--canvas", "60000", "60000"),
        match="--canvas",
        subprocess=True,
        memory_limit=3 * 1024**3,
    ),
    error("shapes/output-is-a-file", SHAPES, {"shp": "x"}, match="shp"),
    error("shapes/output-under-a-file", (*SHAPES[:3], "f/shp", *SHAPES[4:]), {"f": "x"}, match="f"),
    ok(
        "shapes/output-keeps-other-files",
        SHAPES,
        {"shp/notes.txt": "mine"},
        check=C.all_of(
            C.unchanged("shp/notes.txt", "mine"),
            C.shapes_counts("shp", train=3, eval=2, eval_ood=1, eval_ood_pairs=1),
        ),
    ),
]

# --------------------------------------------------------------------------- to-hf

TO_HF = ("prepare-data", "to-hf", "data.jsonl", "-o", "pq", "--json")
CASES += [
    error("to-hf/file-missing", TO_HF, {}, match="data.jsonl"),
    error("to-hf/file-empty", TO_HF, {"data.jsonl": ""}, match="data.jsonl"),
    error("to-hf/file-is-a-folder", TO_HF, {"data.jsonl": Dir()}, match="data.jsonl"),
    error(
        "to-hf/line-invalid",
        TO_HF,
        {**GOOD, "data.jsonl": jsonl(rec_record(0), '{"id": 1,')},
        match="data.jsonl",
    ),
    error(
        "to-hf/line-deep",
        TO_HF,
        {**GOOD, "data.jsonl": jsonl(rec_record(0), DEEP)},
        match="data.jsonl",
    ),
    error(
        "to-hf/line-not-utf8",
        TO_HF,
        {**GOOD, "data.jsonl": jsonl(rec_record(0)).encode() + NOT_UTF8},
        match="data.jsonl",
    ),
    error(
        "to-hf/record-invalid",
        TO_HF,
        {**GOOD, "data.jsonl": jsonl(rec_record(0), rec_record(1, solution=None))},
        match="data.jsonl|r1",
    ),
    error("to-hf/image-missing", TO_HF, {"data.jsonl": jsonl(rec_record(0))}, match="img0.png"),
    error(
        "to-hf/image-traversal",
        TO_HF,
        {"data.jsonl": jsonl(rec_record(0, images=["../../etc/passwd"]))},
        match="escapes|passwd",
    ),
    error(
        "to-hf/image-symlink-out",
        (*TO_HF, "--image-root", "root"),
        {
            "data.jsonl": jsonl(rec_record(0)),
            "secret.png": png(),
            "root/img0.png": Link("../secret.png"),
        },
        match="img0.png|escapes",
    ),
    error(
        "to-hf/image-truncated",
        TO_HF,
        {
            "data.jsonl": jsonl(rec_record(0, image_sizes=[[64, 48]])),
            "img0.png": truncated_png(64, 48),
        },
        match="img0.png",
    ),
    error(
        "to-hf/image-size-mismatch",
        TO_HF,
        {"data.jsonl": jsonl(rec_record(0, image_sizes=[[640, 480]])), "img0.png": png()},
        match="img0.png.*640x480",
    ),
    error(
        "to-hf/image-bomb",
        TO_HF,
        {"data.jsonl": jsonl(rec_record(0, image_sizes=[[30000, 30000]])), "img0.png": bomb_png()},
        match="img0.png",
    ),
    error("to-hf/output-is-a-file", TO_HF, {**GOOD, "pq": "x"}, match="pq"),
    error(
        "to-hf/output-not-empty",
        TO_HF,
        {**GOOD, "pq/mine.txt": "keep"},
        match="pq",
        check=C.unchanged("pq/mine.txt", "keep"),
    ),
    error(
        "to-hf/split-traversal", (*TO_HF, "--split", "../../escape"), GOOD, match="--split|split"
    ),
    error("to-hf/split-empty", (*TO_HF, "--split", ""), GOOD, match="--split|split"),
    error(
        "to-hf/max-shard-zero", (*TO_HF, "--max-shard-size", "0"), GOOD, match="--max-shard-size"
    ),
    error("to-hf/private-without-push", (*TO_HF, "--private"), GOOD, match="--push-to-hub"),
    error(
        "to-hf/push-offline",
        (*TO_HF, "--push-to-hub", "me/data"),
        GOOD,
        match="offline|Hub|HF_HUB_OFFLINE",
    ),
]

# --------------------------------------------------------------------------- hf

HF = ("prepare-data", "hf")
CASES += [
    error(
        "hf/unknown-hub-id-offline",
        (*HF, "nobody/no-such-dataset", "-o", "o.jsonl", "--image-root", "im"),
        match="nobody/no-such-dataset",
    ),
    error(
        "hf/local-file-invalid-json",
        (*HF, "rows.json", "-o", "o.jsonl", "--image-root", "im"),
        {"rows.json": '[{"image": "a.png", "problem": "x", '},
        match="rows.json",
    ),
    error(
        "hf/local-file-deep",
        (*HF, "rows.json", "-o", "o.jsonl", "--image-root", "im"),
        {"rows.json": DEEP},
        match="rows.json",
    ),
    error(
        "hf/local-file-not-utf8",
        (*HF, "rows.jsonl", "-o", "o.jsonl", "--image-root", "im"),
        {"rows.jsonl": NOT_UTF8},
        match="rows.jsonl",
    ),
    error(
        "hf/local-file-empty",
        (*HF, "rows.jsonl", "-o", "o.jsonl", "--image-root", "im"),
        {"rows.jsonl": ""},
        match="rows.jsonl",
    ),
    error(
        "hf/local-parquet-truncated",
        (*HF, "rows.parquet", "-o", "o.jsonl", "--image-root", "im"),
        {"rows.parquet": b"PAR1\x00\x00garbage"},
        match="rows.parquet",
    ),
    error(
        "hf/no-layout",
        (*HF, "rows.jsonl", "-o", "o.jsonl", "--image-root", "im"),
        {"rows.jsonl": jsonl({"a": 1}, {"a": 2})},
        match="layout|column",
    ),
    error(
        "hf/image-root-is-a-file",
        (*HF, "rows.jsonl", "-o", "o.jsonl", "--image-root", "rows.jsonl"),
        {"rows.jsonl": jsonl({"image": "a.png", "problem": "p", "solution": "[1, 2, 3, 4]"})},
        match="rows.jsonl|--image-root",
    ),
    error(
        "hf/tolerance-nan",
        (*HF, "rows.jsonl", "-o", "o.jsonl", "--image-root", "im", "--tolerance", "nan"),
        {"rows.jsonl": jsonl({"image": "a.png", "problem": "p", "solution": "[1, 2, 3, 4]"})},
        match="--tolerance",
    ),
    error(
        "hf/image-path-traversal",
        (
            *HF,
            "rows.jsonl",
            "-o",
            "o.jsonl",
            "--image-root",
            "im",
            "--box-format",
            "xyxy",
            "--box-units",
            "pixels",
        ),
        {
            "rows.jsonl": jsonl(
                {"image": "../../../etc/passwd", "problem": "p", "solution": "[1, 2, 3, 4]"}
            )
        },
        match="escapes|passwd",
    ),
    either(
        "hf/box-nan",
        (
            *HF,
            "rows.jsonl",
            "-o",
            "o.jsonl",
            "--image-root",
            "im",
            "--box-format",
            "xyxy",
            "--box-units",
            "pixels",
            "--json",
        ),
        {
            "rows.jsonl": jsonl({"image": "a.png", "problem": "p", "solution": "[NaN, 2, 3, 4]"}),
            "a.png": png(),
        },
        check=C.converted("o.jsonl", 1),
        match="rows.jsonl",
    ),
    error(
        "hf/output-is-the-input",
        (*HF, "rows.jsonl", "-o", "rows.jsonl", "--image-root", "im"),
        {
            "rows.jsonl": jsonl({"image": "a.png", "problem": "p", "solution": "[1, 2, 3, 4]"}),
            "a.png": png(),
        },
        match="rows.jsonl",
    ),
]


@pytest.mark.parametrize("case", params(CASES))
def test_data_tools(case, hostile):
    hostile.run(case)

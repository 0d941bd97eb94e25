"""`vlmr1 prepare-data` importers (coco, ovdeval, d3, vlmr1-rec, refcoco, lisa): broken files,
items with NaN/huge/negative/inverted boxes, duplicate ids, path traversal in image names,
extreme text, malicious and truncated pickles, outputs that are the input, a folder or under a
file. Whatever an importer writes must be accounted for (written + skipped = items in) and
pass the schema."""

from __future__ import annotations

import copy
import json
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.data import fixtures as F
from tests.hostile import checks as C
from tests.hostile.harness import Case, Dir, either, error, ok, params
from tests.hostile.inputs import (
    BIG_INT,
    HUGE_INT,
    bad_json,
    bomb_png,
    eval_pickle,
    evil_pickle,
    named,
    png,
    truncated_png,
)

OUT = "out.jsonl"
SENTINEL = '"__RAW__"'  # replaced by raw JSON text (NaN, 1e999, 5000-digit integers)


@dataclass(frozen=True)
class Importer:
    name: str
    input: str
    argv: Callable[[str, str], tuple[str, ...]]
    data: Callable[[], Any]
    items: int  # units the summary accounts for (images, or items)


IMPORTERS = [
    Importer(
        "coco",
        "instances.json",
        lambda i, o: ("prepare-data", "coco", "--instances", i, "-o", o, "--json"),
        F.coco_instances,
        4,
    ),
    Importer(
        "ovdeval",
        "celebrity.json",
        lambda i, o: ("prepare-data", "ovdeval", i, "-o", o, "--json"),
        lambda: F.ovdeval_subset("celebrity"),
        2,
    ),
    Importer(
        "d3-json",
        "d3.json",
        lambda i, o: ("prepare-data", "d3", "--annotations-json", i, "-o", o, "--json"),
        F.d3_json,
        3,
    ),
    Importer(
        "vlmr1-rec",
        "refcoco_val.json",
        lambda i, o: ("prepare-data", "vlmr1-rec", i, "-o", o, "--json"),
        F.vlmr1_eval_items,
        2,
    ),
]


def _text(data: Any, raw: str | None = None) -> str:
    text = json.dumps(data)
    return text.replace(SENTINEL, raw, 1) if raw is not None else text


def _first_box(imp: Importer, data: Any, value: Any) -> Any:
    data = copy.deepcopy(data)
    if imp.name == "vlmr1-rec":
        data[0]["solution"] = value
    else:
        data["annotations"][0]["bbox"] = value
    return data


def _first_image(imp: Importer, data: Any, key: str, value: Any) -> Any:
    data = copy.deepcopy(data)
    item = data[0] if imp.name == "vlmr1-rec" else data["images"][0]
    if imp.name == "vlmr1-rec" and key == "file_name":
        key = "image"
    item[key] = value
    return data


def _duplicate_ids(imp: Importer, data: Any) -> Any:
    data = copy.deepcopy(data)
    if imp.name == "vlmr1-rec":
        data[1]["id"] = data[0]["id"]
    else:
        data["images"][1]["id"] = data["images"][0]["id"]
    return data


def _long_text(imp: Importer, data: Any) -> Any:
    data = copy.deepcopy(data)
    if imp.name == "vlmr1-rec":
        data[0]["problem"] = "the " + "very " * 200_000 + "long one"
    else:
        data["categories"][0]["name"] = "n" * 1_000_000
    return data


def _empty(imp: Importer, data: Any) -> Any:
    if imp.name == "vlmr1-rec":
        return []
    data = copy.deepcopy(data)
    data["images"], data["annotations"] = [], []
    return data


def _importer_cases(imp: Importer) -> list[Case]:
    run = imp.argv(imp.input, OUT)
    good = _text(imp.data())
    conv = C.converted(OUT, imp.items)
    names_it = named(imp.input) + "|record '"  # the file, or the record it became
    p = imp.name
    cases = [ok(f"{p}/valid", run, {imp.input: good}, check=conv)]
    # broken files
    for variant, content in bad_json(imp.input):
        files = {} if content is None else {imp.input: content}
        cases.append(
            error(f"{p}/file-{variant}", run, files, match=named(imp.input), check=C.no_file(OUT))
        )
    # boxes: skipped (counted) or refused, never written as they are
    for variant, raw in {
        "nan": "NaN",
        "inf": "Infinity",
        "1e999": "1e999",
        "big-int": BIG_INT,
    }.items():
        data = _first_box(imp, imp.data(), [10, 10, "__RAW__", 20])
        cases.append(
            either(
                f"{p}/box-{variant}", run, {imp.input: _text(data, raw)}, check=conv, match=names_it
            )
        )
    cases.append(
        error(
            f"{p}/box-huge-int",
            run,
            {imp.input: _text(_first_box(imp, imp.data(), [10, 10, "__RAW__", 20]), HUGE_INT)},
            match=named(imp.input),
        )
    )
    for variant, box in {
        "negative-width": [10, 10, -30, 20],
        "strings": ["10", "10", "30", "20"],
        "null": None,
        "three-numbers": [10, 10, 30],
        "bools": [True, True, True, True],
        "nested": [[10, 10], [30, 20]],
        "all-zero": [0, 0, 0, 0],
    }.items():
        cases.append(
            either(
                f"{p}/box-{variant}",
                run,
                {imp.input: _text(_first_box(imp, imp.data(), box))},
                check=conv,
                match=names_it,
            )
        )
    # images: traversal, absolute paths, sizes
    for variant, (key, value) in {
        "image-name-traversal": ("file_name", "../../../etc/passwd"),
        "image-name-absolute": ("file_name", "/etc/passwd"),
        "image-name-null": ("file_name", None),
        "image-name-empty": ("file_name", ""),
        "width-negative": ("width", -640),
        "width-zero": ("width", 0),
        "width-huge": ("width", 10**30),
        "width-string": ("width", "640"),
        "height-float": ("height", 480.5),
    }.items():
        cases.append(
            either(
                f"{p}/{variant}",
                run,
                {imp.input: _text(_first_image(imp, imp.data(), key, value))},
                check=conv,
                match=names_it,
            )
        )
    cases += [
        either(
            f"{p}/duplicate-ids",
            run,
            {imp.input: _text(_duplicate_ids(imp, imp.data()))},
            check=conv,
            match=names_it,
        ),
        ok(f"{p}/megabyte-text", run, {imp.input: _text(_long_text(imp, imp.data()))}, check=conv),
        either(
            f"{p}/no-items",
            run,
            {imp.input: _text(_empty(imp, imp.data()))},
            check=C.converted(OUT, 0),
            match=named(imp.input),
        ),
        # outputs
        error(
            f"{p}/output-is-the-input",
            imp.argv(imp.input, imp.input),
            {imp.input: good},
            match=named(imp.input),
            check=C.unchanged(imp.input, good),
        ),
        error(
            f"{p}/output-is-a-folder",
            imp.argv(imp.input, "taken"),
            {imp.input: good, "taken": Dir()},
            match="taken",
        ),
        error(
            f"{p}/output-under-a-file",
            imp.argv(imp.input, "taken/out.jsonl"),
            {imp.input: good, "taken": "x"},
            match="taken",
        ),
        ok(
            f"{p}/output-in-new-folders",
            imp.argv(imp.input, "new/sub/out.jsonl"),
            {imp.input: good},
            check=C.converted("new/sub/out.jsonl", imp.items),
        ),
        either(
            f"{p}/image-prefix-traversal",
            (*run, "--image-prefix", "../../up/"),
            {imp.input: good},
            check=conv,
            match="escapes|--image-prefix",
        ),
    ]
    return cases


CASES: list[Case] = [c for imp in IMPORTERS for c in _importer_cases(imp)]

# --------------------------------------------------------------------------- coco options

COCO = ("prepare-data", "coco", "--instances", "instances.json", "-o", OUT, "--json")
COCO_FILES = {"instances.json": json.dumps(F.coco_instances())}
CASES += [
    error("coco/gt-output-is-the-output", (*COCO, "--gt-output", OUT), COCO_FILES, match="differ"),
    error(
        "coco/gt-output-is-the-input",
        (*COCO, "--gt-output", "instances.json"),
        COCO_FILES,
        match="instances.json",
        check=C.unchanged("instances.json", COCO_FILES["instances.json"]),
    ),
    error(
        "coco/gt-output-is-a-folder",
        (*COCO, "--gt-output", "taken"),
        {**COCO_FILES, "taken": Dir()},
        match="taken",
    ),
    error(
        "coco/max-boxes-zero",
        (*COCO, "--max-boxes-per-category", "0"),
        COCO_FILES,
        match="--max-boxes",
    ),
    error(
        "coco/max-boxes-negative",
        (*COCO, "--max-boxes-per-image", "-3"),
        COCO_FILES,
        match="--max-boxes",
    ),
    error(
        "coco/max-boxes-float",
        (*COCO, "--max-boxes-per-image", "2.5"),
        COCO_FILES,
        match="--max-boxes",
    ),
    ok(
        "coco/max-boxes-huge",
        (*COCO, "--max-boxes-per-category", "1" + "0" * 30),
        COCO_FILES,
        check=C.converted(OUT, 4),
    ),
    error("coco/seed-huge", (*COCO, "--seed", "1" + "0" * 40), COCO_FILES, match="--seed"),
    ok("coco/seed-max", (*COCO, "--seed", str(2**32 - 1)), COCO_FILES, check=C.converted(OUT, 4)),
    error("coco/seed-negative", (*COCO, "--seed", "-1"), COCO_FILES, match="--seed"),
    error(
        "coco/variant-contradicted",
        (*COCO, "--variant", "filtered", "--max-boxes-per-category", "3"),
        COCO_FILES,
        match="--variant",
    ),
    error("coco/unknown-labels-mode", (*COCO, "--labels", "some"), COCO_FILES, match="--labels"),
    either(
        "coco/category-names-clash",
        COCO,
        {
            "instances.json": json.dumps(
                {
                    **F.coco_instances(),
                    "categories": [
                        {"id": 1, "name": "person"},
                        {"id": 3, "name": "person"},
                        {"id": 18, "name": "dog"},
                    ],
                }
            )
        },
        check=C.converted(OUT, 4),
        match="instances.json",
    ),
    either(
        "coco/annotation-of-unknown-image",
        COCO,
        {
            "instances.json": json.dumps(
                {
                    **F.coco_instances(),
                    "annotations": [
                        *F.coco_instances()["annotations"],
                        {
                            "id": 9999,
                            "image_id": 777,
                            "category_id": 1,
                            "bbox": [1, 1, 5, 5],
                            "area": 25,
                            "iscrowd": 0,
                        },
                    ],
                }
            )
        },
        check=C.converted(OUT, 4),
        match="instances.json",
    ),
    either(
        "coco/annotation-of-unknown-category",
        COCO,
        {
            "instances.json": json.dumps(
                {
                    **F.coco_instances(),
                    "annotations": [
                        *F.coco_instances()["annotations"],
                        {
                            "id": 9999,
                            "image_id": 1,
                            "category_id": 42,
                            "bbox": [1, 1, 5, 5],
                            "area": 25,
                            "iscrowd": 0,
                        },
                    ],
                }
            )
        },
        check=C.converted(OUT, 4),
        match="instances.json",
    ),
]

# --------------------------------------------------------------------------- vlmr1-rec

REC = ("prepare-data", "vlmr1-rec", "train.jsonl", "-o", OUT, "--json")
REC_LINES = "".join(json.dumps(x) + "\n" for x in F.vlmr1_train_lines())
REC_IMAGES = {"imgs/a.jpg": png(200, 240), "imgs/b.jpg": png(64, 48)}
CASES += [
    ok(
        "vlmr1-rec/train-jsonl",
        (*REC, "--image-root", "."),
        {"train.jsonl": REC_LINES, **REC_IMAGES},
        check=C.converted(OUT, 2),
    ),
    error(
        "vlmr1-rec/train-without-image-root", REC, {"train.jsonl": REC_LINES}, match="--image-root"
    ),
    error(
        "vlmr1-rec/image-root-missing",
        (*REC, "--image-root", "nowhere"),
        {"train.jsonl": REC_LINES},
        match="nowhere",
    ),
    error(
        "vlmr1-rec/image-root-is-a-file",
        (*REC, "--image-root", "train.jsonl"),
        {"train.jsonl": REC_LINES},
        match="train.jsonl",
    ),
    either(
        "vlmr1-rec/train-image-missing",
        (*REC, "--image-root", "."),
        {"train.jsonl": REC_LINES, "imgs/a.jpg": png(200, 240)},
        check=C.converted(OUT, 2),
        match="b.jpg",
    ),
    either(
        "vlmr1-rec/train-image-truncated",
        (*REC, "--image-root", "."),
        {"train.jsonl": REC_LINES, "imgs/a.jpg": png(200, 240), "imgs/b.jpg": truncated_png()},
        check=C.converted(OUT, 2),
        match="b.jpg",
    ),
    error(
        "vlmr1-rec/train-image-bomb",
        (*REC, "--image-root", "."),
        {"train.jsonl": REC_LINES, "imgs/a.jpg": png(200, 240), "imgs/b.jpg": bomb_png()},
        match="b.jpg",
    ),
    either(
        "vlmr1-rec/train-image-not-an-image",
        (*REC, "--image-root", "."),
        {"train.jsonl": REC_LINES, "imgs/a.jpg": png(200, 240), "imgs/b.jpg": "not an image"},
        check=C.converted(OUT, 2),
        match="b.jpg",
    ),
    either(
        "vlmr1-rec/train-image-symlink-out-of-root",
        (*REC, "--image-root", "root"),
        {
            "train.jsonl": REC_LINES,
            "root/imgs/a.jpg": png(200, 240),
            "outside.jpg": png(64, 48),
            "root/imgs/b.jpg": lambda p: p.symlink_to(p.parents[2] / "outside.jpg"),
        },
        check=C.converted(OUT, 2),
        match="b.jpg",
    ),
    either(
        "vlmr1-rec/answer-with-5000-digits",
        (*REC, "--image-root", "."),
        {
            "train.jsonl": REC_LINES.replace("[10, 20, 110, 220]", f"[10, 20, {HUGE_INT}, 220]"),
            **REC_IMAGES,
        },
        check=C.converted(OUT, 2),
        match="train.jsonl",
    ),
    either(
        "vlmr1-rec/answer-deeply-nested",
        (*REC, "--image-root", "."),
        {
            "train.jsonl": REC_LINES.replace("[10, 20, 110, 220]", "[" * 5000 + "]" * 5000),
            **REC_IMAGES,
        },
        check=C.converted(OUT, 2),
        match="train.jsonl",
    ),
    either(
        "vlmr1-rec/conversations-not-a-list",
        (*REC, "--image-root", "."),
        {
            "train.jsonl": REC_LINES.replace(
                '"conversations": [', '"conversations": "x", "c": [', 1
            ),
            **REC_IMAGES,
        },
        check=C.converted(OUT, 2),
        match="train.jsonl",
    ),
    error(
        "vlmr1-rec/coords-unknown",
        (*REC, "--coords", "pixels"),
        {"train.jsonl": REC_LINES},
        match="--coords",
    ),
    error("vlmr1-rec/no-files", ("prepare-data", "vlmr1-rec", "-o", OUT), {}, match="FILES|files"),
    error(
        "vlmr1-rec/same-file-twice-ids-clash",
        ("prepare-data", "vlmr1-rec", "a.json", "a.json", "-o", OUT),
        {"a.json": json.dumps(F.vlmr1_eval_items())},
        match="a.json",
    ),
]

# --------------------------------------------------------------------------- ovdeval / d3 extra

CASES += [
    error(
        "ovdeval/subset-with-two-files",
        ("prepare-data", "ovdeval", "a.json", "b.json", "--subset", "x", "-o", OUT),
        {
            "a.json": json.dumps(F.ovdeval_subset("celebrity")),
            "b.json": json.dumps(F.ovdeval_subset("logo")),
        },
        match="--subset",
    ),
    either(
        "ovdeval/text-not-a-list",
        ("prepare-data", "ovdeval", "negation.json", "-o", OUT, "--json"),
        {
            "negation.json": json.dumps(
                {
                    **F.ovdeval_subset("negation"),
                    "images": [
                        {**F.ovdeval_subset("negation")["images"][0], "text": "computer"},
                        F.ovdeval_subset("negation")["images"][1],
                    ],
                }
            )
        },
        check=C.converted(OUT, 2),
        match="negation.json",
    ),
    error(
        "d3/no-input", ("prepare-data", "d3", "-o", OUT), {}, match="--anno-dir|--annotations-json"
    ),
    error(
        "d3/both-inputs",
        ("prepare-data", "d3", "--anno-dir", "d3", "--annotations-json", "d3.json", "-o", OUT),
        {"d3.json": json.dumps(F.d3_json()), "d3": lambda p: F.write_d3(p)},
        match="--anno-dir|--annotations-json",
    ),
    error(
        "d3/negatives-negative",
        ("prepare-data", "d3", "--annotations-json", "d3.json", "--negatives", "-1", "-o", OUT),
        {"d3.json": json.dumps(F.d3_json())},
        match="--negatives",
    ),
    ok(
        "d3/negatives-huge",
        (
            "prepare-data",
            "d3",
            "--annotations-json",
            "d3.json",
            "--negatives",
            "1" + "0" * 25,
            "-o",
            OUT,
            "--json",
        ),
        {"d3.json": json.dumps(F.d3_json())},
        check=C.converted(OUT, 3),
    ),
]

# pickles (D3 annotation folder): malicious, truncated, wrong type; nothing in them may run
D3 = ("prepare-data", "d3", "--anno-dir", "d3", "-o", OUT, "--json")


def _d3_with(name: str, blob: bytes | None) -> dict:
    def build(folder: Path) -> None:
        F.write_d3(folder)
        if blob is None:
            (folder / f"{name}.pkl").unlink()
        else:
            (folder / f"{name}.pkl").write_bytes(blob)

    return {"d3": build}


CASES.append(ok("d3-pickles/valid", D3, {"d3": lambda p: F.write_d3(p)}, check=C.converted(OUT, 3)))
for part in ("sentences", "annotations", "images", "groups"):
    CASES += [
        error(
            f"d3-pickles/{part}-os-mkdir",
            D3,
            _d3_with(part, evil_pickle()),
            match=f"{part}.pkl",
            check=C.not_created("PWNED"),
        ),
        error(f"d3-pickles/{part}-missing", D3, _d3_with(part, None), match=f"{part}.pkl"),
    ]
CASES += [
    error(
        "d3-pickles/eval-payload",
        D3,
        _d3_with("images", eval_pickle()),
        match="images.pkl",
        check=C.not_created("PWNED"),
    ),
    error(
        "d3-pickles/truncated",
        D3,
        _d3_with("annotations", pickle.dumps(F.d3_data()["annotations"])[:200]),
        match="annotations.pkl",
    ),
    error("d3-pickles/empty-file", D3, _d3_with("sentences", b""), match="sentences.pkl"),
    error("d3-pickles/json-not-pickle", D3, _d3_with("groups", b'{"a": 1}'), match="groups.pkl"),
    error(
        "d3-pickles/list-not-dict",
        D3,
        _d3_with("images", pickle.dumps([1, 2, 3])),
        match="images.pkl",
    ),
    error(
        "d3-pickles/bytes-bomb",
        D3,
        _d3_with(
            "groups",
            b"\x80\x04\x95\x0b\x00\x00\x00\x00\x00\x00\x00"
            b"\x8c\x08builtins\x8c\x05bytes\x93J\x00\xe1\xf5\x05\x85R.",
        ),
        match="groups.pkl",
    ),
    error("d3-pickles/anno-dir-is-a-file", D3, {"d3": "x"}, match="d3"),
    error("d3-pickles/anno-dir-missing", D3, {}, match="d3"),
]

# --------------------------------------------------------------------------- refcoco

REF = (
    "prepare-data",
    "refcoco",
    "--refer-root",
    "refer",
    "--dataset",
    "refcoco",
    "--split-by",
    "unc",
    "--split",
    "train",
    "-o",
    OUT,
    "--json",
)


def _refer(mutate: Callable[[Path], None] | None = None) -> dict:
    def build(root: Path) -> None:
        F.write_refer(root)
        if mutate:
            mutate(root / "refcoco")

    return {"refer": build}


CASES += [
    ok("refcoco/valid", REF, _refer(), check=C.converted(OUT, 3, written=2)),
    error(
        "refcoco/refs-os-mkdir",
        REF,
        _refer(lambda f: (f / "refs(unc).p").write_bytes(evil_pickle())),
        match=r"refs\(unc\)\.p",
        check=C.not_created("PWNED"),
    ),
    error(
        "refcoco/refs-truncated",
        REF,
        _refer(lambda f: (f / "refs(unc).p").write_bytes((f / "refs(unc).p").read_bytes()[:100])),
        match=r"refs\(unc\)\.p",
    ),
    error(
        "refcoco/refs-missing",
        REF,
        _refer(lambda f: (f / "refs(unc).p").unlink()),
        match=r"refs\(unc\)\.p",
    ),
    error(
        "refcoco/refs-a-dict",
        REF,
        _refer(lambda f: (f / "refs(unc).p").write_bytes(pickle.dumps({"a": 1}, protocol=2))),
        match=r"refs\(unc\)\.p",
    ),
    error(
        "refcoco/instances-missing",
        REF,
        _refer(lambda f: (f / "instances.json").unlink()),
        match="instances.json",
    ),
    error(
        "refcoco/instances-invalid",
        REF,
        _refer(lambda f: (f / "instances.json").write_text("{")),
        match="instances.json",
    ),
    error(
        "refcoco/instances-deep",
        REF,
        _refer(lambda f: (f / "instances.json").write_text("[" * 100000)),
        match="instances.json",
    ),
    error(
        "refcoco/instances-not-utf8",
        REF,
        _refer(lambda f: (f / "instances.json").write_bytes(b"\xff\xfe{}")),
        match="instances.json",
    ),
    error("refcoco/refer-root-missing", REF, {}, match="refer"),
    error("refcoco/refer-root-is-a-file", REF, {"refer": "x"}, match="refer"),
    error(
        "refcoco/dataset-unknown", (*REF[:5], "refcoco++", *REF[6:]), _refer(), match="--dataset"
    ),
    error(
        "refcoco/output-is-the-refs",
        (*REF[:-3], "-o", "refer/refcoco/refs(unc).p"),
        _refer(),
        match=r"refs\(unc\)\.p",
    ),
]

# --------------------------------------------------------------------------- lisa

LISA = ("prepare-data", "lisa", "lisa", "-o", OUT, "--json")


def _lisa(mutate: Callable[[Path], None] | None = None) -> dict:
    def build(folder: Path) -> None:
        F.write_lisa(folder)
        if mutate:
            mutate(folder)

    return {"lisa": build}


def _lisa_json(stem: str, change: Callable[[dict], Any]) -> Callable[[Path], None]:
    def mutate(folder: Path) -> None:
        anno = json.loads((folder / f"{stem}.json").read_text())
        change(anno)
        (folder / f"{stem}.json").write_text(json.dumps(anno))

    return mutate


def _set(d: dict, path: tuple, value: Any) -> None:
    for k in path[:-1]:
        d = d[k]
    d[path[-1]] = value


LISA_OK = C.converted(OUT, 4)
CASES += [
    ok("lisa/valid", LISA, _lisa(), check=C.converted(OUT, 4, written=3)),
    error("lisa/folder-missing", LISA, {}, match="lisa"),
    error("lisa/folder-is-a-file", LISA, {"lisa": "x"}, match="lisa"),
    either("lisa/empty-folder", LISA, {"lisa": Dir()}, check=C.converted(OUT, 0), match="lisa"),
    error(
        "lisa/json-invalid", LISA, _lisa(lambda f: (f / "a.json").write_text("{")), match="a.json"
    ),
    error(
        "lisa/json-not-utf8",
        LISA,
        _lisa(lambda f: (f / "a.json").write_bytes(b'{"text": "\xff"}')),
        match="a.json",
    ),
    error(
        "lisa/json-a-list", LISA, _lisa(lambda f: (f / "a.json").write_text("[]")), match="a.json"
    ),
    error(
        "lisa/json-deep",
        LISA,
        _lisa(lambda f: (f / "a.json").write_text("[" * 100000 + "]" * 100000)),
        match="a.json",
    ),
    either(
        "lisa/image-missing",
        LISA,
        _lisa(lambda f: (f / "b.jpg").unlink()),
        check=LISA_OK,
        match="b",
    ),
    either(
        "lisa/image-truncated",
        LISA,
        _lisa(lambda f: truncated_png()(f / "b.jpg")),
        check=LISA_OK,
        match="b",
    ),
    error(
        "lisa/image-bomb",
        LISA,
        _lisa(lambda f: (f / "b.jpg").write_bytes(bomb_png())),
        match="b.jpg",
    ),
    either(
        "lisa/image-not-an-image",
        LISA,
        _lisa(lambda f: (f / "b.jpg").write_text("x")),
        check=LISA_OK,
        match="b",
    ),
    either(
        "lisa/image-is-a-folder",
        LISA,
        _lisa(lambda f: ((f / "b.jpg").unlink(), (f / "b.jpg").mkdir())),
        check=LISA_OK,
        match="b",
    ),
    either(
        "lisa/points-nan",
        LISA,
        _lisa(
            lambda f: (f / "a.json").write_text(
                (f / "a.json").read_text().replace("[10, 10]", "[NaN, 10]", 1)
            )
        ),
        check=LISA_OK,
        match="a.json",
    ),
    either(
        "lisa/points-1e999",
        LISA,
        _lisa(
            lambda f: (f / "a.json").write_text(
                (f / "a.json").read_text().replace("[10, 10]", "[1e999, 10]", 1)
            )
        ),
        check=LISA_OK,
        match="a.json",
    ),
    either(
        "lisa/points-empty",
        LISA,
        _lisa(_lisa_json("a", lambda d: _set(d, ("shapes", 0, "points"), []))),
        check=LISA_OK,
        match="a.json",
    ),
    either(
        "lisa/points-strings",
        LISA,
        _lisa(
            _lisa_json(
                "a",
                lambda d: _set(d, ("shapes", 0, "points"), [["1", "2"], ["3", "4"], ["5", "6"]]),
            )
        ),
        check=LISA_OK,
        match="a.json",
    ),
    either(
        "lisa/shapes-not-a-list",
        LISA,
        _lisa(_lisa_json("a", lambda d: _set(d, ("shapes",), {"x": 1}))),
        check=LISA_OK,
        match="a.json",
    ),
    either(
        "lisa/text-not-a-list",
        LISA,
        _lisa(_lisa_json("a", lambda d: _set(d, ("text",), 42))),
        check=LISA_OK,
        match="a.json",
    ),
    either(
        "lisa/text-megabyte",
        LISA,
        _lisa(_lisa_json("a", lambda d: _set(d, ("text",), ["w " * 500_000]))),
        check=C.converted(OUT, 3),
        match="a.json",
    ),
    either(
        "lisa/json-symlink-out-of-folder",
        LISA,
        {
            **_lisa(),
            "outside.json": json.dumps({"text": ["x"], "shapes": []}),
            "lisa/d.json": lambda p: p.symlink_to(p.parents[1] / "outside.json"),
            "lisa/d.jpg": png(20, 20),
        },
        check=C.converted(OUT, 5),
        match="d.json",
    ),
]


@pytest.mark.parametrize("case", params(CASES))
def test_prepare(case, hostile):
    hostile.run(case)

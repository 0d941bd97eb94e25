"""`vlmr1 evaluate` in model mode on the session's tiny model: broken data files and records,
images that escape the root or are truncated/bombs/too thin, extreme text, broken or missing
models (truncated safetensors, garbage config, unknown Hub ids offline), bad options and
outputs. Every record evaluated is in predictions.jsonl (no silent loss)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.hostile import checks as C
from tests.hostile.harness import (
    Case,
    CopyOf,
    Dir,
    Link,
    Result,
    SilentLoss,
    either,
    error,
    ok,
    params,
)
from tests.hostile.inputs import (
    DEEP,
    HUGE_INT,
    NOT_UTF8,
    bomb_png,
    jsonl,
    ovd_record,
    png,
    rec_record,
    truncated_png,
)

DATA = "{shapes}/eval.jsonl"
EVAL = ("evaluate", "-m", "{model}", "-d", DATA, "-o", "ev", "--max-new-tokens", "4", "--json")


def own_data(*records: dict | str) -> tuple[tuple, dict]:
    """argv and files for evaluating the tiny model on `records` (images img0/img1.png)."""
    argv = (
        "evaluate",
        "-m",
        "{model}",
        "-d",
        "d.jsonl",
        "-o",
        "ev",
        "--max-new-tokens",
        "4",
        "--json",
    )
    return argv, {"d.jsonl": jsonl(*records), "img0.png": png(), "img1.png": png()}


def evaluated(n: int) -> C.Check:
    """n samples scored, and predictions.jsonl holds one line per sample."""

    def check(res: Result) -> None:
        metrics = C.stdout_json(res)
        preds = C.lines(res.folder / "ev" / "predictions.jsonl")
        if metrics.get("n") != n or len(preds) != n:
            raise SilentLoss(
                f"want {n} samples: metrics n={metrics.get('n')}, {len(preds)} predictions"
            )

    return check


def truncate(name: str, keep: float = 0.5):
    def mutate(folder: Path) -> None:
        f = folder / name
        f.write_bytes(f.read_bytes()[: int(f.stat().st_size * keep)])

    return mutate


def rewrite(name: str, text: str):
    def mutate(folder: Path) -> None:
        (folder / name).write_text(text)

    return mutate


def model_case(id: str, mutate, match: str) -> Case:
    return error(
        f"evaluate/model-{id}",
        ("evaluate", "-m", "m", "-d", DATA, "-o", "ev", "--max-new-tokens", "4"),
        {"m": CopyOf("{model}", mutate)},
        match=match,
    )


CASES: list[Case] = [
    ok("evaluate/valid", EVAL, check=evaluated(2)),
    ok("evaluate/max-samples-huge", (*EVAL, "--max-samples", "1" + "0" * 30), check=evaluated(2)),
    ok("evaluate/sample-huge", (*EVAL, "--sample", "1" + "0" * 30), check=evaluated(2)),
    ok("evaluate/batch-size-huge", (*EVAL, "--batch-size", "1" + "0" * 12), check=evaluated(2)),
    ok("evaluate/visualize-huge", (*EVAL, "--visualize", "1" + "0" * 30), check=evaluated(2)),
    error("evaluate/seed-huge", (*EVAL, "--sample", "1", "--seed", "1" + "0" * 40), match="--seed"),
    error("evaluate/batch-size-zero", (*EVAL, "--batch-size", "0"), match="--batch-size"),
    error(
        "evaluate/max-new-tokens-zero", (*EVAL, "--max-new-tokens", "0"), match="--max-new-tokens"
    ),
    # each worker loads its own model: refused before any is started (no workers.log)
    error(
        "evaluate/num-processes-huge",
        (*EVAL, "--num-processes", "100000"),
        match="--num-processes 100000",
        check=C.no_file("ev/workers.log", "ev/predictions.jsonl"),
    ),
    error(
        "evaluate/max-samples-and-sample",
        (*EVAL, "--max-samples", "1", "--sample", "1"),
        match="--sample",
    ),
    error("evaluate/device-banana", (*EVAL, "--device", "banana"), match="--device|banana"),
    error("evaluate/device-cuda-99", (*EVAL, "--device", "cuda:99"), match="--device|cuda"),
    error("evaluate/backend-vllm-missing", (*EVAL, "--backend", "vllm"), match="vllm"),
    error("evaluate/task-mismatch", (*EVAL, "--task", "ovd"), match="task|ovd"),
    error(
        "evaluate/template-unknown-field",
        (*EVAL, "--template", "Find {object}."),
        match="--template|object",
    ),
    error(
        "evaluate/template-unbalanced", (*EVAL, "--template", "Find {problem"), match="--template"
    ),
    error("evaluate/only-model", ("evaluate", "-m", "{model}"), match="--data"),
    error("evaluate/output-is-a-file", EVAL, {"ev": "x"}, match="ev"),
    error(
        "evaluate/output-under-a-file", (*EVAL[:5], "-o", "f/ev", *EVAL[7:]), {"f": "x"}, match="f"
    ),
    error("evaluate/image-root-missing", (*EVAL, "--image-root", "nowhere"), match="nowhere"),
    error("evaluate/image-root-is-a-file", (*EVAL, "--image-root", "x"), {"x": "x"}, match="x"),
]

# the data file
GOOD_LINE = json.dumps(rec_record(0))
for variant, content in [
    ("missing", None),
    ("empty", ""),
    ("folder", Dir()),
    ("dangling-link", Link("gone")),
    ("not-utf8", GOOD_LINE.encode() + b"\n" + NOT_UTF8),
    ("invalid-line", GOOD_LINE + '\n{"id": "x",\n'),
    ("line-is-a-list", GOOD_LINE + "\n[1, 2]\n"),
    ("deep-line", GOOD_LINE + "\n" + DEEP + "\n"),
    ("huge-int-line", GOOD_LINE + '\n{"id": ' + HUGE_INT + "}\n"),
]:
    argv, files = own_data()
    files = {k: v for k, v in files.items() if k != "d.jsonl"}
    if content is not None:
        files["d.jsonl"] = content
    CASES.append(error(f"evaluate/data-{variant}", argv, files, match="d.jsonl"))

# records
RECORDS = {
    "box-nan": (GOOD_LINE.replace("2.0, 3.0", "NaN, 3.0"), "d.jsonl|r0|solution"),
    "box-inverted": (rec_record(1, solution=[20, 18, 2, 3]), "d.jsonl|r1|solution"),
    "duplicate-id": (rec_record(0), "d.jsonl|duplicate|r0"),
    "missing-key": (
        {k: v for k, v in rec_record(1).items() if k != "problem"},
        "d.jsonl|r1|problem",
    ),
    "image-traversal": (rec_record(1, images=["../../../etc/passwd"]), "escapes|passwd"),
    "image-absolute": (rec_record(1, images=["/etc/passwd"]), "absolute|escapes|passwd"),
    "image-missing": (rec_record(1, images=["gone.png"]), "gone.png"),
    "image-symlink-out": (rec_record(1, images=["link.png"]), "link.png|escapes"),
    "image-truncated": (rec_record(1, images=["cut.png"], image_sizes=[[64, 48]]), "cut.png"),
    "image-bomb": (rec_record(1, images=["bomb.png"], image_sizes=[[30000, 30000]]), "bomb.png"),
    "image-not-an-image": (rec_record(1, images=["text.png"]), "text.png"),
    "image-ratio-over-200": (
        rec_record(1, images=["thin.png"], image_sizes=[[1000, 4]], solution=[1, 0, 5, 3]),
        "thin.png",
    ),
    "image-size-mismatch": (
        rec_record(1, image_sizes=[[640, 480]]),
        r"d.jsonl:2: .*img1.png.*32x24.*640x480",
    ),
    "problem-50mb": (rec_record(1, problem="word " * 10_000_000), "r1|problem|long"),
}
EXTRA_FILES = {
    "link.png": Link("../outside.png"),
    "cut.png": truncated_png(64, 48),
    "bomb.png": bomb_png(),
    "text.png": "not an image",
    "thin.png": png(1000, 4),
}
for name, (record, match) in RECORDS.items():
    argv, files = own_data(rec_record(0), record)
    files.update({k: v for k, v in EXTRA_FILES.items() if k in json.dumps(record)})
    if name == "image-symlink-out":
        argv = (*argv, "--image-root", "root")
        files = {
            "d.jsonl": files["d.jsonl"],
            "root/img0.png": png(),
            "root/link.png": Link("../outside.png"),
            "outside.png": png(),
        }
    CASES.append(error(f"evaluate/record-{name}", argv, files, match=match))
CASES.append(
    error(
        "evaluate/record-gt-file-outside",
        *own_data(
            ovd_record(0, images=["img0.png"]),
            ovd_record(1, images=["img1.png"], gt_file="../../gt.json"),
        ),
        match="gt_file|escapes|outside",
    )
)
CASES.append(
    either(
        "evaluate/record-problem-megabyte",
        *own_data(rec_record(0), rec_record(1, problem="the " + "red " * 250_000 + "square")),
        check=evaluated(2),
        match="r1|problem",
    )
)
CASES.append(
    either(
        "evaluate/record-id-megabyte",
        *own_data(rec_record(0), rec_record(1, id="i" * 1_000_000)),
        check=evaluated(2),
        match="iiii|id",
    )
)

# models
CASES += [
    model_case("truncated-safetensors", truncate("model.safetensors"), "model.safetensors|^m: "),
    model_case("empty-safetensors", truncate("model.safetensors", 0), "model.safetensors|^m: "),
    model_case(
        "garbage-safetensors",
        rewrite("model.safetensors", "garbage" * 100),
        "model.safetensors|^m: ",
    ),
    model_case("config-invalid-json", rewrite("config.json", "{"), "config.json"),
    model_case("config-a-list", rewrite("config.json", "[]"), "config.json"),
    model_case(
        "config-unknown-type",
        rewrite("config.json", json.dumps({"model_type": "banana"})),
        "config.json|banana|model_type",
    ),
    model_case("tokenizer-missing", lambda f: (f / "tokenizer.json").unlink(), "tokenizer|m"),
    model_case(
        "weights-missing", lambda f: (f / "model.safetensors").unlink(), "safetensors|weights|m"
    ),
    error(
        "evaluate/model-missing",
        ("evaluate", "-m", "nowhere", "-d", DATA, "-o", "ev"),
        match="nowhere",
    ),
    error(
        "evaluate/model-is-a-file",
        ("evaluate", "-m", "f", "-d", DATA, "-o", "ev"),
        {"f": "x"},
        match="f",
    ),
    error(
        "evaluate/model-empty-folder",
        ("evaluate", "-m", "m", "-d", DATA, "-o", "ev"),
        {"m": Dir()},
        match="m",
    ),
    error(
        "evaluate/model-unknown-hub-id-offline",
        ("evaluate", "-m", "nobody/no-such-model", "-d", DATA, "-o", "ev"),
        match="nobody/no-such-model",
    ),
    error(
        "evaluate/model-hub-id-traversal",
        ("evaluate", "-m", "../../etc", "-d", DATA, "-o", "ev"),
        match=r"\.\./\.\./etc",
    ),
    error(
        "evaluate/model-unknown-preset",
        ("evaluate", "-m", "preset:tiny-banana", "-d", DATA, "-o", "ev"),
        match="tiny-banana",
    ),
]


@pytest.mark.parametrize("case", params(CASES))
def test_evaluate(case, hostile):
    hostile.run(case)

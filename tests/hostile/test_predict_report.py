"""`vlmr1 predict` (a model on images) and `vlmr1 report` (report.html of evaluation or run
folders): missing, broken, bomb and non-image files, empty or contradictory queries, prompt
templates that drop the query, outputs that are files, folders that are not evaluations.
Every image of a folder is answered (or counted as skipped), never dropped silently."""

from __future__ import annotations

import pytest

from tests.hostile import checks as C
from tests.hostile.harness import (
    Case,
    Dir,
    Result,
    SilentLoss,
    either,
    error,
    ok,
    params,
)
from tests.hostile.inputs import bomb_png, png, truncated_png

PREDICT = ("predict", "-m", "{model}", "--max-new-tokens", "4", "--json")


def answered(n: int, skipped_ok: int = 0) -> C.Check:
    """`predict --json` has a result per image (`skipped_ok` images may be listed as skipped)."""

    def check(res: Result) -> None:
        out = C.stdout_json(res)
        results = out.get("results", [])
        skipped = out.get("skipped") or []
        if len(results) + min(len(skipped), skipped_ok) != n:
            raise SilentLoss(f"{n} images in, {len(results)} answered, skipped: {skipped}")

    return check


CASES: list[Case] = [
    ok(
        "predict/one-image",
        (*PREDICT, "-i", "a.png", "--phrase", "the red square"),
        {"a.png": png()},
        check=answered(1),
    ),
    ok(
        "predict/folder",
        (*PREDICT, "-i", "imgs", "--phrase", "the red square"),
        {"imgs/a.png": png(), "imgs/b.png": png(40, 30)},
        check=answered(2),
    ),
    ok(
        "predict/folder-with-a-text-file",
        (*PREDICT, "-i", "imgs", "--phrase", "the red square"),
        {"imgs/a.png": png(), "imgs/notes.txt": "not an image"},
        check=answered(1),
    ),
    either(
        "predict/folder-with-a-broken-image",
        (*PREDICT, "-i", "imgs", "--phrase", "the red square"),
        {"imgs/a.png": png(), "imgs/b.png": "not an image"},
        check=answered(2, skipped_ok=1),
        match="b.png",
    ),
    ok(
        "predict/labels",
        (*PREDICT, "-i", "a.png", "--labels", "cat,red car"),
        {"a.png": png()},
        check=answered(1),
    ),
    error("predict/image-missing", (*PREDICT, "-i", "gone.png", "--phrase", "x"), match="gone.png"),
    error(
        "predict/empty-folder",
        (*PREDICT, "-i", "imgs", "--phrase", "x"),
        {"imgs": Dir()},
        match="imgs",
    ),
    error(
        "predict/image-truncated",
        (*PREDICT, "-i", "cut.png", "--phrase", "x"),
        {"cut.png": truncated_png()},
        match="cut.png",
    ),
    error(
        "predict/image-bomb",
        (*PREDICT, "-i", "bomb.png", "--phrase", "x"),
        {"bomb.png": bomb_png()},
        match="bomb.png",
    ),
    error(
        "predict/not-an-image",
        (*PREDICT, "-i", "t.png", "--phrase", "x"),
        {"t.png": "text"},
        match="t.png",
    ),
    error(
        "predict/ratio-over-200",
        (*PREDICT, "-i", "thin.png", "--phrase", "x"),
        {"thin.png": png(1000, 4)},
        match="thin.png",
    ),
    error(
        "predict/phrase-and-labels",
        (*PREDICT, "-i", "a.png", "--phrase", "x", "--labels", "y"),
        {"a.png": png()},
        match="--phrase|--labels",
    ),
    error(
        "predict/no-query", (*PREDICT, "-i", "a.png"), {"a.png": png()}, match="--phrase|--labels"
    ),
    error(
        "predict/empty-phrase",
        (*PREDICT, "-i", "a.png", "--phrase", "  "),
        {"a.png": png()},
        match="--phrase",
    ),
    error(
        "predict/only-commas",
        (*PREDICT, "-i", "a.png", "--labels", ",, ,"),
        {"a.png": png()},
        match="--labels",
    ),
    error(
        "predict/template-without-query",
        (*PREDICT, "-i", "a.png", "--phrase", "x", "--template", "Look."),
        {"a.png": png()},
        match="--template.*{problem}",
    ),
    error(
        "predict/labels-template-without-query",
        (*PREDICT, "-i", "a.png", "--labels", "cat", "--template", "Find {object}."),
        {"a.png": png()},
        match="--template.*{labels}",
    ),
    error(
        "predict/output-is-a-file",
        (*PREDICT, "-i", "a.png", "--phrase", "x", "-o", "taken"),
        {"a.png": png(), "taken": "x"},
        match="taken",
    ),
    error(
        "predict/device-banana",
        (*PREDICT, "-i", "a.png", "--phrase", "x", "--device", "banana"),
        {"a.png": png()},
        match="--device|banana",
    ),
    error(
        "predict/model-missing",
        ("predict", "-m", "nowhere", "-i", "a.png", "--phrase", "x"),
        {"a.png": png()},
        match="nowhere",
    ),
    error(
        "predict/unknown-hub-id-offline",
        ("predict", "-m", "nobody/no-model", "-i", "a.png", "--phrase", "x"),
        {"a.png": png()},
        match="nobody/no-model",
    ),
]

REPORT = ("report",)
CASES += [
    error("report/folder-missing", (*REPORT, "nowhere"), match="nowhere"),
    error("report/folder-is-a-file", (*REPORT, "f"), {"f": "x"}, match="f"),
    error("report/empty-folder", (*REPORT, "ev"), {"ev": Dir()}, match="ev"),
    error(
        "report/predictions-invalid",
        (*REPORT, "ev"),
        {"ev/predictions.jsonl": '{"id": "a",\n', "ev/metrics.json": '{"n": 1, "task": "rec"}'},
        match="ev",
    ),
    error(
        "report/predictions-deep",
        (*REPORT, "ev"),
        {
            "ev/predictions.jsonl": "[" * 100_000 + "]" * 100_000 + "\n",
            "ev/metrics.json": '{"n": 1}',
        },
        match="ev",
    ),
    error(
        "report/metrics-invalid",
        (*REPORT, "ev"),
        {"ev/predictions.jsonl": "", "ev/metrics.json": "{"},
        match="metrics.json|ev",
    ),
    error(
        "report/metrics-a-list",
        (*REPORT, "ev"),
        {"ev/predictions.jsonl": "", "ev/metrics.json": "[1, 2]"},
        match="metrics.json|ev",
    ),
    error(
        "report/comparison-without-output",
        (*REPORT, "a", "b"),
        {"a": Dir(), "b": Dir()},
        match="--output|a",
    ),
    error(
        "report/train-log-invalid",
        (*REPORT, "run"),
        {"run/train_log.jsonl": "{\n", "run/vlmr1.json": "{}"},
        match="run",
    ),
]


@pytest.mark.parametrize("case", params(CASES))
def test_predict_report(case, hostile):
    hostile.run(case)

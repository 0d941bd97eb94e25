"""The prepare-data commands end to end: summary tables, exit codes, one-line errors."""

from __future__ import annotations

import json

import pytest

from tests.cli_runner import run_main
from vlmr1_cli.data.report import RecordSink

from .conftest import read_jsonl
from .fixtures import (
    coco_instances,
    d3_json,
    make_image,
    ovdeval_subset,
    refer_data,
    vlmr1_eval_items,
    vlmr1_train_lines,
    write_d3,
    write_lisa,
    write_refer,
)


def _refcoco(root, out, split="train"):
    return (
        "prepare-data",
        "refcoco",
        "--refer-root",
        root,
        "--dataset",
        "refcoco",
        "--split-by",
        "unc",
        "--split",
        split,
        "--output",
        out,
    )


def test_each_command_writes_and_prints_a_summary(tmp_path, monkeypatch, capsys):
    root = write_refer(tmp_path / "refer")
    code, out, _ = run_main(monkeypatch, capsys, *_refcoco(root, tmp_path / "r.jsonl"))
    assert code == 0 and "records written" in out and "skipped: degenerate box" in out

    inst = tmp_path / "instances.json"
    inst.write_text(json.dumps(coco_instances()))
    code, out, _ = run_main(
        monkeypatch,
        capsys,
        "prepare-data",
        "coco",
        "--instances",
        inst,
        "--output",
        tmp_path / "c.jsonl",
        "--max-boxes-per-category",
        "10",
    )
    assert code == 0 and "output: gt" in out and (tmp_path / "c_gt.json").is_file()
    code, out, _ = run_main(
        monkeypatch,
        capsys,
        "prepare-data",
        "coco",
        "--instances",
        inst,
        "--output",
        tmp_path / "p2.jsonl",
        "--variant",
        "pos2",
    )
    assert (
        code == 0
        and "option: labels" in out
        and read_jsonl(tmp_path / "p2.jsonl")[0]["labels"] == ["person"]
    )
    code, _, err = run_main(
        monkeypatch,
        capsys,
        "prepare-data",
        "coco",
        "--instances",
        inst,
        "--output",
        tmp_path / "p3.jsonl",
        "--variant",
        "pos3",
        "--max-boxes-per-image",
        "5",
    )
    assert code == 1 and "--max-boxes-per-image 5 contradicts --variant pos3" in err

    code, out, _ = run_main(
        monkeypatch,
        capsys,
        "prepare-data",
        "d3",
        "--anno-dir",
        write_d3(tmp_path / "pkl"),
        "--output",
        tmp_path / "d.jsonl",
        "--negatives",
        "2",
        "--seed",
        "1",
    )
    assert code == 0 and len(read_jsonl(tmp_path / "d.jsonl")[0]["negatives"]) == 2

    sub = tmp_path / "negation.json"
    sub.write_text(json.dumps(ovdeval_subset("negation")))
    code, out, _ = run_main(
        monkeypatch, capsys, "prepare-data", "ovdeval", sub, "--output", tmp_path / "o.jsonl"
    )
    assert code == 0 and read_jsonl(tmp_path / "o.jsonl")[0]["subset"] == "negation"

    code, out, _ = run_main(
        monkeypatch,
        capsys,
        "prepare-data",
        "lisa",
        write_lisa(tmp_path / "lisa"),
        "--output",
        tmp_path / "l.jsonl",
        "--box-rule",
        "first-shape",
    )
    assert code == 0 and "option: box_rule" in out

    ev = tmp_path / "refcoco_val.json"
    ev.write_text(json.dumps(vlmr1_eval_items()))
    code, out, _ = run_main(
        monkeypatch, capsys, "prepare-data", "vlmr1-rec", ev, "--output", tmp_path / "v.jsonl"
    )
    assert code == 0 and "bbox_list = solution - 1" in out


def test_validate_exit_codes(tmp_path, monkeypatch, capsys):
    write_lisa(tmp_path)
    from vlmr1_cli.data.lisa import convert_lisa

    convert_lisa(tmp_path, tmp_path / "l.jsonl")
    code, out, _ = run_main(monkeypatch, capsys, "prepare-data", "validate", tmp_path / "l.jsonl")
    assert code == 0 and "OK" in out
    make_image(tmp_path / "a.jpg", 20, 20)  # now the size differs from the records
    code, out, _ = run_main(
        monkeypatch,
        capsys,
        "prepare-data",
        "validate",
        tmp_path / "l.jsonl",
        "--image-root",
        tmp_path,
    )
    assert (
        code == 1
        and "l.jsonl:1: id 'a-0': a.jpg is 20x20, record says 200x100" in out
        and "FAILED" in out
    )


def _break(kind, tmp_path):
    """Build a refer folder with one upstream defect; return the text the error must contain."""
    root = write_refer(tmp_path / "refer")
    inst = root / "refcoco" / "instances.json"
    refs = root / "refcoco" / "refs(unc).p"
    if kind == "truncated json":
        inst.write_text(inst.read_text()[:-100])
        return "instances.json:1: invalid JSON"
    if kind == "non-utf8":
        inst.write_bytes(
            inst.read_bytes().replace(
                b"COCO_train2014_000000000003", b"COCO_train2014_\xff\xfe0000003"
            )
        )
        return "instances.json:1: not UTF-8 text (byte 0xff"
    if kind == "empty json":
        inst.write_bytes(b"")
        return "instances.json: empty file"
    if kind == "empty pickle":
        refs.write_bytes(b"")
        return "refs(unc).p: empty file"
    if kind == "truncated pickle":
        refs.write_bytes(refs.read_bytes()[:200])
        return "refs(unc).p: truncated pickle"
    data = refer_data()
    if kind == "missing annotation":
        data["refs"][0]["ann_id"] = 4040
        write_refer(root, data)
        return "ref #0 (ref_id=0): ann_id 4040 is not in"
    if kind == "negative size":
        data["images"][0]["height"] = -480
        write_refer(root, data)
        return "images[0] (id=1): key 'height' must be a positive integer, got -480"
    if kind == "missing split":
        data["refs"] = [r for r in data["refs"] if r["split"] != "train"]
        write_refer(root, data)
        return "no refs in split 'train'"
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind",
    [
        "truncated json",
        "non-utf8",
        "empty json",
        "empty pickle",
        "truncated pickle",
        "missing annotation",
        "negative size",
        "missing split",
    ],
)
def test_bad_input_is_one_clear_line(tmp_path, monkeypatch, capsys, kind):
    expected = _break(kind, tmp_path)
    out_file = tmp_path / "out.jsonl"
    code, out, err = run_main(monkeypatch, capsys, *_refcoco(tmp_path / "refer", out_file))
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err
    assert expected in err, err
    assert not out_file.exists() and [p.name for p in tmp_path.iterdir()] == ["refer"]


@pytest.mark.parametrize(
    "args,expected",
    [
        (("coco", "--instances", "{empty}", "--output", "{out}"), "empty file (expected JSON)"),
        (("ovdeval", "{nonutf8}", "--output", "{out}"), "not UTF-8 text"),
        (("vlmr1-rec", "{empty}", "--output", "{out}"), "empty file"),
        (("vlmr1-rec", "{nonutf8_jsonl}", "--output", "{out}"), "x.jsonl:2: not UTF-8 text"),
        (
            ("d3", "--annotations-json", "{truncated}", "--output", "{out}"),
            "t.json:1: invalid JSON",
        ),
        (("lisa", "{lisa_empty}", "--output", "{out}"), "a.json: empty file"),
    ],
)
def test_bad_input_other_sources(tmp_path, monkeypatch, capsys, args, expected):
    (tmp_path / "e.json").write_bytes(b"")
    (tmp_path / "u.json").write_bytes(b'{"images": ["\xe9"]}')
    good = dict(vlmr1_train_lines()[0], width=400, height=300)
    (tmp_path / "x.jsonl").write_bytes(json.dumps(good).encode() + b'\n{"id": "\xff"}\n')
    (tmp_path / "t.json").write_text(json.dumps(coco_instances())[:-7])
    lisa = write_lisa(tmp_path / "lisa")
    (lisa / "a.json").write_bytes(b"")
    paths = {
        "empty": tmp_path / "e.json",
        "nonutf8": tmp_path / "u.json",
        "out": tmp_path / "o.jsonl",
        "nonutf8_jsonl": tmp_path / "x.jsonl",
        "truncated": tmp_path / "t.json",
        "lisa_empty": lisa,
    }
    code, _, err = run_main(monkeypatch, capsys, "prepare-data", *[a.format(**paths) for a in args])
    assert code == 1 and err.count("\n") == 1 and err.startswith("error: ") and expected in err, err
    assert not (tmp_path / "o.jsonl").exists()


def test_interrupted_run_leaves_no_output(tmp_path, monkeypatch):
    from vlmr1_cli.data.coco import convert_coco

    inst = tmp_path / "instances.json"
    inst.write_text(json.dumps(coco_instances()))
    real = RecordSink.write
    calls = []

    def write_then_interrupt(self, rec):
        calls.append(rec["id"])
        if len(calls) == 2:
            raise KeyboardInterrupt
        real(self, rec)

    monkeypatch.setattr(RecordSink, "write", write_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        convert_coco(inst, tmp_path / "o.jsonl")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["instances.json"]


@pytest.mark.parametrize("source", ["ovdeval", "d3"])
def test_readme_flow_gt_in_a_sibling_folder_scores_on_the_copy(
    tmp_path, monkeypatch, capsys, source
):
    """The README's commands, GT in a folder beside data/: the records name a copy that
    evaluate accepts, and scoring on it gives the metrics of the original GT file."""
    from vlmr1_cli.errors import UserError
    from vlmr1_cli.evaluate.coco_results import gt_file_of
    from vlmr1_cli.evaluate.scoring import score_detection, score_ovdeval
    from vlmr1_cli.metrics.coco import coco_evaluate
    from vlmr1_cli.metrics.nms_ap import nms_ap_evaluate

    monkeypatch.chdir(tmp_path)
    if source == "ovdeval":
        original = tmp_path / "ovdeval" / "negation.json"
        original.parent.mkdir()
        original.write_text(json.dumps(ovdeval_subset("negation"), indent=2))
        data = tmp_path / "data" / "ovdeval_negation.jsonl"
        args = ("ovdeval", "ovdeval/negation.json", "--output", "data/ovdeval_negation.jsonl")
    else:
        write_d3(tmp_path / "d3" / "d3_pkl")
        original = tmp_path / "d3" / "d3_json" / "d3_full_annotations.json"
        original.parent.mkdir()
        original.write_text(json.dumps(d3_json()))
        data = tmp_path / "data" / "d3.jsonl"
        args = (
            "d3",
            "--anno-dir",
            "d3/d3_pkl",
            "--gt",
            "d3/d3_json/d3_full_annotations.json",
            "--output",
            "data/d3.jsonl",
        )
    code, _, err = run_main(monkeypatch, capsys, "prepare-data", *args)
    assert code == 0, err
    records = [{**r, "_line": i} for i, r in enumerate(read_jsonl(data), start=1)]
    copy = data.with_name(f"{data.stem}_gt.json")
    assert gt_file_of(records, data) == copy.resolve()
    with pytest.raises(UserError, match="is not a file inside the data file's folder"):
        gt_file_of(
            [{**r, "gt_file": f"../{original.relative_to(tmp_path)}"} for r in records], data
        )

    # predictions: every GT box, the first one shifted off, and a false positive per image
    preds = {}
    for i, r in enumerate(records):
        objects = [dict(o) for o in r["solution"]]
        if i == 0:
            x1, y1, x2, y2 = objects[0]["bbox_2d"]
            objects[0] = {**objects[0], "bbox_2d": [x2, y2, 2 * x2 - x1, 2 * y2 - y1]}
        objects.append({"bbox_2d": [0.0, 0.0, 20.0, 20.0], "label": r["labels"][-1]})
        preds[r["id"]] = {"objects": objects, "parsed": True}
    out = tmp_path / "eval"
    if source == "ovdeval":
        got = score_ovdeval(records, preds, out, data)["subsets"]["negation"]
        want = nms_ap_evaluate(
            str(original), json.loads((out / "results-negation.json").read_text())
        )
        assert got["nms_ap"] == want["nms_ap"]
    else:
        got = score_detection(records, preds, out, data)
        want = coco_evaluate(str(original), json.loads((out / "results.json").read_text()))
    assert got["gt"] == str(copy.resolve()) and "gt_file" not in got  # the copy, used as it is
    assert got["stats"] == want["stats"]
    assert 0 < got["stats"][0] < 1  # a score that a GT missing or adding a box would change


def test_existing_file_in_the_gt_copy_place_is_one_line_refusal(tmp_path, monkeypatch, capsys):
    sub = tmp_path / "ovdeval" / "negation.json"
    sub.parent.mkdir()
    sub.write_text(json.dumps(ovdeval_subset("negation")))
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "o_gt.json").write_text("[]\n")
    code, _, err = run_main(
        monkeypatch,
        capsys,
        "prepare-data",
        "ovdeval",
        sub,
        "--output",
        tmp_path / "data" / "o.jsonl",
    )
    assert code == 1 and err.count("\n") == 1, err
    assert "o_gt.json: exists and is not a GT copy written for" in err and "--output" in err
    assert (tmp_path / "data" / "o_gt.json").read_text() == "[]\n"
    assert not (tmp_path / "data" / "o.jsonl").exists()

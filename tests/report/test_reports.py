"""The HTML reports as files: what they embed, per-sample scores against the answers given,
escaping of model output, images beside the page, and the CLI (`evaluate --report`,
`vlmr1 report` on an evaluation, a training run, several evaluations)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.report.conftest import HOSTILE, TRAIN_BOX, rec_answer, run_scripted_eval
from vlmr1_cli.cli.app import app


def embedded(report: Path) -> dict:
    """The gallery's JSON, read back the way the page's script reads it."""
    text = report.read_text(encoding="utf-8")
    found = re.search(
        r'<script type="application/json" id="report-data">(.*?)</script>', text, re.S
    )
    assert found, "no embedded data"
    return json.loads(found.group(1))


def no_network(text: str) -> None:
    """Nothing on the page is fetched: no external script, style, image or font."""
    assert not re.search(r"<(script|link|iframe|img)[^>]+(src|href)=", text)
    urls = set(re.findall(r"https?://[^\s\"')]+", text))
    assert urls <= {"http://www.w3.org/2000/svg"}, (
        urls
    )  # the SVG namespace is a name, never fetched
    import html

    assert "Content-Security-Policy" in text and "default-src 'none'" in html.unescape(text)


def _cli(*args):
    return CliRunner().invoke(app, [*map(str, args)], env={"COLUMNS": "200"})


# --------------------------------------------------------------------------- evaluation


def test_evaluate_report_flag_writes_the_page(tiny_model, shapes_data, tmp_path, monkeypatch):
    import vlmr1_cli.evaluate.runner as runner
    from tests.report.conftest import Scripted

    monkeypatch.setattr(runner, "make_generator", lambda plan, device: Scripted(rec_answer))
    out = tmp_path / "ev"
    r = _cli(
        "evaluate",
        "-m",
        tiny_model,
        "-d",
        shapes_data / "eval.jsonl",
        "-o",
        out,
        "--report",
        "--json",
    )
    assert r.exit_code == 0, r.output
    metrics = json.loads(r.stdout)
    assert metrics["report"] == str(out / "report.html") and (out / "report.html").is_file()
    r = _cli("evaluate", "-m", tiny_model, "-d", shapes_data / "eval.jsonl", "-o", out, "--report")
    assert r.exit_code == 0 and f"report: {out / 'report.html'}" in r.stderr
    assert (
        "Acc@IoU (x100)" in r.stdout and "@0.9" in r.stdout
    )  # the thresholds table is printed too


def test_eval_report_scores_each_sample(rec_eval):
    from vlmr1_cli.report.evaluation import write_eval_report

    report = write_eval_report(rec_eval)
    assert report == rec_eval / "report.html"
    data = embedded(report)
    samples = {s["id"]: s for s in data["samples"]}
    assert len(samples) == 8 and data["models"] == ["tiny"]
    for i in range(8):
        s = samples[f"shapes-eval-{i:06d}"]
        (pred,) = s["preds"]
        expected = "hit" if i < 4 else "miss"
        assert expected in s["tags"] and pred["ok"] is (i < 4), (i, s["tags"])
        assert ("unparsed" in s["tags"]) is (i >= 6)
        if i < 4:
            assert s["sort"]["iou0"] > 0.9 and len(pred["boxes"]) == 1
        else:
            assert s["sort"]["iou0"] == 0.0
        if i >= 6:
            assert pred["text"] == HOSTILE and pred["boxes"] == []
        else:
            assert pred["text"].startswith("<think>t</think> <answer>")
        assert s["img"] is not None and (rec_eval / data["images"][s["img"]]).is_file()
    metrics = json.loads((rec_eval / "metrics.json").read_text())
    assert metrics["acc"] == 0.5 and metrics["format_failure_rate"] == 0.25
    html = report.read_text()
    for heading in (
        "Acc@0.5:0.95",
        "centre acc",
        "Acc@IoU (x100)",
        "@0.9",
        "How it was made",
        "prompt_source",
    ):
        assert heading in html
    assert "<svg" in html and "Acc@IoU threshold" in html  # the accuracy curve
    no_network(html)


def test_gt_boxes_are_in_original_pixels(rec_eval, shapes_data):
    from vlmr1_cli.report.evaluation import write_eval_report

    data = embedded(write_eval_report(rec_eval))
    records = {
        json.loads(line)["id"]: json.loads(line)
        for line in (shapes_data / "eval.jsonl").read_text().splitlines()
    }
    for s in data["samples"]:
        rec = records[s["id"]]
        assert s["gt"][0][:4] == pytest.approx(rec["solution"], abs=0.05)
        assert [s["w"], s["h"]] == rec["image_sizes"][0] and s["query"] == rec["problem"]
        if (
            "hit" in s["tags"]
        ):  # the oracle answer maps back onto the GT (rounded in the model frame)
            assert s["preds"][0]["boxes"][0][:4] == pytest.approx(rec["solution"], abs=2.0)


def test_model_output_cannot_break_out_of_the_page(rec_eval):
    from vlmr1_cli.report.evaluation import write_eval_report

    html = write_eval_report(rec_eval).read_text()
    assert "</script><script>window.pwned" not in html and "<img src=x" not in html
    assert "\\u003c/script\\u003e\\u003cscript\\u003ewindow.pwned" in html
    # the page's script puts text on the page with textContent only
    from vlmr1_cli.report.gallery import GALLERY_JS

    assert "innerHTML" not in GALLERY_JS and "insertAdjacentHTML" not in GALLERY_JS


def test_report_command_from_another_folder_is_the_same_page(rec_eval, tmp_path, monkeypatch):
    from vlmr1_cli.report.evaluation import write_eval_report

    first = write_eval_report(rec_eval).read_text()
    monkeypatch.chdir(tmp_path)
    r = _cli("report", rec_eval, "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == {"kind": "evaluation", "report": str(rec_eval / "report.html")}
    assert (rec_eval / "report.html").read_text() == first
    files = sorted((rec_eval / "report_files").iterdir())
    assert len(files) == 8 and all(f.suffix == ".png" for f in files)  # one copy per image, reused
    from PIL import Image

    with Image.open(files[0]) as im:
        assert max(im.size) <= 640


def test_ovd_report_counts_true_and_false_positives(ovd_eval):
    from vlmr1_cli.report.evaluation import write_eval_report

    report = write_eval_report(ovd_eval)
    data = embedded(report)
    lines = {s["id"]: s["preds"][0]["lines"] for s in data["samples"]}
    assert lines["o0"] == ["TP 2", "FP 0", "FN 0"]
    assert lines["o1"] == ["TP 1", "FP 1", "FN 1"]  # a right box with a wrong label
    assert lines["o2"] == ["TP 2", "FP 1", "FN 0"]
    assert lines["o3"] == ["TP 0", "FP 0", "FN 2"]  # "None": read, nothing detected
    tags = {s["id"]: s["tags"] for s in data["samples"]}
    assert (
        tags["o0"] == ["hit"]
        and "fp" in tags["o2"]
        and "fn" in tags["o3"]
        and "unparsed" not in tags["o3"]
    )
    assert data["groups"] == ["color", "negation"] and data["group_name"] == "subset"
    assert data["labels"] == ["blue box", "green box", "red box"]
    html = report.read_text()
    assert "Per subset" in html and "NMS-AP" in html  # the metrics table and the per-subset samples
    no_network(html)


def test_match_objects_follows_greedy_pr():
    from vlmr1_cli.report.samples import match_objects

    gt = [{"bbox_2d": [0, 0, 10, 10], "label": "a"}, {"bbox_2d": [20, 0, 30, 10], "label": "b"}]
    assert match_objects(gt, [{"bbox_2d": [0, 0, 10, 10], "label": "a"}]) == 1
    # the best-overlapping pair is taken first even when its labels differ: it consumes the GT
    assert (
        match_objects(
            gt,
            [{"bbox_2d": [0, 0, 10, 10], "label": "b"}, {"bbox_2d": [0, 0, 10, 9], "label": "a"}],
        )
        == 0
    )
    assert match_objects(gt, [{"bbox_2d": [0, 0, 10, 4], "label": "a"}]) == 0  # IoU 0.4 < 0.5
    assert match_objects([], []) == 0


# --------------------------------------------------------------------------- comparison


@pytest.fixture
def two_evals(tiny_model, shapes_data, tmp_path, monkeypatch) -> list[Path]:
    folders = [tmp_path / "runs" / name / "eval" for name in ("base", "grpo")]
    run_scripted_eval(
        monkeypatch,
        tiny_model,
        shapes_data / "eval.jsonl",
        folders[0],
        lambda row: rec_answer(row, variant=1),
    )
    run_scripted_eval(monkeypatch, tiny_model, shapes_data / "eval.jsonl", folders[1], rec_answer)
    return folders


def test_comparison_marks_disagreements(two_evals, tmp_path):
    r = _cli("report", *two_evals, "-o", tmp_path / "cmp")
    assert r.exit_code == 0, r.output
    report = tmp_path / "cmp" / "report.html"
    assert f"comparison report: {report}" in r.stderr
    data = embedded(report)
    assert data["models"] == ["base", "grpo"]
    tags = {int(s["id"].rsplit("-", 1)[1]): s["tags"] for s in data["samples"]}
    # base hits 0-1, grpo hits 0-3: they disagree on 2 and 3, both miss 4-7
    assert [i for i, t in tags.items() if "disagree" in t] == [2, 3]
    assert [i for i, t in tags.items() if "all-hit" in t] == [0, 1]
    assert [i for i, t in tags.items() if "all-miss" in t] == [4, 5, 6, 7]
    assert [i for i, t in tags.items() if "m1:hit" in t] == [0, 1, 2, 3]
    assert all(len(s["preds"]) == 2 for s in data["samples"])
    assert {"disagree", "m0:hit", "m1:miss"} <= {v for v, _ in data["statuses"]}
    html = report.read_text()
    assert "Comparison: base vs grpo" in html and html.count("<tr>") >= 5
    # images: each written once for both models
    assert len(list((tmp_path / "cmp" / "report_files").iterdir())) == 8
    no_network(html)


def test_comparison_names_and_errors(two_evals, ovd_eval, tmp_path, capsys, monkeypatch):
    r = _cli("report", *two_evals, "-o", tmp_path / "c", "--names", "before,after", "--json")
    assert r.exit_code == 0 and embedded(Path(json.loads(r.stdout)["report"]))["models"] == [
        "before",
        "after",
    ]
    cases = [
        ([*two_evals], "comparing several evaluations needs --output FOLDER"),
        ([*two_evals, "-o", tmp_path / "c", "--names", "a"], "--names gives 1 names for 2 folders"),
        ([*two_evals, "-o", tmp_path / "c", "--names", "a,a"], "--names 'a,a': a name given twice"),
        (
            [two_evals[0], two_evals[0], "-o", tmp_path / "c"],
            "the same evaluation folder is given twice",
        ),
        ([two_evals[0], ovd_eval, "-o", tmp_path / "c"], "these evaluations score different tasks"),
        ([tmp_path / "nope"], f"{tmp_path / 'nope'}: no such folder"),
        ([tmp_path], f"{tmp_path}: neither an evaluation folder"),
    ]
    for args, message in cases:
        _expect_error(["report", *args], message, capsys, monkeypatch)


def test_model_names_take_the_part_that_differs():
    from vlmr1_cli.report.compare import model_names

    assert model_names([Path("/d/eval/base/eval"), Path("/d/eval/sft/eval")]) == ["base", "sft"]
    assert model_names([Path("/r/a/x"), Path("/r/a/y"), Path("/r/b/y")]) == ["a/x", "a/y", "b/y"]
    assert model_names([Path("/r/eval"), Path("/r/sub/eval")]) == ["eval", "sub/eval"]


def test_scoring_mode_metrics_have_no_samples(tmp_path, capsys, monkeypatch):
    folder = tmp_path / "scores"
    folder.mkdir()
    (folder / "metrics.json").write_text(json.dumps({"metric": "coco", "AP": 0.5}))
    (folder / "predictions.jsonl").write_text("")
    _expect_error(["report", folder], f"{folder / 'metrics.json'}: no 'task'", capsys, monkeypatch)


# --------------------------------------------------------------------------- training


def test_training_report_curves_samples_and_boxes(run_folder, shapes_data):
    from vlmr1_cli.models.base import PixelLimits
    from vlmr1_cli.models.qwen2_5_vl import Qwen25VL

    r = _cli("report", run_folder)
    assert r.exit_code == 0, r.output
    report = run_folder / "report.html"
    html = report.read_text()
    # one chart per curve: reward, each component after it, KL, length, box-count ratio, ...
    titles = re.findall(r'<svg class="chart"[^>]*aria-label="([^"]+)"', html)
    assert titles[:6] == [
        "reward",
        "rewards/rec_format/mean",
        "rewards/rec_iou/mean",
        "kl",
        "completions/mean_length",
        "ovd/pred_to_gt_boxes",
    ]
    assert "loss" in titles and "entropy" in titles  # NaN points are left out, not drawn
    assert "Locate {problem} &lt;now&gt;" in html  # the recipe, escaped
    data = embedded(report)
    assert data["groups"] == ["step 1", "step 3"] and data["group_name"] == "step"
    assert len(data["samples"]) == 4
    good = [s for s in data["samples"] if "rewarded" in s["tags"]]
    assert len(good) == 1 and good[0]["info"][0] == "step 3 · completion 0"
    rec = json.loads((shapes_data / "train.jsonl").read_text().splitlines()[0])
    w, h = rec["image_sizes"][0]
    wi, hi = Qwen25VL().input_size(w, h, PixelLimits(3136, 12544, 28))
    expected = [
        TRAIN_BOX[0] * w / wi,
        TRAIN_BOX[1] * h / hi,
        TRAIN_BOX[2] * w / wi,
        TRAIN_BOX[3] * h / hi,
    ]
    assert good[0]["preds"][0]["boxes"][0][:4] == pytest.approx(expected, abs=0.06)
    assert good[0]["gt"][0][:4] == rec["solution"] and good[0]["img"] is not None
    assert "rec_iou 1.000, rec_format 1.000" in good[0]["info"][1]
    unparsed = [s for s in data["samples"] if "unparsed" in s["tags"]]
    assert len(unparsed) == 3 and unparsed[0]["preds"][0]["text"] == "step 1 <b>no box</b>"
    no_network(html)


def test_training_report_without_its_data_still_shows_completions(run_folder, tmp_path):
    from vlmr1_cli.report.training import write_training_report

    recipe = run_folder / "vlmr1_recipe.yaml"
    recipe.write_text(recipe.read_text().replace("train.jsonl", "gone.jsonl"))
    report = write_training_report(run_folder, tmp_path / "elsewhere")
    assert report == tmp_path / "elsewhere" / "report.html"
    data = embedded(report)
    assert len(data["samples"]) == 4 and all(s["img"] is None for s in data["samples"])
    assert "training data not readable from here" in report.read_text()


def test_report_of_a_real_training_run(tiny_model, shapes_data, grpo_settings, tmp_path):
    """A real (tiny) GRPO run's folder, as training leaves it, gives a page with its curves
    and its sampled completions."""
    from vlmr1_cli.recipes.loading import load_recipe
    from vlmr1_cli.report.training import write_training_report
    from vlmr1_cli.train.run import train

    out = tmp_path / "grpo"
    train(
        load_recipe(
            "demo_shapes_grpo",
            [
                f"model.path={tiny_model}",
                f"data.train=[{{path: '{shapes_data / 'train.jsonl'}', image_root: '{shapes_data}'}}]",
                *grpo_settings(out),
            ],
        )
    )
    report = write_training_report(out)
    html = report.read_text()
    assert 'aria-label="reward"' in html and 'aria-label="kl"' in html
    data = embedded(report)
    assert data["samples"] and all(s["img"] is not None and s["gt"] for s in data["samples"])
    assert {s["group"] for s in data["samples"]} <= {"step 1", "step 2"}


# --------------------------------------------------------------------------- page helpers


def test_embedded_json_is_inert():
    from vlmr1_cli.report.page import embed_json

    text = embed_json({"a": "</script><!-- \u2028 & >", "nan": float("nan"), "inf": [float("inf")]})
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == {"a": "</script><!-- \u2028 & >", "nan": None, "inf": [None]}


def test_charts_skip_non_finite_points():
    from vlmr1_cli.report.charts import line_chart

    svg = line_chart("x <y>", [("s", "#000", [(1, 1.0), (2, float("nan")), (3, 2.0)])])
    assert "x &lt;y&gt;" in svg and svg.count("<circle") == 2
    assert "no finite values" in line_chart("empty", [("s", "#000", [(1, float("inf"))])])


def _expect_error(args, message, capsys, monkeypatch):
    from vlmr1_cli.cli.app import main

    monkeypatch.setattr(sys, "argv", ["vlmr1", *map(str, args)])
    monkeypatch.delenv("VLMR1_DEBUG", raising=False)
    with pytest.raises(SystemExit) as exc:
        main()
    err = capsys.readouterr().err
    assert exc.value.code == 1, err
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("error:") or "Traceback" in ln]
    assert len(lines) == 1 and lines[0].startswith(f"error: {message}"), err

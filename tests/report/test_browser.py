"""Every kind of report opened in headless Chromium: the page loads with no console error,
the gallery shows the expected cards, the filters change what is shown, model output stays
text, and a screenshot is saved. 10,000 samples page and filter fast."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser


def cards(page) -> int:
    return page.eval("document.querySelectorAll('#gallery .card').length")


def choose(page, select_id: str, value: str) -> None:
    page.eval(f"""(() => {{
        const s = document.getElementById({json.dumps(select_id)});
        if (!Array.from(s.options).some((o) => o.value === {json.dumps(value)})) throw new Error('no option');
        s.value = {json.dumps(value)};
        s.dispatchEvent(new Event('change'));
    }})()""")


def count_text(page) -> str:
    return page.eval("document.getElementById('count').textContent")


def shoot(page, path: Path) -> None:
    """A screenshot that shows a page: a PNG of the page's width with more than one colour."""
    from PIL import Image

    page.screenshot(path)
    with Image.open(path) as im:
        assert im.format == "PNG" and im.width == 1280 and im.height > 600
        colours = im.convert("RGB").resize((64, 64)).getcolors(64 * 64)
        assert colours is None or len(colours) > 20, "a blank screenshot"


def test_eval_report_in_chromium(browser, rec_eval, tmp_path):
    from vlmr1_cli.report.evaluation import write_eval_report

    report = write_eval_report(rec_eval)
    page = browser.open(report)
    try:
        assert page.errors() == []
        assert cards(page) == 8 and count_text(page) == "8 of 8 samples"
        # the images load (a missing file would be a console error and a zero width)
        page.wait_for("Array.from(document.querySelectorAll('#gallery image')).length === 8")
        assert page.eval("document.querySelectorAll('#gallery rect.gt').length") == 8
        assert (
            page.eval("document.querySelectorAll('#gallery rect.m0').length") == 6
        )  # two answers have no box
        choose(page, "f-status", "miss")
        assert cards(page) == 4 and count_text(page) == "4 of 8 samples"
        choose(page, "f-status", "unparsed")
        assert cards(page) == 2
        # model output is shown as text and never runs
        texts = page.eval(
            "Array.from(document.querySelectorAll('#gallery pre.completion')).map((e) => e.textContent)"
        )
        assert all("window.pwned" in t and "<img src=x" in t for t in texts)
        assert page.eval(
            "window.pwned === undefined && document.querySelectorAll('#gallery img').length === 0"
        )
        choose(page, "f-status", "all")
        choose(page, "f-sort", "iou0-desc")
        first_ious = page.eval(
            "Array.from(document.querySelectorAll('#gallery .card .lines')).map((e) => e.textContent)"
        )
        assert first_ious[0].startswith("IoU 1.000") or first_ious[0] > first_ious[-1]
        assert first_ious[-1].startswith("IoU 0.000")
        # the view is in the URL: opening it again shows the same filter
        assert page.eval("location.hash") == "#sort=iou0-desc"
        page.goto(
            report.resolve().as_uri() + "?fresh#status=hit"
        )  # a new document, not a hash change
        assert cards(page) == 4 and page.eval("document.getElementById('f-status').value") == "hit"
        page.eval("location.hash = '#status=unparsed'")  # a link within the page
        page.wait_for("document.querySelectorAll('#gallery .card').length === 2")
        # hiding the ground-truth layer hides its boxes
        page.eval("document.querySelector('#layers input').click()")
        assert (
            page.eval("getComputedStyle(document.querySelector('#gallery rect.gt')).display")
            == "none"
        )
        assert page.errors() == []
        shoot(page, tmp_path / "eval-report.png")
    finally:
        page.close()


def test_ovd_report_filters_by_subset_and_label(browser, ovd_eval, tmp_path):
    from vlmr1_cli.report.evaluation import write_eval_report

    page = browser.open(write_eval_report(ovd_eval))
    try:
        assert page.errors() == [] and cards(page) == 4
        choose(page, "f-group", "negation")
        assert cards(page) == 2
        choose(page, "f-group", "all")
        choose(
            page, "f-label", "green box"
        )  # predicted on o1 (wrong label) and o2 (false positive)
        assert sorted(
            page.eval(
                "Array.from(document.querySelectorAll('#gallery .card')).map((c) => c.dataset.id)"
            )
        ) == ["o1", "o2"]
        choose(page, "f-label", "all")
        choose(page, "f-status", "fn")
        assert cards(page) == 2  # o1 and o3 miss objects
        assert page.errors() == []
        shoot(page, tmp_path / "ovd-report.png")
    finally:
        page.close()


def test_comparison_in_chromium(browser, tiny_model, shapes_data, tmp_path, monkeypatch):
    from tests.report.conftest import rec_answer, run_scripted_eval
    from vlmr1_cli.report.compare import write_comparison

    folders = [tmp_path / name for name in ("base", "sft", "grpo")]
    for folder, variant in zip(folders, (1, 1, 0), strict=True):
        run_scripted_eval(
            monkeypatch,
            tiny_model,
            shapes_data / "eval.jsonl",
            folder,
            lambda row, v=variant: rec_answer(row, variant=v),
        )
    page = browser.open(write_comparison(folders, tmp_path / "cmp"))
    try:
        assert page.errors() == [] and cards(page) == 8
        # each card draws every model's box on the same image
        assert (
            page.eval(
                "document.querySelectorAll('#gallery .card')[0].querySelectorAll('rect').length"
            )
            == 4
        )
        choose(page, "f-status", "disagree")
        assert cards(page) == 2  # samples 2 and 3: only grpo hits
        choose(page, "f-status", "m0:miss")
        assert cards(page) == 6
        assert page.errors() == []
        shoot(page, tmp_path / "comparison-report.png")
    finally:
        page.close()


def test_training_report_in_chromium(browser, run_folder, tmp_path):
    from vlmr1_cli.report.training import write_training_report

    page = browser.open(write_training_report(run_folder))
    try:
        assert page.errors() == [] and cards(page) == 4
        assert (
            page.eval("document.querySelectorAll('svg.chart polyline').length") >= 6
        )  # the curves
        choose(page, "f-group", "step 3")
        assert cards(page) == 2
        choose(page, "f-status", "rewarded")
        assert cards(page) == 1
        assert page.errors() == []
        shoot(page, tmp_path / "training-report.png")
    finally:
        page.close()


def test_ten_thousand_samples_page_and_filter_fast(browser, shapes_data, tmp_path):
    """A gallery of 10,000 samples: one page of cards exists at a time; filtering, sorting
    and paging take well under a second."""
    from vlmr1_cli.evaluate.scoring import score_rec
    from vlmr1_cli.io import write_json, write_jsonl
    from vlmr1_cli.report.evaluation import write_eval_report

    base = [json.loads(line) for line in (shapes_data / "eval.jsonl").read_text().splitlines()[:4]]
    rng = random.Random(0)
    records, preds = [], []
    for i in range(10_000):
        rec = {**base[i % 4], "id": f"s{i}"}
        records.append(rec)
        if i % 10 == 0:
            preds.append(
                {
                    "id": rec["id"],
                    "completion": "no box",
                    "parsed": False,
                    "box": None,
                    "box_vlmr1": None,
                }
            )
        else:
            box = [v + rng.uniform(-6, 6) for v in rec["solution"]]
            preds.append(
                {
                    "id": rec["id"],
                    "completion": f"<answer>{box}</answer>",
                    "parsed": True,
                    "box": box,
                    "box_vlmr1": box,
                }
            )
    data = shapes_data.parent / f"{tmp_path.name}-big.jsonl"
    write_jsonl(data, records)
    folder = tmp_path / "big"
    write_jsonl(folder / "predictions.jsonl", preds)
    metrics = score_rec(records, {p["id"]: p for p in preds}, {})
    write_json(
        folder / "metrics.json",
        {
            **metrics,
            "task": "rec",
            "model": "synthetic",
            "data": str(data),
            "image_root": str(shapes_data),
        },
    )
    t = time.perf_counter()
    report = write_eval_report(folder)
    build_s = time.perf_counter() - t
    assert build_s < 60, build_s
    page = browser.open(report)
    try:
        assert page.errors() == []
        assert cards(page) == 24 and count_text(page) == "10000 of 10000 samples"
        took = page.eval("""(() => {
            const t0 = performance.now();
            const s = document.getElementById('f-status');
            s.value = 'unparsed'; s.dispatchEvent(new Event('change'));
            const sort = document.getElementById('f-sort');
            sort.value = 'iou0-asc'; sort.dispatchEvent(new Event('change'));
            document.getElementById('next').click();
            return performance.now() - t0;
        })()""")
        assert count_text(page) == "1000 of 10000 samples" and cards(page) == 24
        assert took < 1000, f"{took:.0f} ms"
        page.goto(report.resolve().as_uri() + "?fresh#page=417")
        assert cards(page) == 10_000 - 416 * 24
        assert page.eval("document.getElementById('page').textContent") == "page 417 of 417"
        assert page.errors() == []
    finally:
        page.close()


def test_the_check_sees_console_errors(browser, tmp_path):
    """The no-error checks above can fail: a thrown error, console.error and a missing image
    are all reported."""
    bad = tmp_path / "bad.html"
    bad.write_text(
        "<!DOCTYPE html><html><body><img src='missing.png'><script>"
        "document.body.dataset.ready = '1'; console.error('boom'); null.x;</script></body></html>"
    )
    page = browser.open(bad)
    try:
        page.wait_for("document.querySelector('img').complete")
        errors = page.errors()
        assert any(e.startswith("exception:") for e in errors), errors
        assert any("boom" in e for e in errors), errors
        assert any("missing.png" in e for e in errors), errors
    finally:
        page.close()

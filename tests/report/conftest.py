"""Evaluation folders with known answers (REC on shapes, OVDEval-style OVD with two subsets),
a training run folder, and headless Chromium for the browser tests."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.report.browser import Browser, find_chromium

# Answers by sample index (shapes eval split): GT in the model frame (a hit), a shifted box
# (a miss), and text with markup and no box (a format failure whose text must stay text).
HOSTILE = 'no box </script><script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">'


def _box_answer(box) -> str:
    return (
        '<think>t</think> <answer>{"bbox_2d": ' + json.dumps([round(v) for v in box]) + "}</answer>"
    )


def rec_answer(row: dict, variant: int = 0) -> str:
    """variant 0: samples 0-3 hit, 4-5 miss, 6-7 unparsed; variant 1: 0-1 hit, the rest miss."""
    i = int(row["id"].rsplit("-", 1)[1])
    sol = json.loads(row["solution_json"])
    hit_until, miss_until = (4, 6) if variant == 0 else (2, 8)
    if i < hit_until:
        return _box_answer(sol)
    if i < miss_until:
        w = sol[2] - sol[0]
        return _box_answer([sol[0] + 2 * w, sol[1], sol[2] + 2 * w, sol[3]])
    return HOSTILE


class Scripted:
    def __init__(self, answer):
        self.answer = answer

    def generate(self, rows):
        return [self.answer(r) for r in rows]


def run_scripted_eval(
    monkeypatch, model: Path, data: Path, out: Path, answer, image_root=None
) -> dict:
    import vlmr1_cli.evaluate.runner as runner
    from vlmr1_cli.evaluate.runner import EvalOptions, evaluate

    monkeypatch.setattr(runner, "make_generator", lambda plan, device: Scripted(answer))
    return evaluate(
        str(model),
        data,
        out,
        image_root=str(image_root) if image_root else None,
        opts=EvalOptions(overwrite=True),
    )


@pytest.fixture
def rec_eval(tiny_model, shapes_data, tmp_path, monkeypatch) -> Path:
    out = tmp_path / "eval-rec"
    run_scripted_eval(monkeypatch, tiny_model, shapes_data / "eval.jsonl", out, rec_answer)
    return out


@pytest.fixture
def ovd_data(tmp_path) -> Path:
    """OVDEval-style records in two subsets; GT built from the records (no gt_file)."""
    from PIL import Image, ImageDraw

    folder = tmp_path / "ovd"
    (folder / "images").mkdir(parents=True)
    records = []
    for i, subset in enumerate(["color", "color", "negation", "negation"]):
        img = Image.new("RGB", (80, 60), (230, 230, 230))
        draw = ImageDraw.Draw(img)
        draw.rectangle((4, 4, 30, 30), fill=(200, 30, 30))
        draw.rectangle((40, 20, 70, 50), fill=(30, 30, 200))
        img.save(folder / "images" / f"o{i}.png")
        records.append(
            {
                "id": f"o{i}",
                "task": "ovd",
                "images": [f"images/o{i}.png"],
                "image_sizes": [[80, 60]],
                "problem": "",
                "labels": ["red box", "blue box", "green box"],
                "source": "ovdeval",
                "subset": subset,
                "solution": [
                    {"bbox_2d": [4.0, 4.0, 31.0, 31.0], "label": "red box"},
                    {"bbox_2d": [40.0, 20.0, 71.0, 51.0], "label": "blue box"},
                ],
            }
        )
    path = folder / "ovd.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def ovd_answer(row: dict) -> str:
    """o0: both found; o1: one found, one with a wrong label; o2: both plus a false positive;
    o3: 'None' (both missed)."""
    sol = json.loads(row["solution_json"])
    i = int(row["id"][1:])
    if i == 3:
        return "<answer>None</answer>"
    objs = [dict(o) for o in sol]
    if i == 1:
        objs[1]["label"] = "green box"
    if i == 2:
        objs.append({"bbox_2d": [1, 40, 10, 55], "label": "green box"})
    return "<answer>```json\n" + json.dumps(objs) + "\n```</answer>"


@pytest.fixture
def ovd_eval(tiny_model, ovd_data, tmp_path, monkeypatch) -> Path:
    out = tmp_path / "eval-ovd"
    run_scripted_eval(monkeypatch, tiny_model, ovd_data, out, ovd_answer)
    return out


# A model-frame box every training sample's completion gives (Qwen2.5-VL: input pixels).
TRAIN_BOX = [10, 12, 30, 40]


@pytest.fixture
def run_folder(shapes_data, tmp_path) -> Path:
    """A training run folder as GRPO training leaves it: train_log.jsonl (one line per
    logging step), samples.jsonl (completions with each reward's score), vlmr1_recipe.yaml
    and vlmr1.json (family, frame, pixel limits)."""
    run = tmp_path / "run"
    run.mkdir()
    log = [
        {
            "step": s,
            "loss": 0.1 / s,
            "reward": 0.2 * s,
            "rewards/rec_iou/mean": 0.1 * s,
            "rewards/rec_format/mean": 0.1 * s,
            "kl": 0.01 * s,
            "completions/mean_length": 20.0 + s,
            "ovd/pred_to_gt_boxes": 1.0 + 0.1 * s,
            "entropy": float("nan") if s == 2 else 1.0,
        }
        for s in (1, 2, 3)
    ]
    (run / "train_log.jsonl").write_text("".join(json.dumps(x) + "\n" for x in log))
    ids = [
        json.loads(line)["id"]
        for line in (shapes_data / "train.jsonl").read_text().splitlines()[:2]
    ]
    samples = []
    for step in (1, 3):
        for k, rid in enumerate(ids):
            good = step == 3 and k == 0
            completion = _box_answer(TRAIN_BOX) if good else f"step {step} <b>no box</b>"
            samples.append(
                {
                    "step": step,
                    "id": rid,
                    "task": "rec",
                    "completion": completion,
                    "rewards": {
                        "rec_iou": 1.0 if good else 0.0,
                        "rec_format": 1.0 if good else 0.0,
                    },
                }
            )
    (run / "samples.jsonl").write_text("".join(json.dumps(x) + "\n" for x in samples))
    (run / "vlmr1_recipe.yaml").write_text(
        "method: grpo\nmodel:\n  path: preset:tiny-qwen2.5-vl\ndata:\n  train:\n"
        f"  - path: {shapes_data / 'train.jsonl'}\n    image_root: {shapes_data}\n"
        "prompt:\n  templates:\n    rec: 'Locate {problem} <now>'\n"
    )
    meta = {
        "family": "qwen2_5_vl",
        "frame": "qwen25_abs",
        "pixel_limits": {"min_pixels": 3136, "max_pixels": 12544, "factor": 28},
        "base_model": "preset:tiny-qwen2.5-vl",
        "method": "grpo",
    }
    (run / "vlmr1.json").write_text(json.dumps(meta))
    return run


# --------------------------------------------------------------------------- browser


@pytest.fixture(scope="session")
def chromium() -> str:
    exe = find_chromium()
    if exe is None:
        if os.environ.get("CI") == "true":
            pytest.fail(
                "chromium is not installed: CI must run the browser tests (.ci/run installs it)"
            )
        pytest.skip(
            "chromium is not installed (apt-get install chromium); the browser tests run in CI"
        )
    return exe


@pytest.fixture(scope="session")
def browser(chromium, tmp_path_factory):
    b = Browser(chromium, tmp_path_factory.mktemp("chromium") / "profile")
    yield b
    b.close()

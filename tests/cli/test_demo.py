"""`vlmr1 demo` end to end at a tiny size: every stage runs on its own data and every split is scored."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_demo_runs_every_stage_and_scores_every_split(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "vlmr1_cli",
            "demo",
            "--output",
            str(tmp_path / "demo"),
            "--train",
            "48",
            "--task-train",
            "24",
            "--eval",
            "6",
            "--ood",
            "6",
            "--sft-set",
            "training.max_steps=3",
            "--grpo-set",
            "training.max_steps=2",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "VLMR1_NO_PROGRESS": "1"},
        cwd=tmp_path,
    )  # the packaged recipes: the demo runs from any folder
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout)
    assert [r["model"] for r in result["rows"]] == ["base", "sft", "grpo"]
    for row in result["rows"]:
        for split in ("eval", "eval_ood", "eval_ood_pairs", "eval_warmup"):
            assert 0.0 <= row[f"{split}_acc"] <= 1.0 and 0.0 <= row[f"{split}_unparsed"] <= 1.0
    assert result["steps"] == {"sft": 3, "grpo": 2}
    assert set(result["timings_s"]) == {"data", "sft", "grpo", "evaluate"}
    saved = json.loads((tmp_path / "demo" / "demo_result.json").read_text())
    assert saved["rows"] == result["rows"]
    # the comparison report: the three models' in-domain predictions on the same images
    report = tmp_path / "demo" / "report" / "report.html"
    assert result["report"] == str(report) and report.is_file()
    assert "Comparison: base vs sft vs grpo" in report.read_text()
    data = tmp_path / "demo" / "data"
    for folder, split in (
        ("warmup", "eval"),
        ("warmup", "eval_ood"),
        ("warmup", "eval_ood_pairs"),
        ("task", "eval"),
    ):
        assert sum(1 for _ in open(data / folder / f"{split}.jsonl")) == 6
    assert not (data / "task" / "eval_ood.jsonl").exists()  # out of domain is the warm-start data's
    # SFT trains on the warm-start data (1-2 shapes), GRPO on the task's (one shape per image)
    task = [json.loads(line) for line in open(data / "task" / "train.jsonl")]
    assert len(task) == 24 and {r["num_shapes"] for r in task} == {1}
    sft_recipe = (tmp_path / "demo" / "sft" / "vlmr1_recipe.yaml").read_text()
    grpo_recipe = (tmp_path / "demo" / "grpo" / "vlmr1_recipe.yaml").read_text()
    assert (
        str(data / "warmup" / "train.jsonl") in sft_recipe
        and str(data / "task" / "train.jsonl") in grpo_recipe
    )

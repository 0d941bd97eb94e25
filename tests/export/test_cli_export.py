"""The `export`/`push` commands: what they print, and export -> evaluate (light help: tests/cli)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from vlmr1_cli.cli.app import app


def test_cli_export_names_the_source(full_run, tmp_path):
    out = tmp_path / "cli-export"
    result = CliRunner().invoke(
        app, ["export", "--model", str(full_run), "--output", str(out), "--dtype", "float16"]
    )
    assert result.exit_code == 0, result.output
    assert "source: checkpoint-10" in result.output
    assert "metrics in model card: checkpoint-10/eval-shapes/metrics.json" in result.output
    assert "model.safetensors" in result.output and "total" in result.output
    assert json.loads((out / "config.json").read_text())["dtype"] == "float16"


def test_cli_export_error_is_one_line(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "vlmr1_cli",
            "export",
            "--model",
            str(tmp_path),
            "--output",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        f"error: {tmp_path}: no model found (neither weights at the top nor a checkpoint-N folder)"
    )
    assert "Traceback" not in proc.stderr


def test_export_then_evaluate(full_run, lora_run, tmp_path):
    """Both a full checkpoint and a merged LoRA run score with `vlmr1 evaluate`."""
    runner = CliRunner()
    data = tmp_path / "shapes"
    r = runner.invoke(
        app,
        [
            "prepare-data",
            "shapes",
            "--output",
            str(data),
            "--train",
            "4",
            "--eval",
            "4",
            "--ood",
            "0",
        ],
    )
    assert r.exit_code == 0, r.output
    for name, args in (
        ("full", ["--model", str(full_run)]),
        ("lora", ["-m", str(lora_run), "--merge-lora", "--dtype", "bfloat16"]),
    ):
        out = tmp_path / f"export-{name}"
        r = runner.invoke(app, ["export", *args, "--output", str(out)])
        assert r.exit_code == 0, r.output
        ev = tmp_path / f"eval-{name}"
        r = runner.invoke(
            app,
            [
                "evaluate",
                "--model",
                str(out),
                "--data",
                str(data / "eval.jsonl"),
                "--output",
                str(ev),
                "--max-new-tokens",
                "8",
                "--batch-size",
                "4",
            ],
        )
        assert r.exit_code == 0, (name, r.output, r.exception)
        metrics = json.loads((ev / "metrics.json").read_text())
        assert metrics["task"] == "rec" and metrics["n"] == 4
        assert Path(metrics["model"]) == out
        preds = (ev / "predictions.jsonl").read_text().splitlines()
        assert len(preds) == 4


def test_cli_export_json(full_run, tmp_path):
    out = tmp_path / "json-export"
    result = CliRunner().invoke(app, ["export", "-m", str(full_run), "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    res = json.loads(result.stdout)  # stdout is the JSON alone; progress went to stderr
    assert res["output"] == str(out) and res["source"]["label"] == "checkpoint-10"
    assert res["weights"] == "full model" and res["merge_checks"] == []
    on_disk = {
        p.relative_to(out).as_posix(): p.stat().st_size for p in out.rglob("*") if p.is_file()
    }
    assert {f["path"]: f["bytes"] for f in res["files"]} == on_disk
    assert res["total_bytes"] == sum(on_disk.values())

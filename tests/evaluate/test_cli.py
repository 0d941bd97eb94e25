"""`vlmr1 evaluate` as a user runs it: bad input gives one clear line and exit 1; --json
prints the metrics for pipelines; a killed run resumes to the same metrics; N processes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from vlmr1_cli.io import iter_jsonl

BOOKKEEPING = {"generated_now", "resumed", "generation_s", "samples_per_s"}


def _cli(*args, **kw):
    env = {**os.environ, "VLMR1_NO_PROGRESS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "vlmr1_cli", "evaluate", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        **kw,
    )


def _one_error_line(r, pattern):
    import re

    assert r.returncode == 1, r.stderr[-2000:]
    lines = [
        ln for ln in r.stderr.strip().splitlines() if ln.startswith("error:") or "Traceback" in ln
    ]
    assert len(lines) == 1 and re.search(pattern, lines[0]), r.stderr[-2000:]


def test_bad_inputs_give_one_clear_line(tiny_model, eval_data, tmp_path):
    data = tmp_path / "d.jsonl"
    rec = next(iter_jsonl(eval_data["rec"]))[1]
    data.write_text(json.dumps({**rec, "images": ["images/nope.png"]}) + "\n")
    r = _cli(
        "--model",
        tiny_model,
        "--data",
        data,
        "--image-root",
        eval_data["rec"].parent,
        "-o",
        tmp_path / "o",
    )
    _one_error_line(r, r"d.jsonl:1: image not found: images/nope.png")

    r = _cli(
        "--model", tiny_model, "--data", eval_data["rec"], "--task", "coco", "-o", tmp_path / "o"
    )
    _one_error_line(r, r"rec.jsonl: --task coco needs 'ovd' records, this file holds 'rec' records")

    r = _cli(
        "--model",
        tiny_model,
        "--data",
        eval_data["coco"],
        "--backend",
        "vllm",
        "-o",
        tmp_path / "o",
    )
    if shutil.which("vllm") is None:
        _one_error_line(r, r"--backend vllm: vLLM is not installed \(pip install 'vlmr1\[vllm\]'\)")

    r = _cli("--model", "someone/not-cached", "--data", eval_data["rec"], "-o", tmp_path / "o")
    _one_error_line(r, r"model 'someone/not-cached': not in the local cache and HF_HUB_OFFLINE=1")

    broken = tmp_path / "broken"
    shutil.copytree(tiny_model, broken)
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    r = _cli("--model", broken, "--data", eval_data["rec"], "-o", tmp_path / "o2")
    _one_error_line(r, rf"{broken}: cannot load model: ")


def test_json_output_and_table(tiny_model, eval_data, tmp_path):
    from typer.testing import CliRunner

    from vlmr1_cli.cli.app import app

    args = [
        "evaluate",
        "--model",
        str(tiny_model),
        "--data",
        str(eval_data["d3"]),
        "-o",
        str(tmp_path / "o"),
        "--max-new-tokens",
        "4",
    ]
    r = CliRunner().invoke(app, [*args, "--json", "--visualize", "1"])
    assert r.exit_code == 0, r.output
    m = json.loads(r.stdout)
    assert m["task"] == "d3" and m["n"] == 2 and len(m["pictures"]) == 1
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0 and "mAP" in r.stdout and "greedy P" in r.stdout
    assert "0 generated, 2 resumed" in r.stderr


@pytest.mark.slow
def test_sigkill_then_resume_gives_identical_metrics(tiny_model, shapes_data, tmp_path):
    """A run killed with SIGKILL mid-generation resumes and ends with the same predictions
    and metrics as an uninterrupted run."""
    from vlmr1_cli.evaluate.runner import EvalOptions, evaluate

    args = [
        "--model",
        tiny_model,
        "--data",
        shapes_data / "eval.jsonl",
        "--max-new-tokens",
        24,
        "--batch-size",
        1,
    ]
    evaluate(
        str(tiny_model),
        shapes_data / "eval.jsonl",
        tmp_path / "ref",
        opts=EvalOptions(max_new_tokens=24, batch_size=1),
    )
    out = tmp_path / "killed"
    env = {**os.environ, "VLMR1_NO_PROGRESS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "vlmr1_cli", "evaluate", *map(str, args), "-o", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    pred = out / "predictions.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if pred.is_file() and pred.read_text().count("\n") >= 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    n_before = pred.read_text().count("\n")
    assert 2 <= n_before < 8
    again = _cli(*args, "-o", out, "--json")
    assert again.returncode == 0, again.stderr[-2000:]
    m = json.loads(again.stdout)
    assert m["resumed"] >= n_before and m["generated_now"] == 8 - m["resumed"]
    ref_m = json.loads((tmp_path / "ref" / "metrics.json").read_text())
    strip = lambda d: {k: v for k, v in d.items() if k not in BOOKKEEPING}  # noqa: E731
    assert strip(m) == strip(ref_m)
    done = {p["id"]: p for _, p in iter_jsonl(pred)}
    assert done == {p["id"]: p for _, p in iter_jsonl(tmp_path / "ref" / "predictions.jsonl")}


@pytest.mark.slow
def test_two_processes_shard_and_merge(tiny_model, shapes_data, tmp_path):
    args = [
        "--model",
        tiny_model,
        "--data",
        shapes_data / "eval.jsonl",
        "--max-new-tokens",
        8,
        "--batch-size",
        2,
    ]
    r = _cli(*args, "-o", tmp_path / "two", "--num-processes", 2, "--json")
    assert r.returncode == 0, r.stderr[-3000:]
    m = json.loads(r.stdout)
    assert m["n"] == 8 and m["generated_now"] == 8
    out = tmp_path / "two"
    assert not list(out.glob("predictions-rank*.jsonl"))  # merged, then removed
    ids = [p["id"] for _, p in iter_jsonl(out / "predictions.jsonl")]
    expected = [r["id"] for _, r in iter_jsonl(shapes_data / "eval.jsonl")]
    assert ids == expected  # every sample once, in record order
    assert "Traceback" not in (out / "workers.log").read_text()
    # the batches are the single-process ones, so the completions are too
    from vlmr1_cli.evaluate.runner import EvalOptions, evaluate

    one = evaluate(
        str(tiny_model),
        shapes_data / "eval.jsonl",
        tmp_path / "one",
        opts=EvalOptions(max_new_tokens=8, batch_size=2),
    )
    single = {
        p["id"]: p["completion"] for _, p in iter_jsonl(tmp_path / "one" / "predictions.jsonl")
    }
    assert {p["id"]: p["completion"] for _, p in iter_jsonl(out / "predictions.jsonl")} == single
    assert {k: v for k, v in one.items() if k not in BOOKKEEPING | {"pictures"}} == {
        k: v for k, v in m.items() if k not in BOOKKEEPING | {"pictures"}
    }

"""`python -m bench.gpu_step` at its tiny CPU size: both arms (bare TRL and vlmr1's trainer) run the
same steps, and the result file and the SUMMARY line bench.run_all reads are complete.
The GPU figures themselves come from a CUDA machine (BENCHMARKS.md)."""

from __future__ import annotations

import json
import subprocess

from bench.child import ROOT, child_env, module_command


def test_gpu_step_runs_both_arms_at_tiny_size_on_cpu(tmp_path):
    out = tmp_path / "gpu_step.json"
    env = child_env(CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run(
        module_command(
            "bench.gpu_step",
            "--size",
            "tiny",
            "--image",
            "84x56",
            "--completion",
            "8",
            "--G",
            "4",
            "--prompts",
            "1",
            "--steps",
            "2",
            "--warmup",
            "1",
            "--json",
            str(out),
        ),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["device"] == "cpu" and result["G"] == 4
    for arm in ("bare_trl", "vlmr1"):
        r = result[arm]
        assert r["steps_timed"] == 2 and r["median_step_s"] > 0
        lo, hi = r["step_s_range"]
        assert lo <= r["median_step_s"] <= hi
        # 4 completions of 8 tokens plus the prompts, every step
        assert r["tokens_per_step"] > 4 * 8
    summary = [ln for ln in proc.stdout.splitlines() if ln.startswith("SUMMARY ")]
    assert len(summary) == 1
    row = json.loads(summary[0][len("SUMMARY ") :])
    assert row["met"] is True and row["target"].startswith("both arms run")

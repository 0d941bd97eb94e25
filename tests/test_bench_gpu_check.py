"""`python -m bench.gpu_check` at its tiny CPU size, so the script prepared for a lent GPU cannot rot:
both GRPO arms (LoRA, full fine-tuning) run their steps, the memory plan is computed for each,
and the mixed-batch invariant holds (loss bit-identical, vision gradients exactly zero)."""

from __future__ import annotations

import json
import subprocess

import pytest

from bench.child import ROOT, child_env, module_command


@pytest.mark.slow
def test_gpu_check_runs_at_tiny_size_on_cpu(tmp_path):
    out = tmp_path / "gpu_check.json"
    env = child_env(CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="1")
    proc = subprocess.run(
        module_command(
            "bench.gpu_check",
            "--size",
            "tiny",
            "--image",
            "84x56",
            "--completion",
            "8",
            "--G",
            "4",
            "--steps",
            "1",
            "--warmup",
            "1",
            "--json",
            str(out),
        ),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=400,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["device"] == "cpu" and result["size"] == "tiny"
    for arm in ("lora", "full"):
        assert result[arm]["steps_timed"] == 1 and result[arm]["median_step_s"] > 0
    # the plan is computed for both arms (compared with the measured peak on CUDA only)
    assert result["lora"]["plan"]["planned_gib"] > 0
    assert result["lora"]["plan"]["planned_gib"] != result["full"]["plan"]["planned_gib"]
    mixed = result["mixed_batch"]
    assert mixed == {
        **mixed,
        "loss_bit_identical": True,
        "vision_grads_all_present": True,
        "vision_grads_exactly_zero": True,
        "dummy_runs": 1,
    }
    summary = [ln for ln in proc.stdout.splitlines() if ln.startswith("SUMMARY ")]
    assert len(summary) == 1 and json.loads(summary[0][len("SUMMARY ") :])["met"] is True

"""Resume: a run killed with SIGKILL after a checkpoint continues from it with the same step
count and the same data order as a run that was never interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def _ids_per_step(out: Path) -> dict[int, list[str]]:
    steps: dict[int, list[str]] = {}
    for line in (out / "samples.jsonl").read_text().splitlines():
        s = json.loads(line)
        steps.setdefault(s["step"], []).append(s["id"])
    return steps


@pytest.mark.slow
def test_sigkill_then_resume_matches_an_uninterrupted_run(tiny_model, shapes_data, tmp_path, monkeypatch):
    from vlmr1_cli.recipes import load_recipe
    from vlmr1_cli.train.run import train

    monkeypatch.syspath_prepend(str(HERE))
    recipe_file = "demo_shapes_grpo"  # the packaged recipe

    def settings(out: Path) -> list[str]:
        return [f"model.path={tiny_model}",
                f"data.train=[{{path: '{shapes_data / 'train.jsonl'}', image_root: '{shapes_data}'}}]",
                "rewards={rec: [rec_iou, 'text_rewards:stall_at']}",
                f"output_dir={out}", "max_steps=6", "per_device_train_batch_size=4", "num_generations=4",
                "max_completion_length=8", "logging_steps=1", "save_strategy=steps", "save_steps=2",
                "report_to=none", "seed=3", "num_iterations=1"]

    # The reference: the same run, never interrupted (shuffled data, seed 3).
    ref = tmp_path / "ref"
    assert train(load_recipe(recipe_file, settings(ref)))["global_step"] == 6

    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "vlmr1_cli", "train-grpo", "-r", recipe_file]
    for s in settings(out):
        cmd += ["--set", s]
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen(cmd, env={**env, "VLMR1_TEST_STALL_AT": "2"}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, start_new_session=True)
    state = out / "checkpoint-2" / "trainer_state.json"
    deadline = time.monotonic() + 240
    try:
        while not state.is_file():
            assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
            assert time.monotonic() < deadline, "no checkpoint-2 within 240 s"
            time.sleep(0.2)
        time.sleep(0.5)
        assert proc.poll() is None  # still training (stalled in step 3) when killed
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "model.safetensors").exists()

    # Without --resume the folder is refused; with it, training goes on from checkpoint-2.
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert again.returncode == 1 and "--resume" in again.stderr
    resumed = subprocess.run([*cmd, "--resume"], env=env, capture_output=True, text=True, timeout=300,
                             stdin=subprocess.DEVNULL)
    assert resumed.returncode == 0, resumed.stderr[-3000:]

    final = json.loads((out / "checkpoint-6" / "trainer_state.json").read_text())
    assert final["global_step"] == 6
    steps = [json.loads(line)["step"] for line in (out / "train_log.jsonl").read_text().splitlines()
             if "reward" in json.loads(line)]
    # Steps 1-2 logged by the killed run, 3-6 by the resumed one: a restart from step 0 would
    # log 1-6 again, and the killed run's unfinished step 3 was cut from the log.
    assert steps == [1, 2, 3, 4, 5, 6]
    assert _ids_per_step(out) == _ids_per_step(ref)  # same prompts at every step
    assert (out / "model.safetensors").is_file()

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
def test_sigkill_then_resume_matches_an_uninterrupted_run(
    tiny_model, shapes_data, tmp_path, monkeypatch
):
    from vlmr1_cli.recipes.loading import load_recipe
    from vlmr1_cli.train.run import train

    monkeypatch.syspath_prepend(str(HERE))
    recipe_file = "demo_shapes_grpo"  # the packaged recipe

    def settings(out: Path) -> list[str]:
        return [
            f"model.path={tiny_model}",
            f"data.train=[{{path: '{shapes_data / 'train.jsonl'}', image_root: '{shapes_data}'}}]",
            "rewards={rec: [rec_iou, 'text_rewards:stall_at']}",
            f"output_dir={out}",
            "max_steps=6",
            "per_device_train_batch_size=4",
            "num_generations=4",
            "max_completion_length=8",
            "logging_steps=1",
            "save_strategy=steps",
            "save_steps=2",
            "report_to=none",
            "seed=3",
            "num_iterations=1",
        ]

    # The reference: the same run, never interrupted (shuffled data, seed 3).
    ref = tmp_path / "ref"
    assert train(load_recipe(recipe_file, settings(ref)))["global_step"] == 6

    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "vlmr1_cli", "train-grpo", "-r", recipe_file]
    for s in settings(out):
        cmd += ["--set", s]
    env = dict(
        os.environ,
        OMP_NUM_THREADS="1",
        PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
    )
    proc = subprocess.Popen(
        cmd,
        env={**env, "VLMR1_TEST_STALL_AT": "2"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
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
    again = subprocess.run(
        cmd, env=env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL
    )
    assert again.returncode == 1 and "--resume" in again.stderr
    resumed = subprocess.run(
        [*cmd, "--resume"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]

    final = json.loads((out / "checkpoint-6" / "trainer_state.json").read_text())
    assert final["global_step"] == 6
    steps = [
        json.loads(line)["step"]
        for line in (out / "train_log.jsonl").read_text().splitlines()
        if "reward" in json.loads(line)
    ]
    # Steps 1-2 logged by the killed run, 3-6 by the resumed one: a restart from step 0 would
    # log 1-6 again, and the killed run's unfinished step 3 was cut from the log.
    assert steps == [1, 2, 3, 4, 5, 6]
    assert _ids_per_step(out) == _ids_per_step(ref)  # same prompts at every step
    assert (out / "model.safetensors").is_file()


def _tensors(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path))


def _same_tensors(a: Path, b: Path) -> bool:
    import torch

    ta, tb = _tensors(a), _tensors(b)
    return ta.keys() == tb.keys() and all(torch.equal(ta[k], tb[k]) for k in ta)


@pytest.mark.slow  # a CLI subprocess killed mid-run, then an in-process resume: ~15-20 s
def test_sigkill_then_resume_ends_with_bit_identical_weights_and_a_finished_run_is_not_retrained(
    tiny_model, shapes_data, tmp_path, monkeypatch
):
    """Four GRPO steps, checkpoints at 2 and 4; one run is SIGKILLed while in step 3 and resumed.

    Before the fix the resumed run started from the base weights (the checkpoint's keys did
    not match the model's, transformers issue #43701), so every tensor differed."""
    from vlmr1_cli.recipes.loading import load_recipe
    from vlmr1_cli.train.run import train

    monkeypatch.syspath_prepend(str(HERE))

    def settings(out: Path) -> list[str]:
        return [
            f"model.path={tiny_model}",
            f"data.train=[{{path: '{shapes_data / 'train.jsonl'}', image_root: '{shapes_data}'}}]",
            "rewards={rec: [rec_iou, 'text_rewards:stall_at']}",
            "data.max_samples=8",
            f"output_dir={out}",
            "max_steps=4",
            "per_device_train_batch_size=4",
            "num_generations=4",
            "max_completion_length=6",
            "logging_steps=1",
            "save_strategy=steps",
            "save_steps=2",
            "report_to=none",
            "seed=3",
            "num_iterations=1",
        ]

    ref = tmp_path / "ref"
    assert train(load_recipe("demo_shapes_grpo", settings(ref)))["global_step"] == 4

    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "vlmr1_cli", "train-grpo", "-r", "demo_shapes_grpo"]
    for s in settings(out):
        cmd += ["--set", s]
    env = dict(
        os.environ,
        OMP_NUM_THREADS="1",
        VLMR1_TEST_STALL_AT="2",
        PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
    )
    proc = subprocess.Popen(
        cmd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    state = out / "checkpoint-2" / "trainer_state.json"
    deadline = time.monotonic() + 240
    try:
        while not state.is_file():
            assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
            assert time.monotonic() < deadline, "no checkpoint-2 within 240 s"
            time.sleep(0.2)
        time.sleep(0.5)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL and not (out / "model.safetensors").exists()

    # In-process resume (the stall is off here): the same result as never stopping, bit for bit.
    monkeypatch.delenv("VLMR1_TEST_STALL_AT", raising=False)
    summary = train(load_recipe("demo_shapes_grpo", settings(out)), resume=True)
    assert summary["global_step"] == 4 and summary["resumed_from"] == str(out / "checkpoint-2")
    assert _same_tensors(out / "model.safetensors", ref / "model.safetensors")
    assert not _same_tensors(
        out / "model.safetensors", tiny_model / "model.safetensors"
    )  # it did train

    # --resume on the finished run: nothing trained, nothing written, exit 0 (item 11: it used
    # to train a fifth step past max_steps).
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    done = train(load_recipe("demo_shapes_grpo", settings(out)), resume=True)
    assert done["already_finished"] is True and done["global_step"] == 4
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
    assert not (out / "checkpoint-5").exists()


def test_resume_between_two_generations_in_a_later_epoch_is_bit_identical(
    tiny_model, shapes_data, tmp_path, monkeypatch
):
    """GRPO reuses each generation for two steps (num_iterations=2) and the data holds 2
    steps' prompts, so epoch 2 starts at step 5 and a checkpoint at 5 falls between step 5's
    generation and its reuse at step 6. Before the fix the resumed run sampled afresh at step
    6 (the generation buffer was not checkpointed), and from epoch 2 on replayed epoch 1's
    data order (TRL's sampler generator was created afresh)."""
    from vlmr1_cli.recipes.loading import load_recipe
    from vlmr1_cli.train import callbacks
    from vlmr1_cli.train.run import train

    monkeypatch.syspath_prepend(str(HERE))

    def recipe(out: Path):
        return load_recipe(
            "demo_shapes_grpo",
            [
                f"model.path={tiny_model}",
                f"data.train=[{{path: '{shapes_data / 'train.jsonl'}', image_root: '{shapes_data}'}}]",
                "rewards={rec: [rec_iou, 'text_rewards:contains_answer']}",
                "data.max_samples=4",
                f"output_dir={out}",
                "max_steps=7",
                "per_device_train_batch_size=8",
                "num_generations=4",
                "max_completion_length=6",
                "logging_steps=1",
                "save_strategy=steps",
                "save_steps=5",
                "report_to=none",
                "seed=5",
                "num_iterations=2",
            ],
        )

    ref = tmp_path / "ref"
    train(recipe(ref))

    class Killed(Exception):
        pass

    saved = callbacks.RunFilesCallback.on_save

    def die_after_checkpoint_5(self, args, state, control, **kwargs):
        saved(self, args, state, control, **kwargs)
        if state.global_step == 5:
            raise Killed  # as if the process died right after writing checkpoint-5

    out = tmp_path / "part"
    monkeypatch.setattr(callbacks.RunFilesCallback, "on_save", die_after_checkpoint_5)
    with pytest.raises(Killed):
        train(recipe(out))
    monkeypatch.setattr(callbacks.RunFilesCallback, "on_save", saved)
    train(recipe(out), resume=True)

    def ids_by_step(folder: Path) -> dict[int, list[str]]:
        return {s: sorted(ids) for s, ids in _ids_per_step(folder).items()}

    assert ids_by_step(out) == ids_by_step(ref)
    assert _same_tensors(out / "model.safetensors", ref / "model.safetensors")
    assert (out / "checkpoint-5" / "vlmr1_generation-rank0.pt").is_file()


def test_the_epoch_ordered_sampler_gives_trls_order_whatever_epoch_it_starts_in():
    """An uninterrupted run draws one permutation per epoch from one seeded generator; a run
    resumed in epoch e must get the same permutation without having drawn the earlier ones."""
    from trl.trainer.utils import RepeatSampler

    from vlmr1_cli.train.exact_resume import EpochOrderedSampler

    def sampler():
        return RepeatSampler(
            list(range(12)), mini_repeat_count=2, batch_size=3, repeat_count=2, shuffle=True, seed=7
        )

    uninterrupted = sampler()
    trl_orders = [list(uninterrupted) for _ in range(4)]
    assert len({tuple(o) for o in trl_orders}) == 4  # each epoch its own order
    for start in (3, 1, 0, 2):
        resumed = EpochOrderedSampler(sampler())
        resumed.set_epoch(start)
        assert list(resumed) == trl_orders[start]
    assert resumed.generator is resumed.inner.generator and len(resumed) == len(uninterrupted)


def test_sft_resume_is_bit_identical(tiny_model, shapes_data, tmp_path, monkeypatch):
    """SFT shares the weights fix: before it, the resumed run trained on from the base weights."""
    from vlmr1_cli.recipes.loading import load_recipe
    from vlmr1_cli.train import callbacks
    from vlmr1_cli.train.run import train

    def recipe(out: Path):
        return load_recipe(
            "demo_shapes_sft",
            [
                f"model.path={tiny_model}",
                f"data.train=[{{path: '{shapes_data / 'train.jsonl'}', image_root: '{shapes_data}'}}]",
                f"output_dir={out}",
                "max_steps=4",
                "per_device_train_batch_size=4",
                "logging_steps=1",
                "save_strategy=steps",
                "save_steps=2",
                "report_to=none",
                "data.max_samples=8",
                "seed=1",
            ],
        )

    train(recipe(tmp_path / "ref"))

    class Killed(Exception):
        pass

    saved = callbacks.RunFilesCallback.on_save

    def die_after_checkpoint_2(self, args, state, control, **kwargs):
        saved(self, args, state, control, **kwargs)
        if state.global_step == 2:
            raise Killed

    monkeypatch.setattr(callbacks.RunFilesCallback, "on_save", die_after_checkpoint_2)
    with pytest.raises(Killed):
        train(recipe(tmp_path / "part"))
    monkeypatch.setattr(callbacks.RunFilesCallback, "on_save", saved)
    assert train(recipe(tmp_path / "part"), resume=True)["global_step"] == 4
    assert _same_tensors(
        tmp_path / "part" / "model.safetensors", tmp_path / "ref" / "model.safetensors"
    )

"""The training output folder: a new run into a folder that holds one needs --resume or
--overwrite; every check runs before anything is written; --overwrite removes only what
training wrote; --resume on a finished run trains nothing; the folder is locked."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from vlmr1_cli.errors import UserError
from vlmr1_cli.recipes.schema import LaunchSettings, ModelSettings, Recipe
from vlmr1_cli.train.run_folder import RunFinished, check_output_dir

DEMO = "demo_shapes_grpo"


def _snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder` (the lock file aside) by relative path, with its content hash."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != ".vlmr1.lock"
    }


def _settings(tiny_model, shapes_data, out, grpo_settings, graded_reward, *extra) -> list[str]:
    return [
        f"model.path={tiny_model}",
        f"data.train=[{{path: '{shapes_data / 'train.jsonl'}', image_root: '{shapes_data}'}}]",
        f"rewards={{rec: [rec_iou, {{name: '{graded_reward}', weight: 1.0}}]}}",
        *grpo_settings(out, **{"training.max_steps": 1, "training.max_completion_length": 4}),
        *extra,
    ]


def _cli_args(settings: list[str]) -> list[str]:
    args = ["train-grpo", "-r", DEMO]
    for s in settings:
        args += ["--set", s]
    return args


@pytest.fixture
def finished_run(tiny_model, tmp_path) -> Path:
    """What a finished run (save_strategy "no") leaves, plus files the user put there."""
    out = tmp_path / "run"
    out.mkdir()
    for name in ("model.safetensors", "config.json", "tokenizer.json"):
        shutil.copy(tiny_model / name, out / name)
    (out / "vlmr1.json").write_text(
        json.dumps({"prompt": {"templates": {"rec": "OLD PROMPT {problem}"}}})
    )
    (out / "train_log.jsonl").write_text('{"step": 1, "loss": 0.5}\n')
    (out / "samples.jsonl").write_text('{"step": 1, "id": "a", "completion": "x"}\n')
    (out / "README.md").write_text(
        "---\ntags:\n- generated_from_trainer\n- trl\n---\n# Model Card\n"
    )
    (out / "checkpoint-7").mkdir()
    (out / "checkpoint-7" / "trainer_state.json").write_text('{"global_step": 7, "max_steps": 7}')
    (out / "runs" / "Jan01_host").mkdir(parents=True)
    (out / "runs" / "Jan01_host" / "events.out.tfevents.1.host").write_bytes(b"tb")
    (out / ".final-model.tmp").mkdir()  # a final save cut short
    (out / ".final-model.tmp" / "model.safetensors").write_bytes(b"partial")
    (out / "my_notes.txt").write_text("the user's own file")
    (out / "eval-test").mkdir()
    (out / "eval-test" / "metrics.json").write_text("{}")
    return out


def test_what_counts_as_a_run(tiny_model, tmp_path):
    def check(folder, resume=False, overwrite=False):
        recipe = Recipe(model=ModelSettings(path=str(tiny_model)), training={"max_steps": 5})
        return check_output_dir(folder, resume, overwrite, recipe)

    assert check(tmp_path / "missing") is None
    empty = tmp_path / "empty"
    empty.mkdir()
    assert check(empty) is None
    (empty / "notes.txt").write_text("mine")  # a user's file is not a run
    assert check(empty) is None
    for name in (
        "vlmr1.json",
        "train_log.jsonl",
        "model.safetensors",
        "checkpoint-3",
        "adapter_model.safetensors",
    ):
        folder = tmp_path / name.replace(".", "_")
        folder.mkdir()
        (folder / name).mkdir() if name.startswith("checkpoint") else (folder / name).write_text(
            "x"
        )
        with pytest.raises(UserError, match=rf"already holds {name}: pass --resume .*--overwrite"):
            check(folder)
        assert check(folder, overwrite=True) is None
    with pytest.raises(UserError, match="--resume and --overwrite exclude each other"):
        check(empty, resume=True, overwrite=True)
    with pytest.raises(UserError, match=r"is the model being trained.*--overwrite would delete it"):
        check(tiny_model, overwrite=True)
    # a run that reached max_steps: RunFinished, from its final state or its last checkpoint
    done = tmp_path / "done"
    (done / "checkpoint-5").mkdir(parents=True)
    (done / "checkpoint-5" / "trainer_state.json").write_text('{"global_step": 5, "max_steps": 5}')
    with pytest.raises(RunFinished) as finished:
        check(done, resume=True)
    assert finished.value.step == 5 and finished.value.checkpoint == done / "checkpoint-5"
    recipe = Recipe(model=ModelSettings(path=str(tiny_model)), training={"max_steps": 8})
    # extended: resumes
    assert check_output_dir(done, True, False, recipe) == str(done / "checkpoint-5")


def test_rerun_into_a_finished_run_changes_nothing(
    run_cli, tiny_model, shapes_data, finished_run, grpo_settings, graded_reward
):
    """The reported bug: the rerun deleted the logs and rewrote vlmr1.json with its own prompt
    before failing on a bad setting, leaving the old weights with the wrong prompt (a run
    saved without checkpoints, save_strategy "no", was not even recognised as a run)."""
    shutil.rmtree(finished_run / "checkpoint-7")
    before = _snapshot(finished_run)
    settings = _settings(
        tiny_model,
        shapes_data,
        finished_run,
        grpo_settings,
        graded_reward,
        "prompt.templates.rec=NEW {problem}",
    )
    code, _, err = run_cli(*_cli_args([*settings, "training.optim=bogus"]))
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1, err
    assert f"{finished_run} already holds vlmr1.json, train_log.jsonl, samples.jsonl" in lines[0]
    assert "--resume" in lines[0] and "--overwrite" in lines[0]
    assert _snapshot(finished_run) == before
    # With --overwrite the bad setting (found only when the trainer's config is built, after
    # the model loaded) still fails before anything is removed or written.
    code, _, err = run_cli(*_cli_args([*settings, "training.optim=bogus"]), "--overwrite")
    assert code == 1 and "OptimizerNames" in err and "Traceback" not in err
    assert _snapshot(finished_run) == before


def test_overwrite_removes_only_what_training_wrote(
    run_cli, tiny_model, shapes_data, finished_run, grpo_settings, graded_reward
):
    settings = _settings(tiny_model, shapes_data, finished_run, grpo_settings, graded_reward)
    code, _, err = run_cli(*_cli_args(settings), "--overwrite")
    assert code == 0, err
    assert (finished_run / "my_notes.txt").read_text() == "the user's own file"
    assert (finished_run / "eval-test" / "metrics.json").is_file()
    assert (
        not (finished_run / "checkpoint-7").exists() and not (finished_run / "README.md").exists()
    )
    assert not (finished_run / ".final-model.tmp").exists()
    assert not (
        finished_run / "runs"
    ).exists()  # the old TensorBoard events, and their emptied folders
    meta = json.loads((finished_run / "vlmr1.json").read_text())
    assert "OLD PROMPT" not in json.dumps(meta)
    assert [
        json.loads(line)["step"]
        for line in (finished_run / "train_log.jsonl").read_text().splitlines()
        if "reward" in line
    ] == [1]
    assert json.loads((finished_run / "trainer_state.json").read_text())["global_step"] == 1
    assert not (finished_run / ".vlmr1.lock").exists()  # released and removed


def test_resume_of_a_finished_run_trains_nothing_and_completes_a_missing_final_save(
    run_cli, tiny_model, shapes_data, tmp_path, grpo_settings, graded_reward
):
    out = tmp_path / "run"
    settings = _settings(
        tiny_model,
        shapes_data,
        out,
        grpo_settings,
        graded_reward,
        "training.max_steps=2",
        "training.save_strategy=steps",
        "training.save_steps=2",
    )
    code, _, err = run_cli(*_cli_args(settings))
    assert code == 0, err
    before = _snapshot(out)
    code, _, err = run_cli(*_cli_args(settings), "--resume")
    assert code == 0 and "already finished at step 2; nothing to train" in err, err
    assert _snapshot(out) == before and not (out / "checkpoint-3").exists()
    # killed after checkpoint-2 but before the final save: the checkpoint's model becomes final
    for name in ("model.safetensors", "trainer_state.json", "config.json"):
        (out / name).unlink()
    code, _, err = run_cli(*_cli_args(settings), "--resume")
    assert code == 0 and "final model copied from checkpoint-2" in err, err
    assert (out / "model.safetensors").read_bytes() == (
        out / "checkpoint-2" / "model.safetensors"
    ).read_bytes()
    # the same files as the final save wrote; the trainer state is the checkpoint's (no run summary)
    assert {k: v for k, v in _snapshot(out).items() if k != "trainer_state.json"} == {
        k: v for k, v in before.items() if k != "trainer_state.json"
    }
    assert json.loads((out / "trainer_state.json").read_text())["global_step"] == 2


def test_launcher_checks_in_the_parent_and_ranks_do_not_recheck(
    run_cli, monkeypatch, tiny_model, shapes_data, finished_run, grpo_settings, graded_reward
):
    """With several processes the parent checks the folder, prepares the run and holds the
    folder's lock; the ranks get --overwrite (rank 0 clears the folder after loading the
    model) and train the handed-over run without checking the folder again, which would
    otherwise trip over the files rank 0 has just written."""
    from vlmr1_cli.train import launch as launch_module
    from vlmr1_cli.train import run as run_module
    from vlmr1_cli.train import worker
    from vlmr1_cli.train.setup import hand_over

    settings = _settings(tiny_model, shapes_data, finished_run, grpo_settings, graded_reward)
    launched, handovers = [], []
    handover_dir = finished_run.parent / "handover"
    handover_dir.mkdir()

    def fake_launch(ctx, overwrite=False):
        held = json.loads((finished_run / ".vlmr1.lock").read_text())
        launched.append((ctx.resume_from, overwrite, held["pid"], _snapshot(finished_run)))
        handovers.append(hand_over(ctx, handover_dir))
        return 0

    monkeypatch.setattr(launch_module, "launch", fake_launch)
    before = _snapshot(finished_run)
    code, _, err = run_cli(*_cli_args(settings), "--num-processes", "2")
    assert code == 1 and "already holds" in err and launched == []
    code, _, err = run_cli(*_cli_args(settings), "--num-processes", "2", "--overwrite")
    assert code == 0, err
    assert launched == [(None, True, os.getpid(), before)]  # nothing removed before the ranks load
    cmd = launch_module.launch_command(
        LaunchSettings(num_processes=2), Path("run.json"), finished_run, overwrite=True
    )
    assert cmd[-2:] == ["run.json", "--overwrite"]

    calls = []
    monkeypatch.setattr(
        run_module,
        "train_prepared",
        lambda ctx, overwrite: calls.append((ctx.output_dir, ctx.resume_from, overwrite)),
    )
    assert worker.main([str(handovers[0]), "--overwrite"]) == 0
    # without --overwrite too: the folder still holds the earlier run, which a rank that
    # checked the folder again would refuse
    assert worker.main([str(handovers[0])]) == 0
    assert calls == [(finished_run, None, True), (finished_run, None, False)]


def test_a_folder_in_use_by_another_run_is_refused(
    run_cli, tiny_model, shapes_data, tmp_path, grpo_settings, graded_reward
):
    """One output folder, one run at a time (tests/evaluate/test_lock.py starts two processes)."""
    from vlmr1_cli.run_lock import FolderLock

    out = tmp_path / "run"
    settings = _settings(tiny_model, shapes_data, out, grpo_settings, graded_reward)
    with FolderLock(out):
        code, _, err = run_cli(*_cli_args(settings))
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1, err
    assert f"{out} is in use by pid {os.getpid()}" in lines[0]
    assert not out.exists()  # the lock's folder, made by the holder, went with it


def test_a_truncated_checkpoint_never_becomes_the_final_model(tiny_model, tmp_path):
    """--resume on a run killed before its final save copies its last checkpoint up: each file
    is checked whole first; a truncated one is one line naming it and the way out, and
    nothing is copied."""
    from vlmr1_cli.train.run_folder import finish_from_checkpoint

    out = tmp_path / "run"
    for step in (1, 2):
        shutil.copytree(tiny_model, out / f"checkpoint-{step}")
        (out / f"checkpoint-{step}" / "trainer_state.json").write_text(f'{{"global_step": {step}}}')
    weights = out / "checkpoint-2" / "model.safetensors"
    whole = weights.read_bytes()
    weights.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(
        UserError,
        match=rf"^--resume: the run finished, but its final model would be copied "
        rf"from {weights}, which is truncated .*; delete the folder "
        rf"{out / 'checkpoint-2'} and --resume from checkpoint-1",
    ):
        finish_from_checkpoint(out, out / "checkpoint-2")
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint-1", "checkpoint-2"]
    shutil.rmtree(out / "checkpoint-1")
    (out / "checkpoint-2" / "config.json").write_text('{"model_type": ')
    weights.write_bytes(whole)
    with pytest.raises(
        UserError, match=r"config.json, which is not valid JSON .*it is the only checkpoint"
    ):
        finish_from_checkpoint(out, out / "checkpoint-2")
    shutil.copy(tiny_model / "config.json", out / "checkpoint-2" / "config.json")
    assert "model.safetensors" in finish_from_checkpoint(out, out / "checkpoint-2")
    assert (out / "model.safetensors").read_bytes() == whole

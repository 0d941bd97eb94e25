"""Broken model files, bad devices and oversized text: one line naming the file, the option or
the record, exit 1, before any weights load or any tokenizer runs."""

from __future__ import annotations

import functools
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli_runner import one_line, run_main
from vlmr1_cli.errors import UserError

DEMO = "demo_shapes_grpo"


@pytest.fixture
def main_cli(monkeypatch, capsys):
    """The real `main()` in-process: (exit code, stdout, stderr)."""
    return functools.partial(run_main, monkeypatch, capsys)


@pytest.fixture
def no_model_loads(monkeypatch):
    """Any attempt to load weights fails the test: the checks must come first."""
    from transformers import AutoModelForImageTextToText

    def refuse(*a, **k):
        raise AssertionError("weights were loaded before the problem was reported")

    monkeypatch.setattr(AutoModelForImageTextToText, "from_pretrained", refuse)


@pytest.fixture
def model_copy(tiny_model, tmp_path) -> Path:
    dest = tmp_path / "model"
    shutil.copytree(tiny_model, dest)
    return dest


def truncate(path: Path, keep: float = 0.5) -> None:
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        fh.truncate(int(size * keep))


def rec_records(n: int, **over) -> list[dict]:
    out = []
    for i in range(n):
        r = {
            "id": f"r{i}",
            "task": "rec",
            "images": ["images/eval_000000.png"],
            "image_sizes": [[0, 0]],
            "problem": f"the red circle {i}",
            "solution": [1.0, 1.0, 20.0, 20.0],
        }
        r.update(over if i == n - 1 else {})
        out.append(r)
    return out


def write_records(path: Path, records: list[dict], image_from: Path) -> Path:
    """Records pointing at one real image of the shapes data (copied beside `path`)."""
    from PIL import Image

    (path.parent / "images").mkdir(parents=True, exist_ok=True)
    shutil.copy(image_from, path.parent / "images" / "eval_000000.png")
    with Image.open(image_from) as im:
        w, h = im.size
    with open(path, "w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps({**r, "image_sizes": [[w, h]]}) + "\n")
    return path


def _recipe(model: Path, data: Path, out: Path, *extra: str) -> dict:
    from vlmr1_cli.recipes.loading import load_recipe

    return load_recipe(
        DEMO,
        [
            f"model.path={model}",
            f"data.train=[{{path: '{data}', image_root: '{data.parent}'}}]",
            "data.eval=[]",
            f"training.output_dir={out}",
            *extra,
        ],
    )


# ----------------------------------------------------------------------------- model files


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_training_names_a_broken_weights_file_before_loading(
    model_copy, shapes_data, tmp_path, damage, no_model_loads
):
    from vlmr1_cli.train.setup import prepare_run

    weights = model_copy / "model.safetensors"
    if damage == "truncated":
        truncate(weights)
    else:
        weights.write_bytes(os.urandom(4096))
    with pytest.raises(UserError) as e:
        prepare_run(_recipe(model_copy, shapes_data / "train.jsonl", tmp_path / "out"))
    msg = str(e.value)
    assert (
        msg.startswith(f"{weights}: ")
        and ("truncated" if damage == "truncated" else "not a safetensors") in msg
    )


def test_training_load_turns_any_loading_error_into_one_line(model_copy, monkeypatch):
    """Past the header check (here switched off), what from_pretrained raises is still one line."""
    from vlmr1_cli.models.registry import family_for_path
    from vlmr1_cli.recipes.loading import load_recipe
    from vlmr1_cli.train import model_setup

    weights = model_copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[8:40] = b"{" * 32  # the header is no longer JSON
    weights.write_bytes(bytes(data))
    monkeypatch.setattr(model_setup, "check_model_weights", lambda *a: None)
    recipe = load_recipe(DEMO, [f"model.path={model_copy}"])
    with pytest.raises(UserError, match=rf"^{model_copy}: cannot load model: "):
        model_setup.load_policy_model(str(model_copy), family_for_path(str(model_copy)), recipe)


def test_a_sharded_index_naming_a_missing_shard_is_refused(model_copy):
    from vlmr1_cli.models.integrity import check_model_files

    (model_copy / "model.safetensors.index.json").write_text(
        json.dumps(
            {
                "weight_map": {
                    "a.weight": "model.safetensors",
                    "b.weight": "model-00002-of-00002.safetensors",
                }
            }
        )
    )
    with pytest.raises(
        UserError, match=r"weights file model-00002-of-00002.safetensors is missing"
    ):
        check_model_files(model_copy)


def resume_from(out: Path) -> str | None:
    """The checkpoint `--resume` picks in `out` (the run's folder checks, as training runs them)."""
    from vlmr1_cli.recipes.schema import ModelSettings, Recipe
    from vlmr1_cli.train.run_folder import check_output_dir

    recipe = Recipe(model=ModelSettings(path="some-model"), training={"max_steps": 100})
    return check_output_dir(out, resume=True, overwrite=False, recipe=recipe)


def _checkpoint(folder: Path, step: int) -> Path:
    """A checkpoint folder with the files a Trainer writes, in their real formats."""
    import torch
    from safetensors.torch import save_file

    ck = folder / f"checkpoint-{step}"
    ck.mkdir(parents=True)
    save_file({"w": torch.ones(64, 64)}, ck / "model.safetensors")
    torch.save({"state": {0: {"exp_avg": torch.zeros(64, 64)}}}, ck / "optimizer.pt")
    torch.save({"last_epoch": step}, ck / "scheduler.pt")
    torch.save({"python": [1, 2, 3]}, ck / "rng_state.pth")
    (ck / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    (ck / "config.json").write_text("{}")
    return ck


@pytest.mark.parametrize(
    "file", ["optimizer.pt", "model.safetensors", "scheduler.pt", "trainer_state.json"]
)
def test_resume_names_the_broken_file_of_the_newest_checkpoint(tmp_path, file):
    out = tmp_path / "run"
    _checkpoint(out, 1)
    newest = _checkpoint(out, 2)
    assert resume_from(out) == str(newest)  # whole files pass
    truncate(newest / file)
    with pytest.raises(UserError) as e:
        resume_from(out)
    msg = str(e.value)
    assert msg.startswith(f"--resume: {newest / file} is ") and "\n" not in msg
    assert f"delete the folder {newest} to resume from checkpoint-1" in msg
    assert newest.is_dir() and (newest / file).is_file()  # nothing deleted on the user's behalf


def test_resume_with_only_a_broken_checkpoint_says_to_start_again(tmp_path):
    only = _checkpoint(tmp_path / "run", 5)
    (only / "optimizer.pt").write_bytes(b"garbage, not torch")
    with pytest.raises(
        UserError,
        match=r"optimizer.pt is not a file torch wrote; it is the only checkpoint: "
        r"delete the folder .*checkpoint-5 and train again without --resume",
    ):
        resume_from(tmp_path / "run")


def test_resume_on_the_command_line_is_one_line(tmp_path, tiny_model, shapes_data, main_cli):
    out = tmp_path / "run"
    _checkpoint(out, 1)
    truncate(_checkpoint(out, 2) / "model.safetensors", 0.9)
    line = one_line(
        *main_cli(
            "train-grpo",
            "-r",
            DEMO,
            "--set",
            f"model.path={tiny_model}",
            "--set",
            f"training.output_dir={out}",
            "--set",
            f"data.train=[{{path: '{shapes_data / 'train.jsonl'}', image_root: '{shapes_data}'}}]",
            "--resume",
        )
    )
    assert (
        "checkpoint-2/model.safetensors is truncated" in line and "resume from checkpoint-1" in line
    )


# ----------------------------------------------------------------------------- devices


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("cpu", "cpu"),
        ("CUDA", "cuda"),
        ("cuda:1", "cuda:1"),
        ("mps", "mps"),
        (" cuda:0 ", "cuda:0"),
    ],
)
def test_device_spellings(text, name):
    from vlmr1_cli.devices import parse_device

    assert parse_device(text) == name


@pytest.mark.parametrize("text", ["banana", "cuda:", "cuda:x", "gpu", "cuda:-1", ""])
def test_bad_device_spellings(text):
    from vlmr1_cli.devices import parse_device

    with pytest.raises(
        UserError, match=r"--device '.*': not a device \(use cpu, cuda, cuda:N or mps\)"
    ):
        parse_device(text)


@pytest.mark.parametrize("command", ["evaluate", "export"])
def test_device_banana_fails_as_the_option_is_parsed(command, tmp_path, main_cli, no_model_loads):
    args = (
        ["--data", tmp_path / "none.jsonl"]
        if command == "evaluate"
        else ["--output", tmp_path / "x"]
    )
    line = one_line(
        *main_cli(command, "--model", tmp_path / "no-model", *args, "--device", "banana")
    )
    assert line == "error: --device 'banana': not a device (use cpu, cuda, cuda:N or mps)"


@pytest.fixture
def no_cuda(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_cuda_without_cuda_is_one_line_before_loading(
    tmp_path, tiny_model, shapes_data, main_cli, no_cuda, no_model_loads
):
    line = one_line(
        *main_cli(
            "evaluate",
            "--model",
            tiny_model,
            "--data",
            shapes_data / "eval.jsonl",
            "--output",
            tmp_path / "ev",
            "--device",
            "cuda",
        )
    )
    assert line.startswith("error: --device cuda: CUDA is not available (") and line.endswith(
        "use --device cpu"
    )
    assert not (tmp_path / "ev").exists()
    line = one_line(
        *main_cli("export", "--model", tiny_model, "--output", tmp_path / "x", "--device", "cuda:0")
    )
    assert line.startswith("error: --device cuda:0: CUDA is not available")


def test_a_cuda_index_past_the_last_gpu_is_one_line(monkeypatch):
    import torch

    from vlmr1_cli.devices import check_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    check_device("cuda:1")
    with pytest.raises(
        UserError,
        match=r"--device cuda:2: this machine has 2 CUDA device\(s\) \(cuda:0 to cuda:1\)",
    ):
        check_device("cuda:2")


# ----------------------------------------------------------------------------- text bounds


def test_context_comes_from_the_model_config_then_the_tokenizer(tiny_model, tmp_path):
    from vlmr1_cli.models.context import DEFAULT_CONTEXT_TOKENS, context_tokens

    assert context_tokens(tiny_model) == 4096  # text_config.max_position_embeddings

    class Tok:
        model_max_length = 512

    (tmp_path / "config.json").write_text(json.dumps({"model_type": "x"}))
    assert context_tokens(tmp_path, Tok()) == 512
    Tok.model_max_length = int(1e30)  # transformers' "no limit"
    assert context_tokens(tmp_path, Tok()) == DEFAULT_CONTEXT_TOKENS


@pytest.mark.parametrize(
    ("key", "value"), [("problem", "x" * (8 * 4096 + 1)), ("labels", ["word" * 1000] * 9)]
)
def test_evaluate_refuses_text_over_the_context_naming_the_record(
    tmp_path, tiny_model, shapes_data, main_cli, no_model_loads, key, value
):
    task = "rec" if key == "problem" else "ovd"
    over = (
        {key: value}
        if task == "rec"
        else {
            "task": "ovd",
            "labels": value,
            "problem": "",
            "solution": [{"bbox_2d": [1, 1, 20, 20], "label": value[0]}],
        }
    )
    data = write_records(
        tmp_path / "d.jsonl", rec_records(2, **over), shapes_data / "images" / "eval_000000.png"
    )
    if task == "ovd":  # one task per file
        lines = [json.loads(x) for x in data.read_text().splitlines()]
        lines[0] = {
            **lines[1],
            "id": "r0",
            "labels": ["cat"],
            "solution": [{"bbox_2d": [1, 1, 9, 9], "label": "cat"}],
        }
        data.write_text("".join(json.dumps(x) + "\n" for x in lines))
    line = one_line(
        *main_cli("evaluate", "--model", tiny_model, "--data", data, "--output", tmp_path / "ev")
    )
    assert line.startswith(f"error: {data}:2: id 'r1': key '{key}' holds ")
    assert "context of 4,096 tokens" in line and "at most 32,768 characters" in line


def test_a_50_mb_problem_is_refused_quickly_with_bounded_memory(tmp_path, tiny_model, shapes_data):
    """The reported failure: evaluate grew to tens of GB tokenizing one huge problem."""
    data = write_records(
        tmp_path / "d.jsonl",
        rec_records(2, problem="a word " * (50 * 1024 * 1024 // 7)),
        shapes_data / "images" / "eval_000000.png",
    )
    probe = (
        "import resource, sys\n"
        "from vlmr1_cli.cli.app import main\n"
        "sys.argv = ['vlmr1'] + sys.argv[1:]\n"
        "try:\n    main()\n"
        "finally:\n"
        "    sys.stderr.write(f'MAXRSS_KB {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}\\n')\n"
    )
    env = dict(os.environ, VLMR1_NO_PROGRESS="1", OMP_NUM_THREADS="1")
    env.pop("VLMR1_DEBUG", None)
    t0 = time.monotonic()
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            probe,
            "evaluate",
            "--model",
            str(tiny_model),
            "--data",
            str(data),
            "--output",
            str(tmp_path / "ev"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_DATA, (6 << 30, 6 << 30)),
    )
    elapsed = time.monotonic() - t0
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error: ")]
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert errors and errors[0].startswith(f"error: {data}:2: id 'r1': key 'problem' holds 52,428,")
    max_rss_mb = int(r.stderr.split("MAXRSS_KB ")[1].split()[0]) // 1024
    assert max_rss_mb < 1500, f"peak memory {max_rss_mb} MB"
    assert elapsed < 120


def test_training_refuses_text_over_the_context_naming_the_record(
    tiny_model, shapes_data, tmp_path, no_model_loads
):
    from vlmr1_cli.train.setup import prepare_run

    data = write_records(
        tmp_path / "d" / "train.jsonl",
        rec_records(4, problem="y" * 40000),
        shapes_data / "images" / "eval_000000.png",
    )
    with pytest.raises(
        UserError,
        match=r"^recipe: key 'data.train': record 'r3': its prompt holds 4\d,\d{3} "
        r"characters, more than a model with a context of 4,096 tokens",
    ):
        prepare_run(
            _recipe(
                tiny_model,
                data,
                tmp_path / "out",
                "training.num_generations=2",
                "training.per_device_train_batch_size=2",
            )
        )

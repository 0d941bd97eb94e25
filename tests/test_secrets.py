"""A Hub token set in a recipe (`training.hub_token`) stays in memory: it is never printed
(`--print-config`), never written (`vlmr1_recipe.yaml`, `training_args.bin`, the exported
recipe and model card, the launcher's recipe for workers) and never uploaded (`push`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from vlmr1_cli.recipes.loading import dump_recipe, load_recipe
from vlmr1_cli.recipes.schema import Recipe
from vlmr1_cli.secrets import (
    REDACTED,
    TOKEN_ENV,
    hub_token_env,
    redact_recipe,
    redact_recipe_text,
    take_hub_token,
)

TOKEN = "hf_recipeSecret0123456789abcdefXYZ"

RECIPE = """\
method: grpo
model: {{path: '{model}', dtype: float32}}
data:
  train: [{{path: '{data}/train.jsonl', image_root: '{data}'}}]
prompt:
  templates: {{rec: 'Locate {{problem}}. Answer as <answer>[x1, y1, x2, y2]</answer>.'}}
rewards:
  rec: [{{name: rec_iou, weight: 1.0}}, {{name: rec_format, weight: 1.0}}]
training:
  hub_token: {token}
  bf16: false
  seed: 0
"""


def write_recipe(folder: Path, model, data) -> Path:
    path = folder / "recipe.yaml"
    path.write_text(RECIPE.format(model=model, data=data, token=TOKEN), encoding="utf-8")
    return path


def files_holding(folder: Path, secret: str) -> list[str]:
    needle = secret.encode()
    return sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and needle in p.read_bytes()
    )


def run_vlmr1(*args, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "VLMR1_NO_PROGRESS": "1", "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "vlmr1_cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        env=full_env,
    )


def test_redaction_of_recipes_and_recipe_files():
    recipe = {"method": "grpo", "training": {"hub_token": TOKEN, "max_steps": 2}}
    redacted = redact_recipe(recipe)
    assert redacted["training"] == {"hub_token": REDACTED, "max_steps": 2}
    assert recipe["training"]["hub_token"] == TOKEN  # the in-memory recipe keeps it
    assert redact_recipe({"training": {"hub_token": None}}) == {"training": {"hub_token": None}}
    old_file = f"method: grpo\ntraining:\n  hub_token: {TOKEN}\n  max_steps: 2\n"
    assert TOKEN not in redact_recipe_text(old_file) and REDACTED in redact_recipe_text(old_file)
    clean = "method: grpo  # no secret here\ntraining:\n  max_steps: 2\n"
    assert redact_recipe_text(clean) == clean  # comments and layout kept when nothing to hide
    broken = f"training:\n  hub_token: {TOKEN}\n  x: [unclosed\n"  # not YAML: lines still redacted
    assert TOKEN not in redact_recipe_text(broken)


def test_the_trainer_config_never_holds_the_token(monkeypatch, tmp_path):
    from vlmr1_cli.train.setup import trainer_args

    monkeypatch.setenv(TOKEN_ENV, "hf_a_read_token_from_the_shell")
    recipe = Recipe(
        method="grpo",
        training={"hub_token": TOKEN, "output_dir": str(tmp_path), "report_to": "none"},
    )
    cfg = trainer_args(SimpleNamespace(recipe=recipe))
    assert cfg.hub_token is None
    assert os.environ[TOKEN_ENV] == TOKEN  # the recipe's token wins, as TRL's hub_token did
    assert recipe.training["hub_token"] == TOKEN
    # a redacted copy (a worker's recipe) leaves the token the launcher passed alone
    monkeypatch.setenv(TOKEN_ENV, "hf_passed_by_the_launcher")
    training = {"hub_token": REDACTED}
    take_hub_token(training)
    assert "hub_token" not in training and os.environ[TOKEN_ENV] == "hf_passed_by_the_launcher"
    assert hub_token_env({"hub_token": REDACTED}) == {}
    assert hub_token_env({"hub_token": TOKEN}) == {TOKEN_ENV: TOKEN}
    assert hub_token_env({}) == {}


def test_print_config_hides_the_token(tmp_path):
    recipe = write_recipe(tmp_path, "preset:tiny-qwen2.5-vl", tmp_path)
    out = run_vlmr1("train-grpo", "--recipe", recipe, "--print-config")
    assert out.returncode == 0, out.stderr
    assert TOKEN not in out.stdout + out.stderr
    assert f"hub_token: {REDACTED}" in out.stdout


def test_workers_get_the_token_through_the_environment(tmp_path, monkeypatch):
    from vlmr1_cli.launch import workers
    from vlmr1_cli.models.base import PixelLimits
    from vlmr1_cli.models.registry import family_by_name
    from vlmr1_cli.train import launch
    from vlmr1_cli.train.setup import RunContext

    seen = {}

    def fake_call(cmd, env, stdin, **kwargs):
        handover = Path(cmd[cmd.index("vlmr1_cli.train.worker") + 1])
        seen["handover"] = handover.read_text(encoding="utf-8")
        seen["env"] = env
        return 0

    monkeypatch.setattr(workers.subprocess, "call", fake_call)
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    recipe = load_recipe(
        write_recipe(tmp_path, "preset:tiny-qwen2.5-vl", tmp_path), ["launch.num_processes=2"]
    )
    ctx = RunContext(
        recipe=recipe,
        model_path=str(tmp_path / "model"),
        family=family_by_name("qwen2_5_vl"),
        processor=None,
        limits=PixelLimits(min_pixels=3136, max_pixels=12845056, factor=28),
        output_dir=tmp_path / "run",
    )
    assert launch.launch(ctx) == 0
    # the ranks' hand-over file holds the resolved recipe without its token
    saved = json.loads(seen["handover"])
    assert TOKEN not in seen["handover"] and "hub_token" not in saved["recipe"]["training"]
    assert saved["recipe"]["training"]["seed"] == 0  # the rest of the section is there
    assert seen["env"][TOKEN_ENV] == TOKEN
    assert recipe.training["hub_token"] == TOKEN  # the in-memory recipe keeps it
    assert TOKEN_ENV not in os.environ  # this process's environment is not the way


@pytest.mark.slow
def test_run_export_and_push_keep_the_token_out(tmp_path, tiny_model, shapes_data, grpo_settings):
    import torch

    recipe = write_recipe(tmp_path, tiny_model, shapes_data)
    run = tmp_path / "grpo"
    sets = grpo_settings(
        run,
        **{"training.max_steps": 1, "training.save_strategy": "steps", "training.save_steps": 1},
    )
    out = run_vlmr1("train-grpo", "--recipe", recipe, *[a for s in sets for a in ("--set", s)])
    assert out.returncode == 0, out.stderr[-2000:]
    assert TOKEN not in out.stdout + out.stderr
    for folder in (run, run / "checkpoint-1"):
        assert f"hub_token: {REDACTED}" in (folder / "vlmr1_recipe.yaml").read_text()
        args = torch.load(folder / "training_args.bin", weights_only=False)
        assert args.hub_token is None
    assert files_holding(run, TOKEN) == []

    exported = tmp_path / "export"
    out = run_vlmr1("export", "--model", run, "-o", exported)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "hub_token" in (exported / "README.md").read_text()  # the card quotes the recipe...
    assert files_holding(exported, TOKEN) == []  # ...redacted, as is the recipe file

    out = run_vlmr1(
        "push", "--model", exported, "--repo-id", "org/name", "--dry-run", env={TOKEN_ENV: TOKEN}
    )
    assert out.returncode == 0, out.stderr
    assert TOKEN not in out.stdout + out.stderr and "Hub token: found" in out.stderr

    # A run written before redaction holds the token in plain text: export redacts it, and
    # push refuses to send the old file itself.
    (run / "vlmr1_recipe.yaml").write_text(f"method: grpo\ntraining:\n  hub_token: {TOKEN}\n")
    again = tmp_path / "export-old"
    out = run_vlmr1("export", "--model", run, "-o", again)
    assert out.returncode == 0, out.stderr[-2000:]
    assert files_holding(again, TOKEN) == []
    (again / "vlmr1_recipe.yaml").write_text(f"hub_token: {TOKEN}\n")
    out = run_vlmr1(
        "push", "--model", again, "--repo-id", "org/name", "--dry-run", env={TOKEN_ENV: TOKEN}
    )
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[-1] == (
        f"error: {again / 'vlmr1_recipe.yaml'}: holds the Hub token this push authenticates "
        "with; refusing to upload it (remove the token from the file, e.g. re-export the model)"
    )


def test_dump_recipe_redacts(tmp_path):
    recipe = load_recipe(write_recipe(tmp_path, "m", tmp_path))
    text = dump_recipe(recipe)
    assert TOKEN not in text and f"hub_token: {REDACTED}" in text
    assert recipe.training["hub_token"] == TOKEN

"""`vlmr1 init-model` never deletes what it did not write and never leaves a half-built folder."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from vlmr1_cli.cli.app import app
from vlmr1_cli.errors import UserError
from vlmr1_cli.models import presets

FAMILY = presets.PRESETS["tiny-qwen2.5-vl"].family


def fake_builder(preset, output, seed):
    """Writes what a preset writes (a file and a subfolder), without torch."""
    output.mkdir()
    (output / "config.json").write_text(json.dumps({"seed": seed}))
    (output / "sub").mkdir()
    (output / "sub" / "extra.json").write_text("{}")
    return output


def failing_builder(preset, output, seed):
    output.mkdir()
    (output / "config.json").write_text("{}")
    raise RuntimeError("the build broke half way")


@pytest.fixture
def builder(monkeypatch):
    def use(func):
        monkeypatch.setitem(presets.BUILDERS, FAMILY, (__name__, func.__name__))

    return use


def test_a_non_empty_folder_is_refused_then_only_the_presets_files_replaced(builder, tmp_path):
    builder(fake_builder)
    out = tmp_path / "run"
    (out / "checkpoint-100").mkdir(parents=True)
    (out / "checkpoint-100" / "model.safetensors").write_text("trained weights")
    (out / "config.json").write_text("old")
    with pytest.raises(UserError, match="folder is not empty"):
        presets.build_preset("tiny-qwen2.5-vl", out, seed=1)
    assert (out / "config.json").read_text() == "old"

    presets.build_preset("tiny-qwen2.5-vl", out, seed=2, overwrite=True)
    assert json.loads((out / "config.json").read_text()) == {"seed": 2}  # replaced
    assert (out / "sub" / "extra.json").is_file()
    assert (out / "checkpoint-100" / "model.safetensors").read_text() == "trained weights"  # kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no staging folder left


def test_a_failed_build_leaves_nothing(builder, tmp_path):
    builder(failing_builder)
    out = tmp_path / "new"
    with pytest.raises(RuntimeError):
        presets.build_preset("tiny-qwen2.5-vl", out)
    assert list(tmp_path.iterdir()) == []
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "notes.txt").write_text("mine")
    with pytest.raises(RuntimeError):
        presets.build_preset("tiny-qwen2.5-vl", kept, overwrite=True)
    assert [p.name for p in tmp_path.iterdir()] == ["kept"] and [
        p.name for p in kept.iterdir()
    ] == ["notes.txt"]


def test_a_file_is_not_a_folder(tmp_path):
    target = tmp_path / "f"
    target.write_text("x")
    with pytest.raises(UserError, match="exists and is not a folder"):
        presets.build_preset("tiny-qwen2.5-vl", target)


def test_cli_output_option_positional_alias_and_overwrite(tmp_path):
    runner = CliRunner()
    out = tmp_path / "m"
    r = runner.invoke(app, ["init-model", "-o", str(out), "--preset", "tiny-qwen2.5-vl"])
    assert r.exit_code == 0, r.output
    assert (out / "config.json").is_file() and (out / "model.safetensors").is_file()
    (out / "mine.txt").write_text("keep me")
    r = runner.invoke(app, ["init-model", "-o", str(out)])
    assert isinstance(r.exception, UserError) and "folder is not empty" in str(r.exception)
    r = runner.invoke(
        app, ["init-model", str(out), "--overwrite", "--seed", "1"]
    )  # the old positional
    assert r.exit_code == 0, r.output
    assert "note: the positional OUTPUT is deprecated; use --output/-o" in r.stderr
    assert (out / "mine.txt").read_text() == "keep me"
    r = runner.invoke(app, ["init-model"])
    assert r.exit_code == 2 and "Missing option '--output' / '-o'." in r.output

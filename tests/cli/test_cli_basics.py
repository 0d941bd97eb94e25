"""The CLI contract: fast help without heavy imports, one-line errors with exit code 1."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("torch", "transformers", "trl", "peft", "datasets", "accelerate", "huggingface_hub")


def _run(*args, **kw):
    return subprocess.run(
        [sys.executable, "-m", "vlmr1_cli", *args], capture_output=True, text=True, **kw
    )


# (command, text its help must show): every command's help is served without heavy imports.
HELP_CASES = [
    ([], "train-grpo"),
    ([], "--install-completion"),
    (["train-grpo"], "--recipe"),
    (["train-sft"], "--recipe"),
    (["evaluate"], "--metric"),
    (["prepare-data", "shapes"], "--ood"),
    (["demo"], "--output"),
    (["export"], "--model"),
    (["push"], "--repo-id"),
    (["init-model"], "list-presets"),
    (["list-presets"], "--json"),
    (["prepare-data", "validate"], "--json"),
]


@pytest.mark.parametrize(("cmd", "expected"), HELP_CASES)
def test_help_imports_nothing_heavy(cmd, expected):
    code = (
        "import sys, runpy\n"
        f"sys.argv = ['vlmr1', *{cmd!r}, '--help']\n"
        "try:\n    runpy.run_module('vlmr1_cli', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        f"print('HEAVY=' + ','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert expected in out.stdout, (cmd, out.stdout[-300:])
    assert out.stdout.strip().endswith("HEAVY="), (cmd, out.stdout[-300:])


def test_broken_jsonl_gives_file_line_and_exit_1(tmp_path):
    bad = tmp_path / "eval.jsonl"
    bad.write_text('{"id": "a", "task": "rec"\n')
    r = _run(
        "evaluate",
        "--model",
        "preset:tiny-qwen2.5-vl",
        "--data",
        str(bad),
        "-o",
        str(tmp_path / "o"),
    )
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        f"error: {bad}:1: invalid JSON: Expecting ',' delimiter"
    ]
    assert "Traceback" not in r.stderr


def test_unknown_recipe_key_exit_1(tmp_path):
    rec = tmp_path / "r.yaml"
    rec.write_text("model: {path: m}\ntraining: {max_step: 2}\n")
    r = _run("train-grpo", "--recipe", str(rec), "--print-config")
    assert r.returncode == 1 and "max_steps" in r.stderr and "Traceback" not in r.stderr


def test_print_config_applies_overrides(tmp_path):
    rec = tmp_path / "r.yaml"
    rec.write_text("model: {path: m}\ntraining: {max_steps: 5}\n")
    r = _run(
        "train-grpo",
        "--recipe",
        str(rec),
        "--set",
        "max_steps=2",
        "--set",
        "beta=0.04",
        "--print-config",
    )
    assert r.returncode == 0, r.stderr
    assert "max_steps: 2" in r.stdout and "beta: 0.04" in r.stdout


def test_debug_shows_traceback(tmp_path):
    r = _run("--debug", "train-grpo", "--recipe", str(tmp_path / "missing.yaml"))
    assert r.returncode != 0 and "Traceback" in r.stderr


def test_usage_error_exit_2():
    r = _run("evaluate", "--batch-size", "notanumber")
    assert r.returncode == 2


def test_version():
    r = _run("--version")
    assert r.returncode == 0 and r.stdout.startswith("vlmr1 ")


@pytest.mark.parametrize(
    "raised, code, stderr",
    [
        (KeyboardInterrupt, 130, "interrupted\n"),  # Typer turns it into its own exit 130
        (SystemExit(130), 130, ""),  # a plain exit 130 is not an interrupt
    ],
)
def test_ctrl_c_inside_a_command_is_one_line(tmp_path, monkeypatch, capsys, raised, code, stderr):
    import vlmr1_cli.data.shapes as shapes
    from vlmr1_cli.cli.app import main

    def interrupted(*args, **kwargs):
        raise raised

    monkeypatch.setattr(shapes, "generate_shapes", interrupted)
    monkeypatch.setattr(sys, "argv", ["vlmr1", "prepare-data", "shapes", "-o", str(tmp_path / "s")])
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == code and capsys.readouterr().err == stderr

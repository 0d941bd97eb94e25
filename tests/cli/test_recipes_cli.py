"""`vlmr1 recipes list|show|cp`, and recipes and accelerate configs by packaged name."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml
from typer.testing import CliRunner

from vlmr1_cli.cli.app import app
from vlmr1_cli.recipe_files import packaged_accelerate_configs, packaged_recipes
from vlmr1_cli.recipes.loading import load_recipe

HEAVY = ("torch", "transformers", "trl", "peft", "datasets", "accelerate", "huggingface_hub")


def _invoke(*args: str):
    res = CliRunner().invoke(app, list(args))
    assert res.exit_code == 0, res.output
    return res


def _error(*args: str, cwd=None) -> str:
    """The CLI's one-line error (exit 1) for a command that must fail."""
    out = subprocess.run(
        [sys.executable, "-m", "vlmr1_cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )
    assert out.returncode == 1, (out.stdout[-500:], out.stderr[-1500:])
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr[-1500:]
    return lines[0]


def test_list_shows_every_packaged_recipe_and_config_without_heavy_imports():
    code = (
        "import sys, runpy\nsys.argv = ['vlmr1', 'recipes', 'list']\n"
        "try:\n    runpy.run_module('vlmr1_cli', run_name='__main__')\nexcept SystemExit:\n    pass\n"
        f"print('HEAVY=' + ','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    for name in [*packaged_recipes(), *packaged_accelerate_configs()]:
        assert name in out.stdout, (name, out.stdout[-2000:])
    assert out.stdout.strip().endswith("HEAVY="), out.stdout[-300:]


def test_list_json_derives_method_task_and_model_from_each_recipe():
    listing = json.loads(_invoke("recipes", "list", "--json").stdout)
    recipes = {r["name"]: r for r in listing["recipes"]}
    assert sorted(recipes) == sorted(packaged_recipes())
    assert (recipes["rec_refcoco"]["method"], recipes["rec_refcoco"]["tasks"]) == ("grpo", ["rec"])
    assert recipes["ovd_d3"]["tasks"] == ["ovd"]  # its base's rec rewards are dropped (rec: null)
    assert recipes["ovd_d3_lora"]["extends"] == "ovd_d3.yaml"
    assert recipes["rec_refcoco"]["model"] == "Qwen/Qwen2.5-VL-3B-Instruct"
    assert recipes["demo_shapes_sft"]["model"] == "preset:small-qwen2.5-vl"
    # SFT has no rewards: its data files say what it trains on
    sft = recipes["sft_ovd_d3"]
    assert (
        sft["method"] == "sft"
        and sft["tasks"] == []
        and sft["task"] == "data: data/d3/d3_train.jsonl"
    )
    assert recipes["rec_refcoco"]["description"].startswith("VLM-R1's REC run")
    configs = {c["name"]: c for c in listing["accelerate"]}
    assert sorted(configs) == [
        "ddp",
        "fsdp",
        "fsdp_offload",
        "multi_node",
        "zero2",
        "zero3",
        "zero3_offload",
    ]
    assert (configs["zero3"]["distributed_type"], configs["multi_node"]["num_machines"]) == (
        "DEEPSPEED ZeRO-3",
        2,
    )
    assert configs["ddp"]["distributed_type"] == "MULTI_GPU"


def test_show_prints_the_file_as_shipped():
    for name, path in [
        ("rec_refcoco", packaged_recipes()["rec_refcoco"]),
        ("zero2.yaml", packaged_accelerate_configs()["zero2"]),
    ]:
        assert _invoke("recipes", "show", name).stdout == path.read_text(encoding="utf-8")


def test_show_resolved_merges_extends_and_defaults():
    shown = yaml.safe_load(_invoke("recipes", "show", "ovd_d3_lora", "--resolved").stdout)
    assert "extends" not in shown
    assert (
        shown["peft"]["r"] == 64
        and shown["training"]["beta"] == 0.0
        and shown["training"]["temperature"] == 0.9
    )
    assert shown["model"]["trust_remote_code"] is False  # a default filled in


def test_show_unknown_name_is_one_line_with_suggestions():
    line = _error("recipes", "show", "rec_refcoco_lor")
    assert "'rec_refcoco_lor': no packaged recipe or accelerate config" in line
    assert "did you mean: rec_refcoco_lora" in line
    assert "accelerate config" in _error("recipes", "show", "zero2", "--resolved")


def test_cp_into_a_folder_then_refuses_to_overwrite(tmp_path):
    _invoke("recipes", "cp", "rec_refcoco_lora", str(tmp_path))
    copy = tmp_path / "rec_refcoco_lora.yaml"
    assert copy.read_text() == packaged_recipes()["rec_refcoco_lora"].read_text()
    # the copy keeps `extends: rec_refcoco.yaml`, which reads the packaged base: it runs as it is
    assert load_recipe(copy).training == load_recipe("rec_refcoco_lora").training
    copy.write_text("# edited\n" + copy.read_text())
    line = _error("recipes", "cp", "rec_refcoco_lora", str(tmp_path))
    assert "rec_refcoco_lora.yaml: file exists (pass --overwrite to replace it)" in line
    assert copy.read_text().startswith("# edited")
    _invoke("recipes", "cp", "rec_refcoco_lora", str(tmp_path), "--overwrite")
    assert copy.read_text() == packaged_recipes()["rec_refcoco_lora"].read_text()


def test_cp_to_a_file_and_resolved(tmp_path):
    _invoke("recipes", "cp", "zero3", str(tmp_path / "my_zero3.yaml"))
    assert (tmp_path / "my_zero3.yaml").read_text() == packaged_accelerate_configs()[
        "zero3"
    ].read_text()
    flat = tmp_path / "flat.yaml"
    _invoke("recipes", "cp", "ovd_d3_lora", str(flat), "--resolved")
    assert "extends" not in yaml.safe_load(flat.read_text())
    a, b = load_recipe(flat), load_recipe("ovd_d3_lora")
    assert (a.training, a.rewards, a.peft, a.prompt) == (
        b.training,
        b.rewards,
        b.peft,
        b.prompt,
    )


def test_cp_to_a_missing_folder_is_one_line(tmp_path):
    line = _error("recipes", "cp", "ddp", str(tmp_path / "no" / "such" / "ddp.yaml"))
    assert "no/such: folder not found" in line


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["-r", "rec_refcoc"],
            "recipe 'rec_refcoc': no such file, and no packaged recipe of that name; "
            "did you mean: rec_refcoco",
        ),
        (
            ["-r", "rec_refcoco", "--config-file", "zero5"],
            "key 'launch.config_file': accelerate config 'zero5': no such file",
        ),
        (
            ["-r", "rec_refcoco", "--set", "model.trust_remote_code=no"],
            "key 'model.trust_remote_code': expected true or false, got 'no'",
        ),
    ],
)
def test_train_names_errors_are_one_line(tmp_path, args, expected):
    assert expected in _error("train-grpo", *args, "--print-config", cwd=tmp_path)


def test_train_takes_packaged_names_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = _invoke(
        "train-grpo", "-r", "rec_refcoco_lora", "--config-file", "zero2", "--print-config"
    )
    shown = yaml.safe_load(res.stdout)
    assert shown["peft"]["enabled"] is True
    assert shown["launch"]["config_file"] == str(packaged_accelerate_configs()["zero2"])

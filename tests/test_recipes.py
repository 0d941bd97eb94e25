from pathlib import Path

import pytest

from vlmr1_cli.errors import UserError
from vlmr1_cli.recipes import dump_recipe, load_recipe, parse_scalar, validate_training

ROOT = Path(__file__).resolve().parents[1]


def _write(tmp_path, text: str) -> Path:
    p = tmp_path / "r.yaml"
    p.write_text(text)
    return p


def test_overrides_and_bare_training_keys(tmp_path):
    p = _write(tmp_path, "model: {path: preset:tiny-qwen2.5-vl}\ndata: {train: [x.jsonl]}\ntraining: {learning_rate: 1.0e-6}\n")
    r = load_recipe(p, ["max_steps=2", "training.learning_rate=1e-5", "model.dtype=bfloat16", "peft.enabled=true"])
    assert r["training"] == {"learning_rate": 1e-5, "max_steps": 2}
    assert r["model"]["dtype"] == "bfloat16" and r["peft"]["enabled"] is True
    assert r["data"]["train"] == [{"path": "x.jsonl", "image_root": ".", "weight": 1.0, "max_samples": None}]


def test_unknown_keys_name_the_closest(tmp_path):
    p = _write(tmp_path, "model: {path: m, dtyp: float32}\n")
    with pytest.raises(UserError, match=r"model.dtyp.*did you mean: dtype"):
        load_recipe(p)
    p = _write(tmp_path, "modle: {path: m}\n")
    with pytest.raises(UserError, match=r"unknown section 'modle'.*model"):
        load_recipe(p)


def test_training_keys_validated_against_trl(tmp_path):
    p = _write(tmp_path, "model: {path: m}\ntraining: {learning_rat: 1}\n")
    r = load_recipe(p)
    with pytest.raises(UserError, match=r"training.learning_rat.*learning_rate"):
        validate_training(r)


def test_invalid_yaml_names_line(tmp_path):
    p = _write(tmp_path, "model:\n  path: [unclosed\n")
    with pytest.raises(UserError, match=r"r.yaml:\d+: invalid YAML"):
        load_recipe(p)


def test_parse_scalar():
    assert parse_scalar("1e-6") == 1e-6 and parse_scalar("true") is True and parse_scalar("[1, 2]") == [1, 2]
    assert parse_scalar("abc") == "abc"


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "recipes").glob("*.yaml")))
def test_shipped_recipes_resolve(name):
    r = load_recipe(ROOT / "recipes" / name)
    validate_training(r)
    assert "training" in dump_recipe(r)


# ----------------------------------------------------------------------------- paper recipes


def _paper(name: str) -> dict:
    r = load_recipe(ROOT / "recipes" / name)
    validate_training(r)
    return r


@pytest.mark.parametrize("name, beta, rewards", [
    ("rec_refcoco.yaml", 0.04, {"rec": [("rec_iou", {}), ("rec_format", {})]}),
    ("ovd_d3.yaml", 0.0, {"ovd": [("od_length", {}), ("ovd_format", {"strict": True})]}),
])
def test_paper_recipes_carry_the_papers_settings(name, beta, rewards):
    r = _paper(name)
    assert r["method"] == "grpo"
    assert r["model"]["path"] == "Qwen/Qwen2.5-VL-3B-Instruct" and r["model"]["frame"] == "qwen25_abs"
    t = r["training"]
    assert (t["num_generations"], t["temperature"], t["num_iterations"], t["epsilon"]) == (8, 0.9, 1, 0.2)
    assert (t["beta"], t["learning_rate"], t["num_train_epochs"], t["loss_type"]) == (beta, 1e-6, 2, "grpo")
    assert t["bf16"] is True and t["scale_rewards"] == "group"
    got = {task: [(i["name"], i.get("options") or {}) for i in items]
           for task, items in r["rewards"].items() if items is not None}
    assert got == rewards
    assert all(Path(s["path"]).name.endswith(".jsonl") for s in r["data"]["train"])


def test_lora_and_sft_variants_share_model_data_and_prompt():
    for full, lora in (("rec_refcoco.yaml", "rec_refcoco_lora.yaml"), ("ovd_d3.yaml", "ovd_d3_lora.yaml")):
        a, b = _paper(full), _paper(lora)
        assert b["peft"]["enabled"] and not b["peft"]["include_vision"] and not a["peft"]["enabled"]
        assert (a["data"], a["prompt"], a["rewards"], a["training"]["beta"]) == \
               (b["data"], b["prompt"], b["rewards"], b["training"]["beta"])
    for grpo, sft in (("rec_refcoco.yaml", "sft_rec_refcoco.yaml"), ("ovd_d3.yaml", "sft_ovd_d3.yaml")):
        a, b = _paper(grpo), _paper(sft)
        assert b["method"] == "sft" and a["data"]["train"] == b["data"]["train"]
        assert a["model"]["path"] == b["model"]["path"]
        task = "rec" if grpo.startswith("rec") else "ovd"
        assert a["prompt"]["templates"][task] == b["prompt"]["templates"][task]
        assert (b["training"]["learning_rate"], b["training"]["num_train_epochs"]) == (1e-6, 2)


def test_extends_merges_mappings_and_null_removes(tmp_path):
    (tmp_path / "base.yaml").write_text(
        "model: {path: m, dtype: bfloat16}\nrewards: {rec: [rec_iou]}\ntraining: {beta: 0.04, max_steps: 5}\n")
    child = _write(tmp_path, "extends: base.yaml\nrewards: {rec: null, ovd: [od_length]}\n"
                             "training: {max_steps: null, learning_rate: 1e-5}\n")
    r = load_recipe(child)
    assert r["model"] == {**r["model"], "path": "m", "dtype": "bfloat16"}
    assert r["rewards"] == {"ovd": ["od_length"]}
    assert r["training"] == {"beta": 0.04, "learning_rate": "1e-5"}
    validate_training(r)
    assert r["training"]["learning_rate"] == 1e-5  # YAML 1.1 reads 1e-5 as text; TRL wants a float
    _write(tmp_path, "extends: r.yaml\n")
    with pytest.raises(UserError, match="cycle"):
        load_recipe(tmp_path / "r.yaml")
    _write(tmp_path, "extends: missing.yaml\n")
    with pytest.raises(UserError, match="key 'extends': recipe not found: missing.yaml"):
        load_recipe(tmp_path / "r.yaml")


def test_training_values_are_type_checked(tmp_path):
    p = _write(tmp_path, "model: {path: m}\n")
    with pytest.raises(UserError, match=r"training.num_generations.*expected int"):
        validate_training(load_recipe(p, ["num_generations=eight"]))
    with pytest.raises(UserError, match=r"training.bf16.*expected bool"):
        validate_training(load_recipe(p, ["bf16=3"]))
    r = load_recipe(p, ["report_to=[tensorboard, wandb]", "use_vllm=true", "vllm_mode=server"])
    validate_training(r)  # lists and strings are TRL's to check


def test_launch_keys_are_checked(tmp_path):
    p = _write(tmp_path, "model: {path: m}\n")
    with pytest.raises(UserError, match=r"launch.num_processes.*non-negative integer"):
        load_recipe(p, ["launch.num_processes=two"])
    with pytest.raises(UserError, match=r"launch.machine_rank.*not below"):
        load_recipe(p, ["launch.num_machines=2", "launch.machine_rank=2"])


def test_accelerate_configs_load_with_accelerate():
    from accelerate.commands.config.config_args import load_config_from_file

    want = {"ddp.yaml": ("MULTI_GPU", 1, None), "zero2.yaml": ("DEEPSPEED", 1, 2),
            "zero3.yaml": ("DEEPSPEED", 1, 3), "fsdp.yaml": ("FSDP", 1, None),
            "multi_node.yaml": ("DEEPSPEED", 2, 2)}
    found = sorted(p.name for p in (ROOT / "recipes" / "accelerate").glob("*.yaml"))
    assert found == sorted(want)
    for name, (kind, machines, zero) in want.items():
        cfg = load_config_from_file(str(ROOT / "recipes" / "accelerate" / name))
        assert str(cfg.distributed_type).endswith(kind) and cfg.num_machines == machines
        assert (cfg.deepspeed_config or {}).get("zero_stage") == zero
        assert cfg.mixed_precision in ("no", "bf16") and not cfg.use_cpu


def test_print_config_shows_the_resolved_recipe():
    import yaml
    from typer.testing import CliRunner

    from vlmr1_cli.cli.app import app

    res = CliRunner().invoke(app, ["train-grpo", "-r", str(ROOT / "recipes" / "ovd_d3_lora.yaml"),
                                   "--print-config", "--set", "max_steps=1", "--set", "model.path=preset:tiny-qwen2.5-vl"])
    assert res.exit_code == 0, res.output
    shown = yaml.safe_load(res.output)
    assert shown["model"]["path"] == "preset:tiny-qwen2.5-vl" and shown["training"]["max_steps"] == 1
    assert shown["training"]["beta"] == 0.0 and shown["peft"]["r"] == 64  # ovd_d3 <- rec_refcoco, + LoRA
    assert shown["training"]["temperature"] == 0.9

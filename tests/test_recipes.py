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

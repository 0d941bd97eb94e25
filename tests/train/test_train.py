"""Real (tiny) GRPO and SFT runs through the recipe layer, one per training mode."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vlmr1_cli.errors import UserError
from vlmr1_cli.recipes.loading import load_recipe


@pytest.fixture
def grpo_recipe(tiny_model, shapes_data, grpo_settings, graded_reward):

    def make(out, *extra):
        return load_recipe(
            "demo_shapes_grpo",
            [
                f"model.path={tiny_model}",
                f"data.train=[{{path: '{shapes_data / 'train.jsonl'}', image_root: '{shapes_data}'}}]",
                f"rewards={{rec: [rec_iou, rec_format, {{name: '{graded_reward}', weight: 1.0}}]}}",
                *grpo_settings(out),
                *extra,
            ],
        )

    return make


def _is_language(key: str) -> bool:
    # Saved checkpoints use the Hub layout (model.layers.*, visual.*), not the in-memory names.
    return key.startswith("model.layers.") or "language_model" in key


def _params(path):
    from safetensors.torch import load_file

    return load_file(str(Path(path) / "model.safetensors"))


def test_grpo_full_finetune_moves_weights_and_logs(tiny_model, grpo_recipe, tmp_path):
    from vlmr1_cli.train.run import train

    out = tmp_path / "grpo"
    summary = train(grpo_recipe(out, "training.beta=0.04"))
    assert summary["global_step"] == 2
    logs = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    keys = set().union(*logs)
    assert {
        "reward",
        "rewards/rec_iou/mean",
        "rewards/rec_format/mean",
        "kl",
        "completions/mean_length",
    } <= keys
    assert (out / "training_curves.png").stat().st_size > 1000
    meta = json.loads((out / "vlmr1.json").read_text())
    assert meta["frame"] == "qwen25_abs" and meta["family"] == "qwen2_5_vl"
    before, after = _params(tiny_model), _params(out)
    changed = [k for k in before if not (before[k] == after[k]).all()]
    assert any("visual" in k for k in changed) and any(_is_language(k) for k in changed)


def test_grpo_frozen_vision_keeps_vision_weights(tiny_model, grpo_recipe, tmp_path):
    from vlmr1_cli.train.run import train

    out = tmp_path / "grpo"
    train(grpo_recipe(out, "freeze.vision=true"))
    before, after = _params(tiny_model), _params(out)
    vision = [k for k in before if "visual" in k]
    assert vision and all((before[k] == after[k]).all() for k in vision)
    assert any(not (before[k] == after[k]).all() for k in before if _is_language(k))


def test_grpo_frozen_language_keeps_language_weights(tiny_model, grpo_recipe, tmp_path):
    from vlmr1_cli.train.run import train

    out = tmp_path / "grpo"
    train(grpo_recipe(out, "freeze.language=true"))
    before, after = _params(tiny_model), _params(out)
    lang = [k for k in before if _is_language(k)]
    assert lang and all((before[k] == after[k]).all() for k in lang)
    assert any(not (before[k] == after[k]).all() for k in before if "visual" in k)


def test_grpo_lora_excludes_vision_by_default(tiny_model, grpo_recipe, tmp_path):
    from vlmr1_cli.train.run import train

    out = tmp_path / "lora"
    train(grpo_recipe(out, "peft.enabled=true", "peft.r=4"))
    cfg = json.loads((out / "adapter_config.json").read_text())
    targets = cfg["target_modules"]
    assert (
        targets
        and not any("visual" in t for t in targets)
        and not any(t.endswith("lm_head") for t in targets)
    )
    assert (out / "adapter_model.safetensors").is_file()
    assert (out / "tokenizer_config.json").is_file()


def test_sft_trains_answer_tokens(tiny_model, shapes_data, tmp_path):
    from vlmr1_cli.train.run import train

    out = tmp_path / "sft"
    recipe = load_recipe(
        "demo_shapes_sft",
        [
            f"model.path={tiny_model}",
            f"data.train=[{{path: '{shapes_data / 'train.jsonl'}', image_root: '{shapes_data}'}}]",
            f"training.output_dir={out}",
            "max_steps=3",
            "per_device_train_batch_size=4",
            "logging_steps=1",
        ],
    )
    summary = train(recipe)
    assert summary["global_step"] == 3 and summary["train_loss"] > 0
    assert (out / "model.safetensors").is_file() and (out / "vlmr1.json").is_file()


def test_reward_typo_fails_before_model_loads(tiny_model, grpo_recipe, tmp_path):
    from vlmr1_cli.train.setup import prepare_run

    recipe = grpo_recipe(tmp_path / "x", "rewards={rec: [rec_iuo]}")
    with pytest.raises(UserError, match=r"rewards.rec\[0\].*rec_iou"):
        prepare_run(recipe)


def test_missing_data_file_is_named(tiny_model, tmp_path):
    from vlmr1_cli.train.setup import prepare_run

    recipe = load_recipe(
        "demo_shapes_grpo", [f"model.path={tiny_model}", "data.train=[missing.jsonl]"]
    )
    with pytest.raises(UserError, match=r"data.train\[0\].path.*missing.jsonl"):
        prepare_run(recipe)

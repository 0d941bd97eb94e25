"""GRPO continues from an SFT LoRA adapter without merging it (`model.adapter`, or `model.path`
naming the adapter folder), and such a run resumes exactly."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from vlmr1_cli.errors import UserError
from vlmr1_cli.recipes.loading import load_recipe


def _data(shapes_data: Path) -> str:
    return f"data.train=[{{path: '{shapes_data / 'train.jsonl'}', image_root: '{shapes_data}'}}]"


@pytest.fixture(scope="module")
def sft_adapter(tiny_model, shapes_data, tmp_path_factory) -> Path:
    """Two SFT steps with LoRA: the adapter GRPO then starts from."""
    from vlmr1_cli.train.run import train

    out = tmp_path_factory.mktemp("sft-lora") / "sft"
    train(
        load_recipe(
            "demo_shapes_sft",
            [
                f"model.path={tiny_model}",
                _data(shapes_data),
                f"training.output_dir={out}",
                "max_steps=2",
                "per_device_train_batch_size=4",
                "report_to=none",
                "peft.enabled=true",
                "peft.r=4",
                "lr_scheduler_type=constant",
                "warmup_steps=0",
            ],
        )
    )
    assert (out / "adapter_model.safetensors").is_file() and not (
        out / "model.safetensors"
    ).exists()
    return out


@pytest.fixture
def grpo_recipe(tiny_model, shapes_data, grpo_settings, graded_reward):
    def make(out: Path, *extra: str) -> dict:
        return load_recipe(
            "demo_shapes_grpo",
            [
                _data(shapes_data),
                f"rewards={{rec: [rec_iou, {{name: '{graded_reward}', weight: 1.0}}]}}",
                *grpo_settings(
                    out, **{"training.save_strategy": "steps", "training.save_steps": 1}
                ),
                *extra,
            ],
        )

    return make


def _tensors(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path))


def _digest(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.is_file()
    }


def _lora_keys(tensors: dict) -> list[str]:
    return sorted(k for k in tensors if "lora_" in k)


def test_grpo_continues_an_sft_adapter_unmerged_and_resumes_exactly(
    tiny_model, sft_adapter, grpo_recipe, tmp_path, monkeypatch
):
    """`model.adapter` (base from adapter_config.json) and `model.path=<adapter folder>` train the
    same adapter: the result is an adapter whose weights moved, the base and the starting adapter
    are untouched; the second run is killed after checkpoint-1 and resumed, and ends bit-identical."""
    from vlmr1_cli.train import callbacks
    from vlmr1_cli.train.run import train

    base_files, start_files = _digest(tiny_model), _digest(sft_adapter)
    start = _tensors(sft_adapter / "adapter_model.safetensors")

    ref = tmp_path / "by-key"
    summary = train(grpo_recipe(ref, f"model.adapter={sft_adapter}", "model.path=null"))
    assert summary["global_step"] == 2
    assert (ref / "adapter_model.safetensors").is_file() and (
        ref / "checkpoint-1" / "adapter_model.safetensors"
    ).is_file()
    assert not list(ref.rglob("model.safetensors*"))  # an adapter, no full weights anywhere
    # TRL's KL reference (a frozen copy of the start, beta > 0) is in the checkpoints, not the result
    assert (ref / "checkpoint-2" / "ref").is_dir() and not (ref / "ref").exists()
    after = _tensors(ref / "adapter_model.safetensors")
    assert _lora_keys(after) == _lora_keys(start)
    assert any(not (after[k] == start[k]).all() for k in _lora_keys(start))
    config = json.loads((ref / "adapter_config.json").read_text())
    assert Path(config["base_model_name_or_path"]).resolve() == tiny_model.resolve()
    meta = json.loads((ref / "vlmr1.json").read_text())
    assert (
        meta["start_adapter"] == str(sft_adapter)
        and Path(meta["base_model"]).resolve() == tiny_model.resolve()
    )
    assert _digest(tiny_model) == base_files and _digest(sft_adapter) == start_files

    class Killed(Exception):
        pass

    saved = callbacks.RunFilesCallback.on_save

    def die_after_checkpoint_1(self, args, state, control, **kwargs):
        saved(self, args, state, control, **kwargs)
        if state.global_step == 1:
            raise Killed

    out = tmp_path / "by-path"
    monkeypatch.setattr(callbacks.RunFilesCallback, "on_save", die_after_checkpoint_1)
    with pytest.raises(Killed):
        train(grpo_recipe(out, f"model.path={sft_adapter}"))
    monkeypatch.setattr(callbacks.RunFilesCallback, "on_save", saved)
    resumed = train(grpo_recipe(out, f"model.path={sft_adapter}"), resume=True)
    assert resumed["global_step"] == 2 and resumed["resumed_from"] == str(out / "checkpoint-1")
    assert not list(out.rglob("model.safetensors*"))
    final = _tensors(out / "adapter_model.safetensors")
    assert _lora_keys(final) == _lora_keys(after)
    assert all((final[k] == after[k]).all() for k in _lora_keys(after))  # the same run, bit for bit
    assert json.loads((out / "vlmr1.json").read_text())["start_adapter"] == str(sft_adapter)
    assert _digest(tiny_model) == base_files and _digest(sft_adapter) == start_files


def test_the_adapter_base_may_be_another_folder_of_its_family(
    tiny_model, sft_adapter, grpo_recipe, tmp_path, capsys
):
    from vlmr1_cli.train.setup import prepare_run

    copy = tmp_path / "copy-of-base"
    shutil.copytree(tiny_model, copy)
    ctx = prepare_run(
        grpo_recipe(tmp_path / "out", f"model.adapter={sft_adapter}", f"model.path={copy}"),
        load_data=False,
    )
    assert ctx.model_path == str(copy) and ctx.adapter.folder == str(sft_adapter)
    assert f"was trained on {tiny_model}" in capsys.readouterr().err


def test_adapter_errors_are_one_line(tiny_model, sft_adapter, grpo_recipe, tmp_path):
    from vlmr1_cli.models.presets import build_preset
    from vlmr1_cli.train.setup import prepare_run

    out = tmp_path / "out"
    with pytest.raises(UserError, match=r"keys 'peft.enabled' and 'model.adapter'"):
        grpo_recipe(out, f"model.adapter={sft_adapter}", "peft.enabled=true")
    with pytest.raises(UserError, match=r"keys 'peft.enabled' and 'model.path'"):
        prepare_run(
            grpo_recipe(out, f"model.path={sft_adapter}", "peft.enabled=true"), load_data=False
        )
    with pytest.raises(UserError, match=r"keys 'freeze' and 'model.adapter'"):
        prepare_run(
            grpo_recipe(out, f"model.adapter={sft_adapter}", "freeze.vision=true"), load_data=False
        )
    with pytest.raises(
        UserError, match=rf"key 'model.adapter': {tiny_model} is not a LoRA adapter folder"
    ):
        prepare_run(grpo_recipe(out, f"model.adapter={tiny_model}"), load_data=False)
    with pytest.raises(
        UserError, match=r"key 'model.adapter': model '.*nowhere': folder not found"
    ):
        prepare_run(grpo_recipe(out, f"model.adapter={tmp_path / 'nowhere'}"), load_data=False)
    with pytest.raises(UserError, match=r"key 'model.adapter': must be text"):
        grpo_recipe(out, "model.adapter=3")
    internvl = build_preset("tiny-internvl", tmp_path / "internvl")
    with pytest.raises(
        UserError, match=r"'model.path' and 'model.adapter'.*'internvl' model.*'qwen2_5_vl' model"
    ):
        prepare_run(
            grpo_recipe(out, f"model.adapter={sft_adapter}", f"model.path={internvl}"),
            load_data=False,
        )
    moved = tmp_path / "moved-adapter"
    shutil.copytree(sft_adapter, moved)
    config = json.loads((moved / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = str(tmp_path / "gone")
    (moved / "adapter_config.json").write_text(json.dumps(config))
    with pytest.raises(
        UserError, match=r"adapter_config.json: its base model cannot be found.*set model.path"
    ):
        prepare_run(grpo_recipe(out, f"model.adapter={moved}", "model.path=null"), load_data=False)
    # the base given beside it: the adapter trains on
    assert prepare_run(
        grpo_recipe(out, f"model.adapter={moved}", f"model.path={tiny_model}"), load_data=False
    ).model_path == str(tiny_model)


def test_the_memory_plan_reads_the_adapters_base(tiny_model, sft_adapter, grpo_recipe, tmp_path):
    from vlmr1_cli.train.plan_inputs import plan_for_recipe
    from vlmr1_cli.train.plan_model import model_files

    for extra in (
        [f"model.adapter={sft_adapter}", "model.path=null"],
        [f"model.path={sft_adapter}"],
    ):
        recipe = grpo_recipe(tmp_path / "out", *extra)
        assert model_files(recipe).resolve() == tiny_model.resolve()
        assert plan_for_recipe(recipe, device_type="cpu").shape.params > 0

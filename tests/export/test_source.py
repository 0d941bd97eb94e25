"""Which folder `export` picks in a training output, and what metadata it gathers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vlmr1_cli.errors import UserError
from vlmr1_cli.export.source import locate


def _full(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text('{"model_type": "qwen2_5_vl"}')
    (folder / "model.safetensors").write_bytes(b"x")
    (folder / "tokenizer_config.json").write_text("{}")
    return folder


def _adapter(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "adapter_config.json").write_text('{"base_model_name_or_path": "/base"}')
    (folder / "adapter_model.safetensors").write_bytes(b"x")
    return folder


def test_root_model_wins_over_checkpoints(tmp_path):
    _full(tmp_path)
    _full(tmp_path / "checkpoint-50")
    src = locate(tmp_path)
    assert src.model_dir == tmp_path and src.label == "final model" and not src.is_adapter


def test_latest_checkpoint_by_number_not_by_name(tmp_path):
    for step in (2, 10, 9):
        _full(tmp_path / f"checkpoint-{step}")
    src = locate(tmp_path)
    assert src.label == "checkpoint-10" and src.run_root == tmp_path


def test_incomplete_latest_checkpoint_is_skipped_and_said(tmp_path):
    _full(tmp_path / "checkpoint-5")
    (tmp_path / "checkpoint-6").mkdir()
    (tmp_path / "checkpoint-6" / "optimizer.pt").write_bytes(b"x")
    src = locate(tmp_path)
    assert src.label == "checkpoint-5"
    assert any("checkpoint-6" in n for n in src.notes)


def test_checkpoint_folder_given_directly(tmp_path):
    _full(tmp_path / "checkpoint-3")
    _full(tmp_path / "checkpoint-7")
    (tmp_path / "vlmr1.json").write_text(json.dumps({"family": "qwen2_5_vl", "recipe": "r.yaml"}))
    (tmp_path / "r.yaml").write_text("method: sft\n")
    src = locate(tmp_path / "checkpoint-3")
    assert src.model_dir == tmp_path / "checkpoint-3" and src.run_root == tmp_path
    assert src.meta["family"] == "qwen2_5_vl"  # from the run folder
    assert src.recipe_path == tmp_path / "r.yaml"


def test_adapter_checkpoint_without_processor_uses_base(tmp_path):
    _adapter(tmp_path)
    src = locate(tmp_path)
    assert src.is_adapter and src.processor_dir is None


def _files(*names):
    def make(folder: Path) -> None:
        for name in names:
            (folder / name).write_text("{}")

    return make


@pytest.mark.parametrize(
    "setup, message",
    [
        (_files(), "no model found"),
        (_files("config.json", "pytorch_model.bin"), "pickles"),
        (_files("adapter_config.json", "adapter_model.bin"), "pickle"),
    ],
)
def test_nothing_exportable_is_one_clear_error(tmp_path, setup, message):
    setup(tmp_path)
    with pytest.raises(UserError, match=message):
        locate(tmp_path)


def test_missing_folder(tmp_path):
    with pytest.raises(UserError, match="not found"):
        locate(tmp_path / "nope")


def test_metrics_for_the_checkpoint_only(tmp_path):
    ck = _full(tmp_path / "checkpoint-8")
    (ck / "metrics.json").write_text(json.dumps({"task": "rec", "acc": 0.5, "n": 10, "resumed": 3}))
    (ck / "eval-ood").mkdir()
    (ck / "eval-ood" / "metrics.json").write_text(json.dumps({"task": "rec", "acc": 0.25}))
    # Root-level files count for the checkpoint only when their "model" names it.
    (tmp_path / "eval-a").mkdir()
    (tmp_path / "eval-a" / "metrics.json").write_text(json.dumps({"acc": 0.9, "model": str(ck)}))
    (tmp_path / "eval-b").mkdir()
    (tmp_path / "eval-b" / "metrics.json").write_text(
        json.dumps({"acc": 0.1, "model": str(tmp_path)})
    )
    (tmp_path / "eval-c").mkdir()
    (tmp_path / "eval-c" / "metrics.json").write_text("{not json")
    src = locate(tmp_path)
    labels = {m.label: m.values for m in src.metrics}
    assert set(labels) == {
        "checkpoint-8/metrics.json",
        "checkpoint-8/eval-ood/metrics.json",
        "eval-a/metrics.json",
    }
    assert labels["checkpoint-8/metrics.json"] == {"acc": 0.5, "n": 10}  # bookkeeping dropped
    assert src.metrics[0].task == "rec"


def test_bad_metrics_at_the_model_are_reported_not_dropped(tmp_path):
    _full(tmp_path)
    (tmp_path / "metrics.json").write_text("[1, 2")
    (tmp_path / "eval-x").mkdir()
    (tmp_path / "eval-x" / "metrics.json").write_text(json.dumps({"task": "rec"}))
    src = locate(tmp_path)
    assert src.metrics == []
    assert any("invalid JSON" in n for n in src.notes)
    assert any("no metric numbers" in n for n in src.notes)


def test_missing_meta_and_recipe_are_noted(tmp_path):
    _full(tmp_path)
    src = locate(tmp_path)
    assert src.meta == {} and src.recipe_path is None
    assert any("vlmr1.json" in n for n in src.notes) and any("recipe" in n for n in src.notes)


def test_recipe_path_cannot_escape_the_run(tmp_path):
    run = _full(tmp_path / "run")
    (tmp_path / "secret.yaml").write_text("x: 1\n")
    (run / "vlmr1.json").write_text(json.dumps({"recipe": "../secret.yaml"}))
    assert locate(run).recipe_path is None

"""`export` end to end on run folders shaped like the trainer's: what is written, that it
loads, that a LoRA merge equals the adapter model, and that a corrupted merge is caught."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vlmr1_cli.errors import UserError
from vlmr1_cli.export import merge
from vlmr1_cli.export.exporter import export_checkpoint

torch = pytest.importorskip("torch")

PROCESSOR_FILES = {
    "tokenizer.json",
    "tokenizer_config.json",
    "chat_template.jinja",
    "processor_config.json",
}
REAL_MERGE = merge.merge_adapter
TRAINER_FILES = {
    "optimizer.pt",
    "scheduler.pt",
    "rng_state.pth",
    "training_args.bin",
    "trainer_state.json",
}


def _load(folder: Path, dtype=torch.float32):
    from transformers import AutoModelForImageTextToText

    return AutoModelForImageTextToText.from_pretrained(
        folder, dtype=dtype, local_files_only=True
    ).eval()


def _logits(model, processor):
    from vlmr1_cli.export import verify

    return verify.logits(model, verify.sample_inputs(processor))


def _leftovers(parent: Path) -> list[str]:
    return [p.name for p in parent.iterdir() if p.name.startswith(".")]


def test_full_run_exports_latest_checkpoint(full_run, tmp_path):
    from safetensors.torch import load_file

    out = tmp_path / "exported"
    res = export_checkpoint(full_run, out)
    assert res.source.label == "checkpoint-10" and res.weights == "full model"
    names = {p.name for p in out.iterdir()}
    assert {
        "config.json",
        "model.safetensors",
        "generation_config.json",
        "vlmr1.json",
        "vlmr1_recipe.yaml",
        "README.md",
    } | PROCESSOR_FILES <= names
    assert not names & TRAINER_FILES and "eval-shapes" not in names
    # The weights are checkpoint-10's, not checkpoint-2's.
    got = load_file(out / "model.safetensors")
    want = load_file(full_run / "checkpoint-10" / "model.safetensors")
    assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in got)
    assert json.loads((out / "vlmr1.json").read_text()) == json.loads(
        (full_run / "checkpoint-10" / "vlmr1.json").read_text()
    )
    tok_cfg = json.loads((out / "tokenizer_config.json").read_text())
    assert "local_files_only" not in tok_cfg and "is_local" not in tok_cfg
    readme = (out / "README.md").read_text()
    assert "`checkpoint-10` of training run `full-run`" in readme
    assert (
        "From `checkpoint-10/eval-shapes/metrics.json`" in readme and "| acc | 0.7100 |" in readme
    )
    assert "generation_s" not in readme
    # It loads with from_pretrained, processor through the family, and runs.
    from vlmr1_cli.models.loading import load_model

    loaded = load_model(str(out))
    assert loaded.meta["frame"] == "qwen25_abs" and not loaded.is_adapter
    assert torch.isfinite(_logits(loaded.model, loaded.processor)).all()
    assert _leftovers(tmp_path) == []


def test_dtype_and_shards(full_run, tmp_path):
    out = tmp_path / "bf16"
    res = export_checkpoint(
        full_run / "checkpoint-2", out, dtype="bfloat16", max_shard_size="200KB"
    )
    assert res.source.label == "checkpoint-2" and res.dtype == "bfloat16"
    shards = sorted(p.name for p in out.glob("model-*.safetensors"))
    assert len(shards) > 1 and (out / "model.safetensors.index.json").is_file()
    assert max((out / s).stat().st_size for s in shards) < 400_000
    model = _load(out, dtype="auto")
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_lora_merge_equals_adapter_model(lora_run, tmp_path, dtype):
    from vlmr1_cli.models.loading import load_model

    out = tmp_path / f"merged-{dtype}"
    res = export_checkpoint(lora_run, out, merge_lora=True, dtype=dtype)
    assert res.weights == "LoRA adapter merged into the base"
    assert [c.dtype for c in res.checks] == (
        ["float32"] if dtype == "float32" else ["float32", dtype]
    )
    assert all(c.passed for c in res.checks)
    names = {p.name for p in out.iterdir()}
    assert "config.json" in names and "adapter_config.json" not in names
    assert not any("lora_" in k for k in json.dumps(json.loads((out / "config.json").read_text())))
    # Independent of the exporter's own check: the exported model answers like the adapter.
    adapter = load_model(str(lora_run), dtype="float32")
    merged = load_model(str(out), dtype="float32")
    ref = _logits(adapter.model, adapter.processor)
    with adapter.model.disable_adapter():
        base = _logits(adapter.model, adapter.processor)
    got = _logits(merged.model, merged.processor)
    scale = ref.abs().max()
    assert (ref - base).abs().max() / scale > 0.1  # the adapter matters ...
    assert (got - ref).abs().max() / scale < (1e-4 if dtype == "float32" else 5e-2)  # ... and is in
    readme = (out / "README.md").read_text()
    assert "## Merge check" in readme and "From `metrics.json`" in readme


def _drop_adapter(peft_model):
    return peft_model.unload()  # the adapter's weights are thrown away, not merged


def _merge_then_damage(peft_model):
    model = REAL_MERGE(peft_model)
    with torch.no_grad():
        name, weight = next(
            (n, p) for n, p in model.named_parameters() if n.endswith("o_proj.weight")
        )
        weight.mul_(1.5)
    return model


@pytest.mark.parametrize("corrupt", [_drop_adapter, _merge_then_damage])
def test_corrupted_merge_is_caught_and_nothing_written(lora_run, tmp_path, monkeypatch, corrupt):
    monkeypatch.setattr(merge, "merge_adapter", corrupt)
    out = tmp_path / "bad"
    with pytest.raises(UserError, match=r"merge check failed: the merged model \(float32\)"):
        export_checkpoint(lora_run, out, merge_lora=True, dtype="bfloat16")
    assert not out.exists() and _leftovers(tmp_path) == []


def test_lora_checkpoint_exported_as_adapter(lora_run, tmp_path):
    from vlmr1_cli.models.loading import load_model

    out = tmp_path / "adapter"
    res = export_checkpoint(lora_run / "checkpoint-4", out)
    assert res.weights == "LoRA adapter" and res.source.label == "checkpoint-4"
    names = {p.name for p in out.iterdir()}
    assert {
        "adapter_config.json",
        "adapter_model.safetensors",
        "vlmr1.json",
        "README.md",
    } | PROCESSOR_FILES <= names
    assert not names & TRAINER_FILES
    assert any("--merge-lora" in n for n in res.notes)
    loaded = load_model(str(out))
    assert loaded.is_adapter
    assert "PeftModel.from_pretrained" in (out / "README.md").read_text()


def test_output_rules(full_run, tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(UserError, match="--overwrite"):
        export_checkpoint(full_run, out)
    assert (out / "keep.txt").is_file()
    with pytest.raises(UserError, match="would overwrite the training output"):
        export_checkpoint(full_run, full_run / "checkpoint-10")
    with pytest.raises(UserError, match="--dtype"):
        export_checkpoint(full_run, tmp_path / "x", dtype="int8")
    with pytest.raises(UserError, match="--max-shard-size"):
        export_checkpoint(full_run, tmp_path / "x", max_shard_size="5 gigs")
    export_checkpoint(full_run, out, overwrite=True)
    assert not (out / "keep.txt").exists() and (out / "model.safetensors").is_file()
    assert _leftovers(tmp_path) == []


def test_merge_flag_on_full_model_is_noted(full_run, tmp_path):
    res = export_checkpoint(full_run, tmp_path / "o", merge_lora=True)
    assert res.weights == "full model" and res.checks == []
    assert any("nothing to merge" in n for n in res.notes)


def test_video_processor_settings_survive_an_image_only_processor(full_run, tmp_path):
    """Checkpoints saved where torchvision works carry video-processor settings; an export
    made without torchvision keeps them, so the stock processor still loads the export."""
    import shutil

    run = tmp_path / "gpu-run"
    shutil.copytree(full_run / "checkpoint-2", run)
    video = {"video_processor_type": "Qwen2VLVideoProcessor", "patch_size": 14, "merge_size": 2}
    cfg = json.loads((run / "processor_config.json").read_text())
    (run / "processor_config.json").write_text(json.dumps({**cfg, "video_processor": video}))
    (run / "video_preprocessor_config.json").write_text(json.dumps(video))
    out = tmp_path / "o"
    export_checkpoint(run, out)
    assert json.loads((out / "processor_config.json").read_text())["video_processor"] == video
    assert json.loads((out / "video_preprocessor_config.json").read_text()) == video
    from vlmr1_cli.models.loading import load_model

    assert load_model(str(out)).processor is not None

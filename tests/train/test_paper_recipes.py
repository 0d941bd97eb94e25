"""The shipped paper recipes start as shipped: `vlmr1 train-grpo|train-sft -r RECIPE` with only
the model (a tiny preset), the data paths, the step count and the completion length changed
(bf16, batch sizes, G=8, temperature, beta, loss, rewards: all as shipped)."""

from __future__ import annotations

import json

import pytest

RECIPES = {
    "rec_refcoco.yaml": ("train-grpo", ("rec",)),
    "ovd_d3.yaml": ("train-grpo", ("ovd",)),
    "rec_refcoco_lora.yaml": ("train-grpo", ("rec",)),
    "ovd_d3_lora.yaml": ("train-grpo", ("ovd",)),
    "sft_rec_refcoco.yaml": ("train-sft", ("rec",)),
    "sft_ovd_d3.yaml": ("train-sft", ("ovd",)),
}


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_paper_recipe_starts_with_a_tiny_model(
    name, run_cli, mixed_data, data_override_fn, tmp_path
):
    command, tasks = RECIPES[name]
    out = tmp_path / "run"
    code, stdout, stderr = run_cli(
        command,
        "-r",
        name.removesuffix(".yaml"),  # the packaged recipe, by name
        "--set",
        "max_steps=1",
        "--set",
        "model.path=preset:tiny-qwen2.5-vl",
        "--set",
        data_override_fn(mixed_data, *tasks),
        "--set",
        f"output_dir={out}",
        "--set",
        "max_completion_length=8" if command == "train-grpo" else "max_length=null",
        "--set",
        "report_to=none",
        "--set",
        "save_strategy=no",
    )
    assert code == 0, stderr[-2000:]
    assert "global_step" in stdout
    meta = json.loads((out / "vlmr1.json").read_text())
    assert meta["frame"] == "qwen25_abs" and meta["method"] == command.split("-")[1]
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert log[0]["step"] == 1
    if command == "train-grpo":
        assert all(
            f"rewards/{r}/mean" in log[0]
            for r in (
                ("rec_iou", "rec_format")
                if tasks == ("rec",)
                else ("od_length", "ovd_format_strict")
            )
        )
        assert ("kl" in log[0]) == name.startswith(
            "rec"
        )  # beta 0.04 for REC (LoRA: adapter off), 0 for OVD
    weights = "adapter_model.safetensors" if "lora" in name else "model.safetensors"
    assert (out / weights).is_file()

"""The packaged InternVL recipe starts as shipped (paper settings, bf16, G = 8, its frame check)
with only the model swapped for the tiny InternVL preset, and refuses a model of another frame."""

from __future__ import annotations

import json


def _run(run_cli, mixed_data, data_override_fn, out, model):
    return run_cli(
        "train-grpo",
        "-r",
        "rec_refcoco_internvl",
        "--set",
        "max_steps=1",
        "--set",
        f"model.path={model}",
        "--set",
        data_override_fn(mixed_data, "rec"),
        "--set",
        f"output_dir={out}",
        "--set",
        "max_completion_length=8",
        "--set",
        "report_to=none",
        "--set",
        "save_strategy=no",
    )


def test_internvl_recipe_starts_with_the_tiny_internvl(
    run_cli, mixed_data, data_override_fn, tmp_path
):
    out = tmp_path / "run"
    code, stdout, stderr = _run(run_cli, mixed_data, data_override_fn, out, "preset:tiny-internvl")
    assert code == 0, stderr[-2000:]
    meta = json.loads((out / "vlmr1.json").read_text())
    assert (meta["family"], meta["frame"], meta["method"]) == ("internvl", "rel1000", "grpo")
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert log[0]["step"] == 1 and "kl" in log[0]  # the paper's beta 0.04, from rec_refcoco
    assert all(f"rewards/{r}/mean" in log[0] for r in ("rec_iou", "rec_format"))
    assert (out / "model.safetensors").is_file()


def test_internvl_recipe_refuses_a_model_of_another_family(
    run_cli, mixed_data, data_override_fn, tmp_path
):
    code, _, stderr = _run(
        run_cli, mixed_data, data_override_fn, tmp_path / "run", "preset:tiny-qwen2.5-vl"
    )
    assert code == 1
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines[-1].startswith(
        "error: recipe: key 'model.family': the recipe is written for 'internvl'"
    )

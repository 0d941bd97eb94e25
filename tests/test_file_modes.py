"""Every file and folder a command writes follows the umask: 0644/0755 under umask 022, so a
team's shared folder can read the outputs, and 0600/0700 under 077 (honoured, not overridden).

Each command runs in a subprocess whose umask is set before it starts, as a user's shell would.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest


def run_vlmr1(umask: int, *args) -> subprocess.CompletedProcess:
    env = {**os.environ, "VLMR1_NO_PROGRESS": "1", "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-m", "vlmr1_cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        preexec_fn=lambda: os.umask(umask),
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return out


def modes(folder: Path) -> dict[str, int]:
    """Permission bits of `folder` itself ('.') and of everything under it (links not followed)."""
    found = {".": stat.S_IMODE(folder.lstat().st_mode)}
    for path in folder.rglob("*"):
        st = path.lstat()
        assert not stat.S_ISLNK(st.st_mode), f"{path}: the command wrote a symlink"
        found[path.relative_to(folder).as_posix()] = stat.S_IMODE(st.st_mode)
    return found


def assert_modes(folder: Path, file_mode: int, dir_mode: int) -> dict[str, int]:
    found = modes(folder)
    wrong = {
        name: oct(mode)
        for name, mode in found.items()
        if mode != (dir_mode if (folder / name).is_dir() else file_mode)
    }
    assert not wrong, f"want files {oct(file_mode)}, folders {oct(dir_mode)}; got {wrong}"
    return found


def assert_shared(folder: Path) -> dict[str, int]:
    return assert_modes(folder, 0o644, 0o755)


COCO_INSTANCES = {
    "images": [{"id": 1, "file_name": "a.jpg", "width": 64, "height": 48}],
    "annotations": [
        {
            "id": 1,
            "image_id": 1,
            "category_id": 1,
            "bbox": [4, 6, 20, 18],
            "area": 360,
            "iscrowd": 0,
        }
    ],
    "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}],
}


def test_prepare_data_and_scoring_outputs_are_shared(tmp_path):
    shapes = tmp_path / "shapes"
    run_vlmr1(0o022, "prepare-data", "shapes", "-o", shapes, "--train", 4, "--eval", 2, "--ood", 2)
    found = assert_shared(shapes)
    assert {"train.jsonl", "eval.jsonl", "images"} <= set(found)
    assert any(name.endswith(".png") for name in found)

    instances = tmp_path / "instances.json"
    instances.write_text(json.dumps(COCO_INSTANCES), encoding="utf-8")
    coco = tmp_path / "coco"
    run_vlmr1(0o022, "prepare-data", "coco", "--instances", instances, "-o", coco / "c.jsonl")
    assert {"c.jsonl", "c_gt.json", "c.meta.json"} <= set(assert_shared(coco))

    results = tmp_path / "results.json"
    results.write_text(
        json.dumps([{"image_id": 1, "category_id": 1, "bbox": [4, 6, 20, 18], "score": 0.9}]),
        encoding="utf-8",
    )
    scores = tmp_path / "scores"
    run_vlmr1(
        0o022,
        "evaluate",
        "--gt",
        coco / "c_gt.json",
        "--results",
        results,
        "--metric",
        "coco",
        "--output",
        scores,
    )
    assert set(assert_shared(scores)) == {".", "metrics.json"}


def test_a_private_umask_is_honoured(tmp_path):
    shapes = tmp_path / "shapes"
    run_vlmr1(0o077, "prepare-data", "shapes", "-o", shapes, "--train", 4, "--eval", 2, "--ood", 2)
    found = assert_modes(shapes, 0o600, 0o700)
    assert "train.jsonl" in found and any(name.endswith(".png") for name in found)


def test_init_model_weights_are_shared(tmp_path):
    # safetensors writes its files 0600 whatever the umask; the saved folder must not
    model = tmp_path / "model"
    run_vlmr1(0o022, "init-model", "-o", model)
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= set(assert_shared(model))


TINY_GRPO_RECIPE = """\
method: grpo
model: {{path: '{model}', dtype: float32}}
data:
  train: [{{path: '{data}/train.jsonl', image_root: '{data}'}}]
prompt:
  templates: {{rec: 'Locate {{problem}}. Answer as <answer>[x1, y1, x2, y2]</answer>.'}}
rewards:
  rec: [{{name: rec_iou, weight: 1.0}}, {{name: rec_format, weight: 1.0}}]
training: {{bf16: false, seed: 0}}
"""


@pytest.mark.slow
def test_training_evaluation_and_export_outputs_are_shared(
    tmp_path, tiny_model, shapes_data, grpo_settings
):
    recipe = tmp_path / "grpo.yaml"
    recipe.write_text(TINY_GRPO_RECIPE.format(model=tiny_model, data=shapes_data), encoding="utf-8")
    train_out = tmp_path / "grpo"
    sets = grpo_settings(
        train_out,
        **{"training.max_steps": 1, "training.save_strategy": "steps", "training.save_steps": 1},
    )
    run_vlmr1(0o022, "train-grpo", "--recipe", recipe, *[arg for s in sets for arg in ("--set", s)])
    found = assert_shared(train_out)
    assert {
        "vlmr1.json",
        "vlmr1_recipe.yaml",
        "train_log.jsonl",
        "samples.jsonl",
        "training_curves.png",
        "model.safetensors",
        "training_args.bin",
        "checkpoint-1/model.safetensors",
        "checkpoint-1/vlmr1.json",
    } <= set(found)

    eval_out = tmp_path / "eval"
    run_vlmr1(
        0o022,
        "evaluate",
        "-m",
        train_out,
        "-d",
        shapes_data / "eval.jsonl",
        "-o",
        eval_out,
        "--max-samples",
        2,
        "--max-new-tokens",
        8,
        "--visualize",
        1,
        "--device",
        "cpu",
    )
    found = assert_shared(eval_out)
    assert {"predictions.jsonl", "metrics.json"} <= set(found)
    assert any(name.endswith(".png") for name in found)  # the --visualize pictures

    export_out = tmp_path / "export"
    run_vlmr1(0o022, "export", "--model", train_out, "-o", export_out)
    assert {
        "model.safetensors",
        "config.json",
        "vlmr1.json",
        "vlmr1_recipe.yaml",
        "README.md",
    } <= set(assert_shared(export_out))


@pytest.mark.parametrize("proc_readable", [True, False])
def test_the_umask_is_read_without_changing_it(monkeypatch, proc_readable):
    import vlmr1_cli.io as io_module

    if not proc_readable:  # other systems: the set-and-restore fallback

        def no_proc(*args, **kwargs):
            raise OSError("no /proc here")

        monkeypatch.setattr(io_module, "open", no_proc, raising=False)
    old = os.umask(0o027)
    try:
        assert io_module.current_umask() == 0o027
        assert io_module.shared_file_mode() == 0o640 and io_module.shared_dir_mode() == 0o750
        assert os.umask(0o027) == 0o027  # still the process's umask afterwards
    finally:
        os.umask(old)

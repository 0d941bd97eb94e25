"""README's "Quick start with a real model", run line by line as a user would paste it.

The Hub is the local double (tests/hub_double.py): it serves the tiny Qwen2.5-VL preset under
the real model's id and a tiny RefCOCO in lmms-eval's parquet layout, and receives the push.
The refer toolkit's files are the fixtures the refcoco importer is tested with. Only the
training line gets CPU-sized `--set` overrides (the recipe is sized for 8 GPUs); every other
line runs exactly as written.
"""

from __future__ import annotations

import io
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.data.fixtures import make_image, refer_data, write_refer

ROOT = Path(__file__).resolve().parents[1]
VLMR1 = str(Path(sys.executable).with_name("vlmr1"))
MODEL_ID = "Qwen/Qwen2.5-VL-3B-Instruct"
REPO_ID = "my-org/qwen2.5-vl-3b-rec-grpo"

# The recipe's 8-GPU sizes, bf16 and 2 epochs, brought to one CPU step of a tiny model.
CPU_TRAINING = [
    "max_steps=1",
    "per_device_train_batch_size=4",
    "num_generations=4",
    "gradient_accumulation_steps=1",
    "max_completion_length=12",
    "bf16=false",
    "model.dtype=float32",
    "activation_checkpointing=false",
    "report_to=none",
    "save_strategy=no",
    "dataloader_num_workers=0",
]


def quickstart_lines() -> list[str]:
    """The commands of the README's quick-start block, comments stripped."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Quick start with a real model", 1)[1].split("\n## ", 1)[0]
    block = section.split("```\n", 1)[1].split("```", 1)[0]
    return [line.split("  #", 1)[0].strip() for line in block.splitlines() if line.strip()]


def lmms_refcoco_files() -> dict[str, bytes]:
    """lmms-lab/RefCOCO's layout (its dataset card's features), two val rows."""
    import datasets
    from PIL import Image

    def png(w: int, h: int) -> dict:
        buf = io.BytesIO()
        Image.new("RGB", (w, h), (90, 120, 200)).save(buf, format="PNG")
        return {"bytes": buf.getvalue(), "path": None}

    features = datasets.Features(
        {
            "question_id": datasets.Value("string"),
            "image": datasets.Image(),
            "question": datasets.Value("string"),
            "answer": datasets.Sequence(datasets.Value("string")),
            "segmentation": datasets.Sequence(datasets.Value("float32")),
            "bbox": datasets.Sequence(datasets.Value("float32")),
            "iscrowd": datasets.Value("int8"),
            "file_name": datasets.Value("string"),
        }
    )
    rows = [
        {
            "question_id": "q1",
            "image": png(64, 48),
            "question": "Describe the region.",
            "answer": ["left block", "the block on the left"],
            "segmentation": [],
            "bbox": [4.0, 6.0, 20.0, 16.0],
            "iscrowd": 0,
            "file_name": "COCO_val2014_1.jpg",
        },
        {
            "question_id": "q2",
            "image": png(80, 60),
            "question": "Describe the region.",
            "answer": ["top right square"],
            "segmentation": [],
            "bbox": [50.0, 2.0, 24.0, 20.0],
            "iscrowd": 0,
            "file_name": "COCO_val2014_2.jpg",
        },
    ]
    buf = io.BytesIO()
    datasets.Dataset.from_list(rows, features=features).to_parquet(buf)
    card = (
        "---\nconfigs:\n- config_name: default\n  data_files:\n  - split: val\n"
        "    path: data/val-*\n---\n"
    )
    return {"README.md": card.encode(), "data/val-00000-of-00001.parquet": buf.getvalue()}


@pytest.mark.slow
def test_readme_quickstart_runs_against_the_hub_double(hub, tiny_model, tmp_path):
    hub.add_folder(MODEL_ID, tiny_model)
    hub.add_repo("lmms-lab/RefCOCO", lmms_refcoco_files(), repo_type="dataset")
    work = tmp_path / "work"
    write_refer(work / "refer" / "data")
    for image in refer_data()["images"]:
        make_image(
            work / "data" / "coco" / "train2014" / image["file_name"],
            image["width"],
            image["height"],
        )
    env_token = {"HF_TOKEN": hub.token}

    lines = quickstart_lines()
    assert any(line.startswith("vlmr1 train-grpo -r rec_refcoco") for line in lines)
    ran = []
    for line in lines:
        argv = shlex.split(line)
        if argv[0] != "vlmr1":  # pip install: tests/test_wheel_install.py; hf auth login: HF_TOKEN
            continue
        if argv[1] == "train-grpo":
            argv += [arg for item in CPU_TRAINING for arg in ("--set", item)]
        done = subprocess.run(
            [VLMR1, *argv[1:]],
            cwd=work,
            capture_output=True,
            text=True,
            env={**os.environ, **env_token},
            timeout=600,
        )
        assert done.returncode == 0, f"{line}\n{done.stderr[-3000:]}"
        assert "Traceback" not in done.stderr
        assert hub.token not in done.stdout + done.stderr
        ran.append(argv[1])
    assert ran == [
        "recipes",
        "prepare-data",
        "prepare-data",
        "evaluate",
        "train-grpo",
        "evaluate",
        "export",
        "push",
    ]

    # The data is what the sources hold: one record per training sentence and per expression.
    val = [json.loads(x) for x in (work / "data/refcoco_val.jsonl").read_text().splitlines()]
    assert [r["problem"] for r in val] == [
        "left block",
        "the block on the left",
        "top right square",
    ]
    assert val[0]["solution"] == [4.0, 6.0, 24.0, 22.0]
    train = (work / "data/refcoco/refcoco_train.jsonl").read_text().splitlines()
    assert len(train) == 2
    # The model came from the Hub once, and only its own files.
    fetched = hub.downloaded(MODEL_ID)
    assert "model.safetensors" in fetched and "config.json" in fetched
    assert len(fetched) == len(set(fetched))
    # Evaluation of the trained run, and the published model: exactly the exported files.
    metrics = json.loads((work / "runs/rec_refcoco/eval-refcoco_val/metrics.json").read_text())
    assert metrics["n"] == 3 and 0.0 <= metrics["acc"] <= 1.0
    exported = {
        p.relative_to(work / "out/model").as_posix()
        for p in (work / "out/model").rglob("*")
        if p.is_file()
    }
    on_hub = set(hub.files(REPO_ID)) - {".gitattributes"}
    assert on_hub == exported

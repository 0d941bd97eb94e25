"""Fixture data for every evaluation task, a LoRA adapter of the tiny model, and a scripted
generator whose completions are known, so scoring paths are checked exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vlmr1_cli.data.ovdeval import SUBSETS

SIZES = [(64, 48), (80, 60), (56, 72)]
CATS = ["cat", "dog", "red car"]


def _image(folder: Path, name: str, size: tuple[int, int], boxes: list) -> str:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", size, (235, 235, 235))
    draw = ImageDraw.Draw(img)
    colors = [(200, 40, 40), (40, 40, 200), (40, 160, 40)]
    for i, (x1, y1, x2, y2) in enumerate(boxes):
        color = colors[i % 3]
        draw.rectangle((x1, y1, x2 - 1, y2 - 1), fill=color)
    (folder / "images").mkdir(exist_ok=True)
    img.save(folder / "images" / name)
    return f"images/{name}"


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def make_ovd(
    folder: Path,
    source: str,
    n_images: int = 3,
    subset: str | None = None,
    first_id: int = 1,
    tag: str = "",
) -> tuple[list[dict], dict]:
    """OVD records with a COCO GT file (ids from `first_id`; OVDEval's start at 0)."""
    cat_ids = {name: first_id + 2 * i for i, name in enumerate(CATS)}  # non-contiguous ids
    gt = {
        "images": [],
        "annotations": [],
        "categories": [{"id": cid, "name": name} for name, cid in cat_ids.items()],
    }
    records = []
    gt_name = f"{tag or source}_gt.json"
    for i in range(n_images):
        w, h = SIZES[i % len(SIZES)]
        image_id = first_id + i
        objs = [([4 + i, 5, 24 + i, 30], CATS[i % 3]), ([30, 8 + i, 50, 40], CATS[(i + 1) % 3])]
        rel = _image(folder, f"{tag or source}_{i}.png", (w, h), [b for b, _ in objs])
        gt["images"].append({"id": image_id, "file_name": rel, "width": w, "height": h})
        for box, label in objs:
            x1, y1, x2, y2 = box
            gt["annotations"].append(
                {
                    "id": first_id + len(gt["annotations"]),
                    "image_id": image_id,
                    "category_id": cat_ids[label],
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "area": (x2 - x1) * (y2 - y1),
                    "iscrowd": 0,
                }
            )
        rec = {
            "id": f"{tag or source}-{i}",
            "task": "ovd",
            "images": [rel],
            "image_sizes": [[w, h]],
            "problem": "",
            "solution": [{"bbox_2d": [float(v) for v in b], "label": lab} for b, lab in objs],
            "labels": list(CATS),
            "source": source,
            "image_id": image_id,
            "gt_file": gt_name,
        }
        if subset:
            rec["subset"] = subset
        records.append(rec)
    (folder / gt_name).write_text(json.dumps(gt), encoding="utf-8")
    return records, gt


@pytest.fixture(scope="session")
def eval_data(tmp_path_factory) -> dict[str, Path]:
    """One JSONL per task: rec (two splits), coco, ovdeval (8 subsets), d3, generic ovd."""
    folder = tmp_path_factory.mktemp("evaldata")
    rec = []
    for i in range(6):
        w, h = SIZES[i % 3]
        box = [6 + i, 6, 30 + i, 34]
        rel = _image(folder, f"rec_{i}.png", (w, h), [box])
        rec.append(
            {
                "id": f"r{i}",
                "task": "rec",
                "images": [rel],
                "image_sizes": [[w, h]],
                "problem": f"the red box {i}",
                "solution": [float(v) for v in box],
                "source": "refcoco" if i < 4 else "lisa",
                "split": "val" if i < 4 else "test",
            }
        )
    files = {"rec": write_jsonl(folder / "rec.jsonl", rec)}
    coco, _ = make_ovd(folder, "coco")
    files["coco"] = write_jsonl(folder / "coco.jsonl", coco)
    d3, _ = make_ovd(folder, "d3", n_images=2)
    files["d3"] = write_jsonl(folder / "d3.jsonl", d3)
    ovd, _ = make_ovd(folder, "mine", n_images=2)
    for r in ovd:
        del r["gt_file"], r["image_id"]
    files["ovd"] = write_jsonl(folder / "ovd.jsonl", ovd)
    ovdeval = []
    for subset in SUBSETS:
        recs, _ = make_ovd(
            folder, "ovdeval", n_images=1 + len(subset) % 2, subset=subset, first_id=0, tag=subset
        )
        ovdeval += recs
    files["ovdeval"] = write_jsonl(folder / "ovdeval.jsonl", ovdeval)
    return files


@pytest.fixture(scope="session")
def lora_adapter(tiny_model, tmp_path_factory) -> Path:
    """A LoRA adapter on the tiny model with non-zero weights (its outputs differ from the
    base's), saved the way training saves one, with a vlmr1.json naming a custom prompt."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText

    torch.manual_seed(0)
    base = AutoModelForImageTextToText.from_pretrained(tiny_model, local_files_only=True)
    cfg = LoraConfig(
        r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False
    )
    model = get_peft_model(base, cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 2.0)
    out = tmp_path_factory.mktemp("adapter") / "lora"
    model.save_pretrained(out)
    meta = {
        "family": "qwen2_5_vl",
        "prompt": {"system": None, "templates": {"rec": "Find: {problem}"}},
    }
    (out / "vlmr1.json").write_text(json.dumps(meta), encoding="utf-8")
    return out


class ScriptedGenerator:
    """Stands in for the model: answers each row with `answer(row)`."""

    name = "scripted"

    def __init__(self, answer):
        self.answer = answer
        self.calls: list[list[str]] = []

    def generate(self, rows: list[dict]) -> list[str]:
        self.calls.append([r["id"] for r in rows])
        return [self.answer(r) for r in rows]


@pytest.fixture
def scripted(monkeypatch):
    """Replace model loading in the runner with a scripted generator; returns a setter."""
    import vlmr1_cli.evaluate.runner as runner

    holder = {}

    def install(answer) -> ScriptedGenerator:
        gen = ScriptedGenerator(answer)
        holder["gen"] = gen
        monkeypatch.setattr(runner, "make_generator", lambda plan, device: gen)
        return gen

    return install


def oracle_answer(row: dict) -> str:
    """The ground truth in the model's frame, written as the paper's answer format."""
    sol = json.loads(row["solution_json"])
    if row["task"] == "rec":
        return '<think>x</think> <answer>{"bbox_2d": ' + json.dumps(sol) + "}</answer>"
    if not sol:
        return "<answer>None</answer>"
    return "<think>x</think> <answer>```json\n" + json.dumps(sol) + "\n```</answer>"

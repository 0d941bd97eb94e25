"""Several JSONL files in one run: REC, OVD, text-only and multi-image samples with their
own rewards and mixing weights; the logs a run writes (per-reward and per-task metrics, the
OVD box-count ratio, sample completions, TensorBoard, the PNG of the curves)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vlmr1_cli.data.dataset import build_dataset
from vlmr1_cli.data.loader import interleave, weighted_take
from vlmr1_cli.errors import UserError
from vlmr1_cli.models.base import PixelLimits
from vlmr1_cli.models.qwen2_5_vl import Qwen25VL
from vlmr1_cli.recipes.loading import load_recipe
from vlmr1_cli.recipes.schema import DEFAULTS

HERE = Path(__file__).resolve().parent
LIMITS = PixelLimits(56 * 56, 112 * 112, 28)


def test_weights_set_each_source_share_and_mix_evenly():
    rows = [{"i": i} for i in range(10)]
    assert weighted_take(rows, 1.0, 0) == rows
    assert weighted_take(rows, 2.0, 0) == rows + rows
    half = weighted_take(rows, 0.5, 0)
    assert (
        len(half) == 5
        and half == weighted_take(rows, 0.5, 0)
        and half != weighted_take(rows, 0.5, 1)
    )
    assert len(weighted_take(rows, 1.5, 0)) == 15
    mixed = interleave([[("a", i) for i in range(4)], [("b", i) for i in range(2)]])
    assert [m[0] for m in mixed] == ["a", "b", "a", "a", "b", "a"]
    assert [m for m in mixed if m[0] == "a"] == [
        ("a", i) for i in range(4)
    ]  # each source keeps its order


def test_dataset_mixes_tasks_text_only_and_multi_image(mixed_data):
    fam = Qwen25VL()
    sources = [
        {"path": str(mixed_data / f"{n}.jsonl"), "image_root": str(mixed_data), "weight": w}
        for n, w in (("rec", 1.0), ("ovd", 0.5), ("text", 1.0), ("multi", 2.0))
    ]
    ds = build_dataset(sources, fam, LIMITS, DEFAULTS["prompt"], seed=0)
    tasks = [r["task"] for r in ds.with_format(None)]
    assert len(ds) == 8 + 4 + 8 + 16 and tasks.count("ovd") == 4 and tasks.count("text") == 8
    rows = {r["id"]: r for r in ds}
    assert rows["t0"]["images"] == [] and rows["t0"]["solution"] == "1"
    multi = rows["m0"]
    assert len(multi["images"]) == 2 and multi["box_image"] == 1
    # the boxes refer to the second image: converted with its size, not the first one's
    (w, h), (iw, ih) = multi["image_sizes"][1], multi["input_sizes"][1]
    assert multi["images"][1].size == (iw, ih)
    assert multi["solution"] == pytest.approx([4 * iw / w, 4 * ih / h, 25 * iw / w, 21 * ih / h])
    assert rows["r0"]["extra"] == {"source": "synthetic"}  # other record keys reach the rewards
    ovd = [r for r in rows.values() if r["task"] == "ovd"]
    assert all(r["labels"] == ["blue circle", "green star", "red square"] for r in ovd)
    assert all(
        (r["solution"] == []) == (r["id"] in ("o0", "o4")) for r in ovd
    )  # negatives-only images


def test_box_image_out_of_range_is_named(tmp_path, mixed_data):
    rec = json.loads((mixed_data / "multi.jsonl").read_text().splitlines()[0])
    rec["box_image"] = 2
    f = tmp_path / "bad.jsonl"
    f.write_text(json.dumps(rec) + "\n")
    from vlmr1_cli.data.loader import load_records

    with pytest.raises(UserError, match=r"bad.jsonl:1: key 'box_image'"):
        load_records(f, mixed_data)


def test_rec_ovd_text_and_multi_image_train_together(
    tiny_model, mixed_data, data_override_fn, grpo_settings, tmp_path, monkeypatch
):
    from vlmr1_cli.train.run import train

    monkeypatch.syspath_prepend(str(HERE))
    out = tmp_path / "mixed"
    settings = grpo_settings(
        out,
        **{
            "training.max_steps": 3,
            "training.per_device_train_batch_size": 8,
            "training.report_to": "null",
        },
    )  # null: the default, TensorBoard
    recipe = load_recipe(
        "demo_shapes_grpo",
        [
            f"model.path={tiny_model}",
            data_override_fn(mixed_data, "rec", "ovd", "text", "multi"),
            "rewards={rec: [rec_iou, rec_format], ovd: [od_length, ovd_format], "
            "text: [{name: 'text_rewards:contains_answer', weight: 0.5}]}",
            "training.shuffle_dataset=false",  # 2 prompts per step, always of two different tasks
            *settings,
        ],
    )
    summary = train(recipe)
    assert summary["global_step"] == 3
    logs = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    keys = set().union(*logs)
    for task, names in (
        ("rec", ("rec_iou", "rec_format")),
        ("ovd", ("od_length", "ovd_format")),
        ("text", ("contains_answer",)),
    ):
        for name in names:
            assert f"rewards/{task}/{name}/mean" in keys and f"rewards/{task}/{name}/std" in keys
    assert {
        "reward",
        "reward_std",
        "completions/mean_length",
        "completions/clipped_ratio",
        "clip_ratio/region_mean",
        "ovd/pred_to_gt_boxes",
    } <= keys
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert {s["task"] for s in samples} >= {"rec", "ovd", "text"}
    assert all(
        s["rewards"] and all(k.startswith(s["task"] + "/") for k in s["rewards"]) for s in samples
    )
    assert sorted({s["step"] for s in samples}) == [1, 2, 3]
    assert list(out.glob("runs/*/events.out.tfevents.*")), "TensorBoard is the default logger"
    png = out / "training_curves.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    meta = json.loads((out / "vlmr1.json").read_text())
    assert meta["tasks"] == ["ovd", "rec", "text"]


def test_sft_on_mixed_tasks(tiny_model, mixed_data, data_override_fn, tmp_path):
    from vlmr1_cli.train.run import train

    out = tmp_path / "sft"
    recipe = load_recipe(
        "demo_shapes_sft",
        [
            f"model.path={tiny_model}",
            data_override_fn(mixed_data, "rec", "ovd", "text", "multi"),
            f"training.output_dir={out}",
            "max_steps=2",
            "per_device_train_batch_size=4",
            "logging_steps=1",
        ],
    )
    summary = train(recipe)
    assert summary["global_step"] == 2 and summary["train_loss"] > 0

"""Every model family through its tiny preset: reload, pixel limits, frame round trip, the
processor's real input size, a real GRPO step followed by an evaluation whose boxes come
back in original pixels, and an SFT step whose run exports to a model folder that loads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vlmr1_cli.models.base import PixelLimits
from vlmr1_cli.models.registry import (
    families,
    family_by_name,
    family_for_model_type,
    family_for_path,
)
from vlmr1_cli.parsing import parse_boxes

# preset -> (family, pixel limits the preset's processor must report)
PRESET_FAMILIES = {
    "tiny-qwen2-vl": ("qwen2_vl", PixelLimits(56 * 56, 112 * 112, 28)),
    "tiny-qwen3-vl": ("qwen3_vl", PixelLimits(64 * 64, 128 * 128, 32)),
    "tiny-idefics3": ("idefics3", PixelLimits(32 * 32, 64 * 64, 32, longest_edge=64)),
    "tiny-smolvlm2": ("smolvlm", PixelLimits(32 * 32, 64 * 64, 32, longest_edge=64)),
    "tiny-internvl": ("internvl", PixelLimits(32 * 32, 4 * 32 * 32, 32)),
}
PRESETS = list(PRESET_FAMILIES)
SIZES = [(640, 480), (427, 640), (98, 70), (30, 20), (4000, 3000), (133, 91)]
RELATIVE = ["qwen2_vl", "qwen3_vl", "idefics3", "smolvlm", "internvl"]
TILING = ["idefics3", "smolvlm"]  # Idefics3's tiling processor (SmolVLM2 inherits it)


@pytest.fixture(scope="session")
def family_model(tmp_path_factory):
    """`family_model(preset)`: the preset's saved folder, built once per session."""
    from vlmr1_cli.models.presets import build_preset

    root = tmp_path_factory.mktemp("family-models")
    built: dict[str, Path] = {}

    def get(preset: str) -> Path:
        if preset not in built:
            built[preset] = build_preset(preset, root / preset)
        return built[preset]

    return get


# ----------------------------------------------------------------------------- registry


def test_registry_serves_every_family():
    names = set(families())
    assert {"qwen2_5_vl", "qwen2_vl", "qwen3_vl", "idefics3", "smolvlm", "internvl"} <= names
    for model_type in ("qwen2_vl", "qwen3_vl", "idefics3", "smolvlm", "internvl"):
        assert family_for_model_type(model_type).name == model_type


# ----------------------------------------------------------------------------- frames


@pytest.mark.parametrize("name", RELATIVE)
@pytest.mark.parametrize("size", SIZES)
def test_relative_frame_round_trip(name, size):
    fam = family_by_name(name)
    assert fam.frame_name == "rel1000"
    w, h = size
    box = (w * 0.1, h * 0.2, w * 0.7, h * 0.9)
    # InternVL's limits count tiles (at most 64): its Hub setting, 1-12 tiles of 448 px, stands
    # in for Qwen's 12.8 M px at factor 28, which would be 16,384 tiles of 28 px.
    first = (
        PixelLimits(448 * 448, 12 * 448 * 448, 448)
        if name == "internvl"
        else PixelLimits(3136, 12845056, 28)
    )
    for limits in (
        first,
        PixelLimits(64 * 64, 128 * 128, 32),
        PixelLimits(1024, 4096, 32, longest_edge=64),
    ):
        inp = fam.input_size(w, h, limits)
        there = fam.to_model_frame(box, size, inp)
        # 0-1000 of the original image, whatever the resize
        assert there == pytest.approx((100, 200, 700, 900))
        assert fam.from_model_frame(there, size, inp) == pytest.approx(box)
    assert fam.to_model_frame((0, 0, w, h), size, (1, 1)) == pytest.approx((0, 0, 1000, 1000))


@pytest.mark.parametrize("name", RELATIVE)
def test_predictions_outside_the_scale_are_not_clamped(name):
    fam = family_by_name(name)
    assert fam.from_model_frame((-10, 0, 1100, 500), (200, 100), (200, 100)) == pytest.approx(
        (-2, 0, 220, 50)
    )


def test_qwen3_rounds_to_multiples_of_32():
    fam = family_by_name("qwen3_vl")
    limits = PixelLimits(64 * 64, 16384 * 32 * 32, 32)
    for w, h in SIZES:
        iw, ih = fam.input_size(w, h, limits)
        assert iw % 32 == 0 and ih % 32 == 0
    assert fam.input_size(640, 480, limits) == (640, 480)
    assert family_by_name("qwen2_vl").input_size(640, 480, PixelLimits(3136, 12845056, 28)) == (
        644,
        476,
    )


@pytest.mark.parametrize("name", TILING)
def test_tiling_sizes_follow_the_tiling_rule(name):
    fam = family_by_name(name)
    limits = PixelLimits(364 * 364, 1456 * 1456, 364, longest_edge=1456)  # Idefics3-8B
    assert fam.input_size(640, 480, limits) == (1456, 1092)
    assert fam.tile_grid(640, 480, limits) == (3, 4)
    assert fam.input_size(480, 640, limits) == (1092, 1456)
    # no splitting (longest edge == tile): one square tile, no grid
    one = PixelLimits(364 * 364, 364 * 364, 364, longest_edge=364)
    assert fam.input_size(640, 480, one) == (364, 364) and fam.tile_grid(640, 480, one) == (0, 0)


def test_box_syntax_per_family():
    box = (12.4, 56.6, 400.0, 999.5)
    q2 = family_by_name("qwen2_vl")
    assert q2.box_text(box) == "<|box_start|>(12,57),(400,1000)<|box_end|>"
    text = f"<|object_ref_start|>the cat<|object_ref_end|>{q2.box_text(box)}"
    assert [(b.bbox, b.label) for b in parse_boxes(text)] == [((12, 57, 400, 1000), "the cat")]
    for name in ("qwen2_5_vl", "qwen3_vl", "idefics3", "smolvlm"):
        fam = family_by_name(name)
        assert fam.box_text(box) == "[12, 57, 400, 1000]"
        assert parse_boxes(f'<answer>{{"bbox_2d": {fam.box_text(box)}}}</answer>')[0].bbox == (
            12,
            57,
            400,
            1000,
        )
    internvl = family_by_name("internvl")  # InternVL's grounding syntax, as its docs write it
    assert internvl.box_text(box) == "<box>[[12, 57, 400, 1000]]</box>"
    text = f"<ref>the cat</ref>{internvl.box_text(box)}"
    assert [b.bbox for b in parse_boxes(text)] == [(12, 57, 400, 1000)]


def test_qwen2_native_box_survives_decoding(family_model):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(family_model("tiny-qwen2-vl"), local_files_only=True)
    text = family_by_name("qwen2_vl").box_text((10, 20, 300, 400))
    decoded = tok.decode(tok(text)["input_ids"], skip_special_tokens=True)
    assert [b.bbox for b in parse_boxes(decoded)] == [(10, 20, 300, 400)]


# ----------------------------------------------------------------------------- presets


@pytest.mark.parametrize("preset", PRESETS)
def test_preset_reloads_with_its_limits_and_module_names(preset, family_model):
    import torch
    from transformers import AutoModelForImageTextToText

    from vlmr1_cli.recipes.schema import FreezeSettings
    from vlmr1_cli.train.model_setup import apply_freezing

    path = family_model(preset)
    name, limits = PRESET_FAMILIES[preset]
    fam = family_for_path(path)
    assert fam.name == name
    proc = fam.load_processor(str(path))
    assert proc.tokenizer.padding_side == "left"
    assert fam.pixel_limits(proc) == limits
    # a recipe's override reaches the processor and reads back
    wider = PixelLimits(limits.min_pixels, limits.max_pixels * 4, limits.factor)
    got = fam.pixel_limits(fam.load_processor(str(path), wider))
    assert got.max_pixels == limits.max_pixels * 4 and got.factor == limits.factor

    model = AutoModelForImageTextToText.from_pretrained(path, local_files_only=True)
    names = [n for n, _ in model.named_parameters()]
    vision = {n for n in names if any(n.startswith(p + ".") for p in fam.vision_prefixes)}
    language = {n for n in names if any(n.startswith(p + ".") for p in fam.language_prefixes)}
    assert vision and language and not vision & language and vision | language == set(names)
    apply_freezing(model, fam, FreezeSettings(vision=True, language=False))
    assert {n for n, p in model.named_parameters() if not p.requires_grad} == vision

    from PIL import Image

    msgs = [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "the red circle"}]}
    ]
    text = proc.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
    inputs = proc(text=[text], images=[Image.new("RGB", (120, 90), "red")], return_tensors="pt")
    with torch.inference_mode():
        out = model.generate(**inputs, max_new_tokens=3, do_sample=False)
    assert out.shape[1] == inputs["input_ids"].shape[1] + 3


def _internvl_processed_size(proc, image):
    """(width, height) InternVL's processor resized `image` to before cutting it into tiles (its
    first resize), and the number of tiles it produced."""
    ip = proc.image_processor
    asked = []
    resize = ip.resize

    def spy(img, size, *args, **kwargs):
        asked.append((size.width, size.height))
        return resize(img, size, *args, **kwargs)

    ip.resize = spy
    try:
        inputs = proc(text=[proc.image_token], images=[image], return_tensors="pt")
    finally:
        del ip.resize
    return asked[0], inputs["pixel_values"].shape[0]


def _processed_size(fam, proc, image, limits):
    """(width, height) the processor really resized `image` to, and its token grid."""
    import torch

    if fam.name == "internvl":
        return _internvl_processed_size(proc, image)
    tiling = fam.name in TILING
    inputs = (
        proc.image_processor(images=[image], return_tensors="pt", return_row_col_info=True)
        if tiling
        else proc.image_processor(images=[image], return_tensors="pt")
    )
    if tiling:
        rows, cols = inputs["rows"][0][0], inputs["cols"][0][0]
        t = limits.factor
        mask = inputs["pixel_attention_mask"][0]
        assert mask.shape[-2:] == torch.Size([t, t])
        return (cols * t, rows * t) if rows else (t, t), (rows, cols)
    _, gh, gw = inputs["image_grid_thw"][0].tolist()
    patch = proc.image_processor.patch_size
    return (gw * patch, gh * patch), (gh, gw)


@pytest.mark.parametrize("preset", PRESETS)
def test_input_size_is_what_the_processor_produces(preset, family_model):
    """The loader pre-resizes to `input_size`; the processor must then see the same size, and
    resizing again must be a no-op (same grid for the original and the pre-resized image)."""
    from PIL import Image

    path = family_model(preset)
    fam = family_for_path(path)
    proc = fam.load_processor(str(path))
    limits = fam.pixel_limits(proc)
    for w, h in [(133, 91), (91, 133), (84, 140), (64, 64), (300, 40), (20, 30), (10, 50), (3, 5)]:
        inp = fam.input_size(w, h, limits)
        size, grid = _processed_size(fam, proc, Image.new("RGB", (w, h), "white"), limits)
        assert size == inp, (w, h)  # tiny sides too: scaled up as a whole, as the processor does
        size2, grid2 = _processed_size(fam, proc, Image.new("RGB", inp, "white"), limits)
        assert size2 == inp and grid2 == grid


def test_preset_is_deterministic(tmp_path):
    from safetensors.numpy import load_file

    from vlmr1_cli.models.presets import build_preset

    for preset in PRESETS:
        a = build_preset(preset, tmp_path / f"{preset}-a", seed=5)
        b = build_preset(preset, tmp_path / f"{preset}-b", seed=5)
        wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
        assert wa.keys() == wb.keys() and all((wa[k] == wb[k]).all() for k in wa)
        assert (a / "tokenizer.json").read_bytes() == (b / "tokenizer.json").read_bytes()


# ----------------------------------------------------------------------------- SmolVLM2


def test_smolvlm2_preset_is_a_smolvlm_checkpoint_that_keeps_its_tokens_per_tile(
    family_model, tmp_path
):
    from PIL import Image
    from transformers import AutoModelForImageTextToText

    path = family_model("tiny-smolvlm2")
    assert json.loads((path / "config.json").read_text())["model_type"] == "smolvlm"
    saved = json.loads((path / "processor_config.json").read_text())
    assert saved["processor_class"] == "SmolVLMProcessor" and saved["image_seq_len"] == 4
    assert saved["image_processor"]["image_processor_type"] == "SmolVLMImageProcessor"
    model = AutoModelForImageTextToText.from_pretrained(path, local_files_only=True)
    assert type(model).__name__ == "SmolVLMForConditionalGeneration"

    fam = family_for_path(path)
    proc = fam.load_processor(str(path))
    proc.save_pretrained(tmp_path / "again")  # as every training run saves it
    proc = fam.load_processor(str(tmp_path / "again"))
    assert proc.image_seq_len == 4  # transformers' default is 169: the model would not match
    inputs = proc(
        text=["User:<image>the red circle"],
        images=[Image.new("RGB", (133, 91))],
        return_tensors="pt",
    )
    # input 64 x 64: 2 x 2 tiles plus the global view, 4 tokens each
    assert (inputs["input_ids"] == model.config.image_token_id).sum().item() == 20


def test_smolvlm2_checkpoint_with_video_settings_loads_image_only(family_model, tmp_path):
    """A SmolVLM2 folder saved where torchvision works names a video processor; it still loads
    here, image-only, with its image settings."""
    import shutil

    run = tmp_path / "gpu-saved"
    shutil.copytree(family_model("tiny-smolvlm2"), run)
    video = {
        "video_processor_type": "SmolVLMVideoProcessor",
        "size": {"longest_edge": 384},
        "video_sampling": {"fps": 1, "max_frames": 64, "video_size": {"longest_edge": 384}},
    }
    cfg = json.loads((run / "processor_config.json").read_text())
    cfg["image_processor"]["video_sampling"] = video["video_sampling"]
    (run / "processor_config.json").write_text(json.dumps({**cfg, "video_processor": video}))
    (run / "video_preprocessor_config.json").write_text(json.dumps(video))
    fam = family_for_path(run)
    proc = fam.load_processor(str(run))
    assert proc.image_seq_len == 4
    assert fam.pixel_limits(proc) == PRESET_FAMILIES["tiny-smolvlm2"][1]
    msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "the cat"}]}]
    text = proc.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
    assert text == "<|im_start|>User:<image>the cat<end_of_utterance>\nAssistant:"


# ----------------------------------------------------------------------------- GRPO + evaluation


def _params(path):
    """Parameters by their module names (Qwen2-VL checkpoints store other key names)."""
    from transformers import AutoModelForImageTextToText

    model = AutoModelForImageTextToText.from_pretrained(path, local_files_only=True)
    return {k: v.detach() for k, v in model.named_parameters()}


@pytest.mark.parametrize("preset", PRESETS)
def test_grpo_step_then_evaluation_in_original_pixels(
    preset, family_model, shapes_data, grpo_settings, graded_reward, tmp_path, monkeypatch
):
    from vlmr1_cli.evaluate import generation
    from vlmr1_cli.evaluate.runner import EvalOptions, evaluate
    from vlmr1_cli.recipes.loading import load_recipe
    from vlmr1_cli.train.run import train

    base = family_model(preset)
    fam = family_for_path(base)
    out = tmp_path / "grpo"
    recipe = load_recipe(
        "demo_shapes_grpo",
        [
            f"model.path={base}",
            f"data.train=[{{path: '{shapes_data / 'train.jsonl'}', image_root: '{shapes_data}'}}]",
            f"rewards={{rec: [rec_iou, {{name: '{graded_reward}', weight: 1.0}}]}}",
            *grpo_settings(out, **{"training.max_steps": 1, "training.max_completion_length": 8}),
        ],
    )
    summary = train(recipe)
    assert summary["global_step"] == 1
    meta = json.loads((out / "vlmr1.json").read_text())
    assert meta["family"] == fam.name and meta["frame"] == "rel1000"
    before, after = _params(base), _params(out)
    changed = {k for k in before if not (before[k] == after[k]).all()}
    assert any(k.startswith(fam.vision_prefixes) for k in changed)
    assert any(k.startswith(fam.language_prefixes) for k in changed)

    # Evaluate the trained model: real greedy generation, then the answer replaced by the GT
    # box written in the family's frame and syntax, so the mapping back can be checked exactly.
    real_generate = generation.HFGenerator.generate
    calls = []

    def generate(self, rows):
        texts = real_generate(self, rows)
        calls.append(texts)
        assert len(texts) == len(rows) and all(isinstance(t, str) for t in texts)
        return [f"<answer>{fam.box_text(json.loads(r['solution_json']))}</answer>" for r in rows]

    monkeypatch.setattr(generation.HFGenerator, "generate", generate)
    ev = tmp_path / "eval"
    metrics = evaluate(
        str(out),
        shapes_data / "eval.jsonl",
        ev,
        image_root=str(shapes_data),
        opts=EvalOptions(batch_size=8, max_new_tokens=4),
    )
    assert calls
    assert (ev / "metrics.json").is_file() and (ev / "predictions.jsonl").is_file()
    assert metrics["frame"] == "rel1000" and metrics["n"] == 8 and metrics["acc"] == 1.0
    assert metrics["pixel_limits"] == PRESET_FAMILIES[preset][1].as_dict()
    gts = {}
    for line in (shapes_data / "eval.jsonl").read_text().splitlines():
        rec = json.loads(line)
        gts[rec["id"]] = (rec["solution"], rec["image_sizes"][0])
    preds = [json.loads(line) for line in (ev / "predictions.jsonl").read_text().splitlines()]
    assert len(preds) == 8
    for p in preds:
        gt, (w, h) = gts[p["id"]]
        # integers on a 0-1000 scale: at most half a unit off, in original pixels
        assert p["box"] == pytest.approx(gt, abs=max(w, h) / 1000 + 1e-6)


@pytest.mark.parametrize("preset", PRESETS)
def test_sft_step_trains_the_answer_then_exports(preset, family_model, shapes_data, tmp_path):
    from vlmr1_cli.recipes.loading import load_recipe
    from vlmr1_cli.train.run import train

    out = tmp_path / "sft"
    recipe = load_recipe(
        "demo_shapes_sft",
        [
            f"model.path={family_model(preset)}",
            f"data.train=[{{path: '{shapes_data / 'train.jsonl'}', image_root: '{shapes_data}'}}]",
            f"training.output_dir={out}",
            "max_steps=1",
            "per_device_train_batch_size=2",
            "logging_steps=1",
            "report_to=none",
        ],
    )
    summary = train(recipe)
    assert summary["global_step"] == 1 and summary["train_loss"] > 0
    assert json.loads((out / "vlmr1.json").read_text())["frame"] == "rel1000"

    # Export: the run becomes a model folder that loads (family, frame, pixel limits) and runs.
    import torch

    from vlmr1_cli.export.exporter import export_checkpoint
    from vlmr1_cli.export.verify import logits, sample_inputs
    from vlmr1_cli.models.loading import load_model

    export_checkpoint(out, tmp_path / "exported")
    loaded = load_model(str(tmp_path / "exported"))
    name, limits = PRESET_FAMILIES[preset]
    assert (loaded.family.name, loaded.meta["frame"], loaded.limits) == (name, "rel1000", limits)
    assert torch.isfinite(logits(loaded.model, sample_inputs(loaded.processor))).all()

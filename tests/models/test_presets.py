from pathlib import Path

import pytest

from vlmr1_cli.errors import UserError
from vlmr1_cli.models.presets import build_preset, resolve_model_path
from vlmr1_cli.models.registry import family_for_path


def test_preset_loads_like_a_checkpoint(tiny_model: Path):
    from PIL import Image
    from transformers import AutoModelForImageTextToText

    fam = family_for_path(tiny_model)
    assert fam.name == "qwen2_5_vl"
    model = AutoModelForImageTextToText.from_pretrained(tiny_model, local_files_only=True)
    proc = fam.load_processor(str(tiny_model))
    assert proc.tokenizer.padding_side == "left"
    limits = fam.pixel_limits(proc)
    assert (limits.min_pixels, limits.max_pixels, limits.factor) == (3136, 12544, 28)
    msgs = [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "the red circle"}]}
    ]
    text = proc.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
    inputs = proc(text=[text], images=[Image.new("RGB", (56, 56), "red")], return_tensors="pt")
    assert inputs["image_grid_thw"].tolist() == [[1, 4, 4]]
    assert (inputs["input_ids"] == model.config.image_token_id).sum().item() == 4
    out = model.generate(**inputs, max_new_tokens=3, do_sample=False)
    assert out.shape[1] == inputs["input_ids"].shape[1] + 3


def test_preset_is_deterministic(tmp_path: Path):
    from safetensors.numpy import load_file

    a = build_preset("tiny-qwen2.5-vl", tmp_path / "a", seed=3)
    b = build_preset("tiny-qwen2.5-vl", tmp_path / "b", seed=3)
    wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert wa.keys() == wb.keys()
    assert all((wa[k] == wb[k]).all() for k in wa)
    assert (a / "tokenizer.json").read_bytes() == (b / "tokenizer.json").read_bytes()


def test_preset_name_resolves_to_cached_folder():
    p1 = resolve_model_path("preset:tiny-qwen2.5-vl")
    p2 = resolve_model_path("tiny-qwen2.5-vl")
    assert p1 == p2 and (Path(p1) / "config.json").is_file()


def test_unknown_preset_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="unknown preset"):
        build_preset("nope", tmp_path / "x")

"""The InternVL family's own rules (internvl.py): its tile grid against transformers' processor,
the mapping of pixel limits onto tile counts, the checkpoint files it loads, its native box
syntax. The shared family tests (test_families.py) run its preset through reload, input size,
GRPO, SFT, evaluation and export."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

from vlmr1_cli.errors import UserError
from vlmr1_cli.models.base import PixelLimits
from vlmr1_cli.models.registry import family_by_name, family_for_path
from vlmr1_cli.parsing import parse_boxes

HUB_TILE = 448  # InternVL3-hf: tiles of 448 px, 1 to 12 of them, 256 tokens each
PRESET_LIMITS = PixelLimits(32 * 32, 4 * 32 * 32, 32)


def _limits(least: int, most: int, tile: int = HUB_TILE) -> PixelLimits:
    return PixelLimits(least * tile * tile, most * tile * tile, tile)


def _transformers_grid(width, height, least, most, tile=HUB_TILE):
    from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import get_optimal_tiled_canvas

    return get_optimal_tiled_canvas((height, width), (tile, tile), least, most)


def _sizes(n: int = 300) -> list[tuple[int, int]]:
    rng = random.Random(11)
    sizes = [(rng.randint(1, 5000), rng.randint(1, 5000)) for _ in range(n)]
    return sizes + [
        (1, 1),
        (1, 5000),
        (5000, 1),
        (448, 448),
        (640, 480),
        (1100, 1100),
        (20_000, 10),
    ]


@pytest.fixture(scope="module")
def preset(tmp_path_factory) -> Path:
    from vlmr1_cli.models.presets import build_preset

    return build_preset("tiny-internvl", tmp_path_factory.mktemp("internvl") / "tiny-internvl")


# ----------------------------------------------------------------------------- tile grid


@pytest.mark.parametrize("least,most", [(1, 12), (1, 6), (2, 12), (1, 15), (4, 4)])
def test_up_to_15_tiles_the_grid_is_transformers_choice_on_the_original(least, most):
    """Up to 15 tiles the grid the loader builds is the one plain transformers picks for the
    unresized image, so vlmr1's pre-resize changes nothing about how the model sees it."""
    fam = family_by_name("internvl")
    limits = _limits(least, most)
    for w, h in _sizes():
        cols, rows = _transformers_grid(w, h, least, most)
        assert fam.tile_grid(w, h, limits) == (cols, rows), (w, h)
        assert fam.input_size(w, h, limits) == (cols * HUB_TILE, rows * HUB_TILE)


@pytest.mark.parametrize("most", [16, 24, 40, 64])
def test_the_input_size_is_a_grid_the_processor_keeps(most):
    """The pre-resized image is tiled as it is: transformers picks the same grid for it again."""
    fam = family_by_name("internvl")
    limits = _limits(1, most)
    for w, h in _sizes(150):
        cols, rows = fam.tile_grid(w, h, limits)
        assert 1 <= cols * rows <= most
        assert _transformers_grid(cols * HUB_TILE, rows * HUB_TILE, 1, most) == (cols, rows), (w, h)


def test_a_square_grid_the_processor_would_re_pick_follows_the_processor():
    # 1100 x 1100 at up to 24 tiles: transformers picks 3 x 3 for the image, but 4 x 4 for its
    # 1344 x 1344 canvas (the tie rule favours more tiles once the image covers half of them).
    fam = family_by_name("internvl")
    assert _transformers_grid(1100, 1100, 1, 24) == (3, 3)
    assert _transformers_grid(1344, 1344, 1, 24) == (4, 4)
    assert fam.tile_grid(1100, 1100, _limits(1, 24)) == (4, 4)
    assert fam.input_size(1100, 1100, _limits(1, 12)) == (1344, 1344)  # InternVL3's 12: no change


def test_one_tile_is_the_image_squeezed_to_the_tile():
    fam = family_by_name("internvl")
    assert fam.input_size(640, 480, _limits(1, 1)) == (448, 448)
    assert fam.input_size(640, 480, _limits(1, 12)) == (1792, 1344)  # 4 x 3 tiles
    assert fam.input_size(480, 640, _limits(1, 12)) == (1344, 1792)


# ----------------------------------------------------------------------------- pixel limits


def test_limits_are_tile_counts_and_a_recipe_sets_them(preset):
    fam = family_for_path(preset)
    proc = fam.load_processor(str(preset))
    assert fam.pixel_limits(proc) == PRESET_LIMITS
    assert (proc.image_processor.min_patches, proc.image_processor.max_patches) == (1, 4)
    # max_pixels of 9.5 tiles: 9 tiles; min_pixels of 2 tiles: at least 2
    proc = fam.load_processor(str(preset), PixelLimits(2 * 1024, 9 * 1024 + 512, 32))
    assert (proc.image_processor.min_patches, proc.image_processor.max_patches) == (2, 9)
    assert fam.pixel_limits(proc) == PixelLimits(2 * 1024, 9 * 1024, 32)
    # under one tile: one tile, no tiling; a minimum above the maximum: the maximum
    assert fam.processor_kwargs(PixelLimits(3136, 100, 32)) == {"min_patches": 1, "max_patches": 1}
    assert fam.vllm_processor_kwargs(PRESET_LIMITS) == {"min_patches": 1, "max_patches": 4}


def test_too_many_tiles_and_odd_tiles_are_one_line(preset):
    fam = family_for_path(preset)
    qwen = PixelLimits(3136, 12845056, 28)  # Qwen's limits given to InternVL
    with pytest.raises(
        UserError, match=r"max_pixels 12,845,056 allows 16384 tiles of 28x28 px; at most 64"
    ):
        fam.processor_kwargs(qwen)
    with pytest.raises(UserError, match="at most 64"):
        fam.input_size(640, 480, PixelLimits(1024, 65 * 1024, 32))
    assert fam.processor_kwargs(_limits(1, 64))["max_patches"] == 64
    proc = fam.load_processor(str(preset))
    proc.image_processor.size = {"height": 32, "width": 48}
    with pytest.raises(UserError, match="tile size is 48x32"):
        fam.pixel_limits(proc)


# ----------------------------------------------------------------------------- checkpoints


def test_preset_is_an_internvl_checkpoint_that_keeps_its_tokens_per_tile(preset, tmp_path):
    from PIL import Image
    from transformers import AutoModelForImageTextToText

    assert json.loads((preset / "config.json").read_text())["model_type"] == "internvl"
    saved = json.loads((preset / "processor_config.json").read_text())
    assert saved["processor_class"] == "InternVLProcessor" and saved["image_seq_length"] == 4
    tok_cfg = json.loads((preset / "tokenizer_config.json").read_text())
    named = ("start_image_token", "end_image_token", "context_image_token")
    assert [tok_cfg[k] for k in named] == ["<img>", "</img>", "<IMG_CONTEXT>"]
    assert "local_files_only" not in tok_cfg and "is_local" not in tok_cfg
    model = AutoModelForImageTextToText.from_pretrained(preset, local_files_only=True)
    assert type(model).__name__ == "InternVLForConditionalGeneration"

    fam = family_for_path(preset)
    proc = fam.load_processor(str(preset))
    proc.save_pretrained(tmp_path / "again")  # as every training run saves it
    proc = fam.load_processor(str(tmp_path / "again"))
    assert proc.image_seq_length == 4  # transformers' default is 256: the model would not match
    msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "the cat"}]}]
    text = proc.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
    assert text == "<|im_start|>user\n<IMG_CONTEXT>\nthe cat<|im_end|>\n<|im_start|>assistant\n"
    inputs = proc(text=[text], images=[Image.new("RGB", (133, 91))], return_tensors="pt")
    # input 64 x 64: 2 x 2 tiles plus the thumbnail, 4 tokens each, between <img> and </img>
    assert inputs["pixel_values"].shape[0] == 5
    ids = inputs["input_ids"][0].tolist()
    assert ids.count(model.config.image_token_id) == 20
    assert ids.count(proc.start_image_token_id) == ids.count(proc.end_image_token_id) == 1


def test_hub_layout_loads_image_only_and_always_tiles(preset, tmp_path):
    """A folder laid out as the -hf checkpoints are: the image processor in its own
    preprocessor_config.json under its "fast" name, `crop_to_patches` off there (the processor
    turns it on), a separate video processor config. It loads without torchvision."""
    from PIL import Image

    hub = tmp_path / "InternVL3-hf"
    shutil.copytree(preset, hub)
    cfg = json.loads((hub / "processor_config.json").read_text())
    image = {
        **cfg["image_processor"],
        "image_processor_type": "GotOcr2ImageProcessorFast",
        "crop_to_patches": False,
        "processor_class": "InternVLProcessor",
    }
    (hub / "preprocessor_config.json").write_text(json.dumps(image))
    (hub / "video_preprocessor_config.json").write_text(
        json.dumps(
            {"video_processor_type": "InternVLVideoProcessor", "size": {"height": 32, "width": 32}}
        )
    )
    (hub / "processor_config.json").write_text(
        json.dumps({"image_seq_length": 4, "processor_class": "InternVLProcessor"})
    )
    fam = family_for_path(hub)
    proc = fam.load_processor(str(hub))
    assert proc.image_seq_length == 4 and fam.pixel_limits(proc) == PRESET_LIMITS
    inputs = proc(
        text=[proc.image_token], images=[Image.new("RGB", (133, 91))], return_tensors="pt"
    )
    assert inputs["pixel_values"].shape[0] == 5  # 2 x 2 tiles + thumbnail, as input_size says
    assert fam.input_size(133, 91, fam.pixel_limits(proc)) == (64, 64)


# ----------------------------------------------------------------------------- answers


def test_native_box_survives_decoding(preset):
    """`<box>` and `</box>` are special tokens: decoding drops them and leaves `[[…]]`."""
    from transformers import AutoTokenizer

    fam = family_for_path(preset)
    tok = AutoTokenizer.from_pretrained(preset, local_files_only=True)
    text = f"<ref>the red circle</ref>{fam.box_text((10.4, 20, 300, 400.6))}"
    assert text == "<ref>the red circle</ref><box>[[10, 20, 300, 401]]</box>"
    ids = tok(text)["input_ids"]
    assert tok.convert_tokens_to_ids("<box>") in ids  # one token, not spelled out
    decoded = tok.decode(ids, skip_special_tokens=True)
    assert decoded == "the red circle[[10, 20, 300, 401]]"
    for answer in (text, decoded):
        assert [b.bbox for b in parse_boxes(answer)] == [(10, 20, 300, 401)]

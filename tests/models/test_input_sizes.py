"""The model-input size of every family against transformers' own resize rule, on thousands of
sizes: seeded random ones, tiny sides (under one factor), extreme aspect ratios and huge images,
under the presets' pixel limits and the real checkpoints' defaults."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from vlmr1_cli.errors import UserError
from vlmr1_cli.models.base import PixelLimits
from vlmr1_cli.models.registry import family_by_name

# (family, limits): the tiny presets, transformers' class defaults, the released checkpoints'
# preprocessor configs (Qwen2/2.5-VL: 3136..12845056; Qwen3-VL: 65536..16777216, factor 32)
# and VLM-R1's training setting.
QWEN_LIMITS = [
    ("qwen2_5_vl", PixelLimits(56 * 56, 112 * 112, 28)),
    ("qwen2_5_vl", PixelLimits(56 * 56, 1280 * 28 * 28, 28)),
    ("qwen2_5_vl", PixelLimits(3136, 12845056, 28)),
    ("qwen2_5_vl", PixelLimits(3136, 12845056 // 8, 28)),
    ("qwen2_vl", PixelLimits(3136, 12845056, 28)),
    ("qwen3_vl", PixelLimits(64 * 64, 128 * 128, 32)),
    ("qwen3_vl", PixelLimits(65536, 16777216, 32)),
    ("qwen3_vl", PixelLimits(1024, 4096, 32)),
]


def qwen_sizes() -> list[tuple[int, int]]:
    """(width, height): random, tiny, thin, huge and near the 200 ratio boundary."""
    rng = random.Random(1234)
    sizes = [(rng.randint(1, 4000), rng.randint(1, 4000)) for _ in range(1500)]
    sizes += [(rng.randint(1, 60), rng.randint(1, 400)) for _ in range(500)]
    sizes += [(w, h) for w in range(1, 34) for h in range(1, 34)]
    sizes += [(w, w * 200) for w in (1, 2, 3, 13, 64)] + [(w * 200, w) for w in (1, 5, 28)]
    sizes += [(1, 199), (2, 399), (100_000, 1000), (30_000, 40_000), (1, 1), (10, 50), (50, 10)]
    return sizes


def transformers_size(width: int, height: int, limits: PixelLimits) -> tuple[int, int] | None:
    """transformers' (width, height), None where it refuses the image."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

    try:
        h, w = smart_resize(height, width, limits.factor, limits.min_pixels, limits.max_pixels)
    except ValueError:
        return None
    return w, h


@pytest.mark.parametrize("name,limits", QWEN_LIMITS)
def test_qwen_input_size_matches_transformers(name, limits):
    fam = family_by_name(name)
    sizes = qwen_sizes()
    refused = 0
    for w, h in sizes:
        want = transformers_size(w, h, limits)
        if want is None:
            refused += 1
            with pytest.raises(UserError, match=rf"^image {w}x{h}: aspect ratio .* over 200"):
                fam.input_size(w, h, limits)
            continue
        assert fam.input_size(w, h, limits) == want, (w, h)
    assert 0 < refused < len(sizes) // 10  # the extreme ratios really were exercised


def test_tiny_side_keeps_the_aspect_ratio():
    # Upscaled as a whole (transformers' min-pixels branch), not clamped side by side (56x84).
    fam = family_by_name("qwen2_5_vl")
    assert fam.input_size(10, 50, PixelLimits(3136, 12845056, 28)) == (28, 140)
    assert fam.input_size(50, 10, PixelLimits(3136, 12845056, 28)) == (140, 28)


def test_ratio_over_200_is_refused_with_one_line_naming_the_image():
    fam = family_by_name("qwen3_vl")
    limits = PixelLimits(65536, 16777216, 32)
    assert fam.input_size(1, 200, limits) == transformers_size(1, 200, limits)
    with pytest.raises(UserError) as err:
        fam.input_size(1, 201, limits)
    assert str(err.value) == (
        "image 1x201: aspect ratio 201.0 is over 200, which Qwen's resize "
        "refuses (qwen3_vl image processor)"
    )


def transformers_tiled_size(width: int, height: int, longest: int, tile: int) -> tuple[int, int]:
    """Idefics3's processor (PIL backend), steps 1-2: the size its tiles are cut from."""
    from transformers.models.idefics3 import image_processing_pil_idefics3 as idefics

    shape_only = np.broadcast_to(np.zeros((), np.uint8), (3, height, width))
    h, w = idefics.get_resize_output_image_size(shape_only, resolution_max_side=longest)
    aspect = w / h  # resize_for_vision_encoder: the longer side first, each up to whole tiles
    if w >= h:
        w = math.ceil(w / tile) * tile
        h = math.ceil(int(w / aspect) / tile) * tile
    else:
        h = math.ceil(h / tile) * tile
        w = math.ceil(int(h * aspect) / tile) * tile
    return w, h


@pytest.mark.parametrize("name", ["idefics3", "smolvlm"])
@pytest.mark.parametrize(
    "longest,tile", [(64, 32), (4 * 364, 364), (1536, 384), (5 * 512, 512), (12000, 364)]
)
def test_tiling_input_size_matches_transformers(name, longest, tile):
    fam = family_by_name(name)
    side = math.ceil(min(longest, 4096) / tile) * tile
    limits = PixelLimits(tile * tile, side * side, tile, longest_edge=longest)
    rng = random.Random(7)
    sizes = [(rng.randint(1, 5000), rng.randint(1, 5000)) for _ in range(300)]
    sizes += [(1, 1), (1, 5000), (5000, 1), (3, 7), (tile, tile), (tile + 1, 1), (20_000, 10)]
    for w, h in sizes:
        assert fam.input_size(w, h, limits) == transformers_tiled_size(w, h, longest, tile), (w, h)

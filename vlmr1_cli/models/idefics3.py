"""Idefics3 (and SmolVLM v1 checkpoints, whose `model_type` is "idefics3"): a tiling family.

Frame. Idefics3/SmolVLM have no grounding convention of their own (no box tokens, no
documented box format), so vlmr1 gives them the resolution-independent one: JSON `bbox_2d`
relative to the original image on a 0-1000 scale (`x_model = x / W * 1000`). A relative frame
is also the only sensible one for a tiling processor, where no single "input image" exists:
the model sees a grid of tiles plus a downscaled global view. Nothing is clamped, as for the
other relative families (predictions above 1000 are scored as written).

Processor (transformers' `Idefics3ImageProcessor`, PIL backend without torchvision):
1. scale so the longer side is exactly `size["longest_edge"]` = L (up or down; the shorter
   side keeps the aspect ratio, truncated and bumped to even), capped at 4096;
2. with `do_image_splitting`: round both sides up to multiples of the tile
   `max_image_size["longest_edge"]` = T and cut that into tiles, plus the whole image resized
   to T x T; without splitting: resize to T x T.
Each tile costs `image_seq_len` = (T / patch)^2 / scale_factor^2 image tokens.

Pixel limits map onto that as: `factor` = T, `longest_edge` = L (T when splitting is off),
`max_pixels` = the largest resized area (L rounded up to T, squared), `min_pixels` = T^2 (one
tile, the global view; Idefics3 has no lower limit of its own). A recipe's `model.max_pixels`
sets L = floor(sqrt(max_pixels)); `model.min_pixels` has no effect on this family.
`input_size` reproduces step 1-2's size, so the loader's pre-resize is a no-op for the processor.
"""

from __future__ import annotations

import math
from typing import Any

from vlmr1_cli.models.base import ModelFamily, PixelLimits
from vlmr1_cli.models.registry import register_family

MAX_IMAGE_SIZE = 4096  # transformers' absolute cap on the longer side


def _edge(value: Any) -> int | None:
    """`longest_edge` of a size that is a dict or a transformers SizeDict."""
    if value is None:
        return None
    v = (
        value.get("longest_edge")
        if isinstance(value, dict)
        else getattr(value, "longest_edge", None)
    )
    return int(v) if v else None


def scale_longest(width: int, height: int, longest: int) -> tuple[int, int]:
    """Step 1: (width, height) with the longer side scaled to `longest`, as transformers does."""
    aspect = width / height
    if width >= height:
        width = longest
        height = int(width / aspect)
        height += height % 2
    else:
        height = longest
        width = int(height * aspect)
        width += width % 2
    width, height = max(width, 1), max(height, 1)
    aspect = width / height
    if width >= height and width > MAX_IMAGE_SIZE:
        width, height = MAX_IMAGE_SIZE, max(int(MAX_IMAGE_SIZE / aspect), 1)
    elif height > width and height > MAX_IMAGE_SIZE:
        height, width = MAX_IMAGE_SIZE, max(int(MAX_IMAGE_SIZE * aspect), 1)
    return width, height


def round_to_tiles(width: int, height: int, tile: int) -> tuple[int, int]:
    """Step 2: both sides up to multiples of `tile`, the longer side first (as transformers)."""
    aspect = width / height
    if width >= height:
        width = math.ceil(width / tile) * tile
        height = math.ceil(int(width / aspect) / tile) * tile
    else:
        height = math.ceil(height / tile) * tile
        width = math.ceil(int(height * aspect) / tile) * tile
    return width, height


class Idefics3(ModelFamily):
    name = "idefics3"
    model_types = ("idefics3",)
    frame = "rel"
    frame_scale = 1000.0
    # The connector (pixel shuffle + projection) belongs to the vision side, like Qwen's merger.
    vision_prefixes = ("model.vision_model", "model.connector", "vision_model", "connector")
    language_prefixes = ("model.text_model", "text_model", "lm_head")

    def pixel_limits(self, processor: Any) -> PixelLimits:
        ip = getattr(processor, "image_processor", processor)
        tile = _edge(getattr(ip, "max_image_size", None)) or 364
        longest = _edge(getattr(ip, "size", None)) or 4 * tile
        if not getattr(ip, "do_image_splitting", True):
            longest = tile
        side = math.ceil(min(longest, MAX_IMAGE_SIZE) / tile) * tile
        return PixelLimits(tile * tile, side * side, tile, longest_edge=longest)

    def input_size(self, width: int, height: int, limits: PixelLimits) -> tuple[int, int]:
        tile = limits.factor
        longest = limits.longest_edge or math.isqrt(limits.max_pixels)
        if longest <= tile:  # no splitting: one tile, the whole image squeezed into it
            return tile, tile
        return round_to_tiles(*scale_longest(width, height, longest), tile)

    def tile_grid(self, width: int, height: int, limits: PixelLimits) -> tuple[int, int]:
        """(rows, cols) of tiles for an image, (0, 0) when it fits one tile (global view only)."""
        w, h = self.input_size(width, height, limits)
        t = limits.factor
        if w <= t and h <= t:
            return 0, 0
        return h // t, w // t

    def processor_kwargs(self, limits: PixelLimits | None) -> dict:
        if limits is None:
            return {}
        return {"size": {"longest_edge": limits.longest_edge or math.isqrt(limits.max_pixels)}}

    def vllm_processor_kwargs(self, limits: PixelLimits) -> dict:
        return self.processor_kwargs(limits)

    def dummy_vision_inputs(self, processor: Any, device: Any, dtype: Any) -> dict:
        """One tile (the global view of an image that fits one tile): pixel values of shape
        (batch 1, images 1, 3, T, T) with an all-true pixel mask. Ones, not zeros: the model
        drops all-zero images as padding."""
        import torch

        ip = getattr(processor, "image_processor", processor)
        tile = _edge(getattr(ip, "max_image_size", None)) or 364
        pixels = torch.ones(1, 1, 3, tile, tile, device=device, dtype=dtype)
        mask = torch.ones(1, 1, tile, tile, device=device, dtype=torch.bool)
        return {"pixel_values": pixels, "pixel_attention_mask": mask}


IDEFICS3 = register_family(Idefics3())

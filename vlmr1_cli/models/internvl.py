"""InternVL (transformers-native `InternVLForConditionalGeneration`, the `-hf` checkpoints such
as OpenGVLab/InternVL3-1B-hf, 2B-hf, 8B-hf): a tiling family with a 0-1000 frame.

Frame. InternVL's grounding answers are `<ref>phrase</ref><box>[[x1, y1, x2, y2]]</box>` with
coordinates normalised to 0-1000 of the image (InternVL's docs). vlmr1 pins the scale at 1000,
as for the other relative families: `x_model = x / W * 1000`, with W, H the original size, and
nothing is clamped (predictions above 1000 are scored as written). `box_text` writes the native
form; `<box>`/`</box>` are special tokens that decoding with `skip_special_tokens` drops, which
leaves `[[x1, y1, x2, y2]]`, and the shared parser reads both (as it reads JSON `bbox_2d`).

Processor (transformers' `GotOcr2ImageProcessor`, PIL backend `GotOcr2ImageProcessorPil`
without torchvision; `InternVLProcessor` always asks it for `crop_to_patches`):
1. pick a grid of `cols x rows` tiles, `min_patches <= cols * rows <= max_patches`, whose
   aspect ratio is closest to the image's (ties go to more tiles while the image covers more
   than half of them);
2. resize the image to exactly `cols * T x rows * T` (T = `size["height"]`, 448 on the Hub;
   the aspect ratio is not kept) and cut it into T x T tiles, plus the whole image resized to
   T x T as a thumbnail when there is more than one tile; one tile: the image resized to T x T.
Each tile costs `image_seq_length` tokens, `(T / patch)^2 * downsample_ratio^2` (256 on the Hub).

Pixel limits map onto that as: `factor` = T, `max_pixels` = max_patches * T^2, `min_pixels` =
min_patches * T^2. A recipe's `model.max_pixels` sets max_patches = floor(max_pixels / T^2) (at
least 1) and `model.min_pixels` sets min_patches likewise (at most max_patches); T itself is
the vision tower's input size and stays the checkpoint's.

Input size: the canvas of step 2 (`cols * T x rows * T`; T x T for one tile), so the loader's
pre-resize is exactly the processor's own resize and the processor does not resize again. On
that pre-resized image the processor must pick the same grid; it does for every image up to 15
tiles, but from 16 tiles on a square-ish grid of k >= 3 tiles a side can be re-picked one
larger on its own canvas (the tie rule favours more tiles on larger images). `input_size` then
follows the processor to the grid it settles on, so what the model sees is still what the
loader built (a relative frame, so no coordinate changes). InternVL3's `max_patches` is 12.
"""

from __future__ import annotations

import functools
from typing import Any

from vlmr1_cli.errors import UserError
from vlmr1_cli.geometry import Box
from vlmr1_cli.models.base import ModelFamily, PixelLimits
from vlmr1_cli.models.processor_compat import SavesVideoEntry
from vlmr1_cli.models.registry import register_family

# GotOcr2ImageProcessor's class defaults, which a processor config without the keys gets
# (InternVL's Hub configs set size 448).
DEFAULT_TILE = 384
DEFAULT_MIN_PATCHES, DEFAULT_MAX_PATCHES = 1, 12
# 64 tiles of 448 px is 12,845,056 px, the max_pixels VLM-R1 uses for Qwen2.5-VL, and already
# 65 x 256 = 16,640 image tokens per image; transformers' grid search also grows with the
# square of the tile count (a max_pixels meant for another family would hang the processor).
MAX_TILES = 64


def _tile_edge(size: Any) -> int:
    """T from the image processor's `size` ({"height", "width"} dict or a SizeDict)."""
    if size is None:
        return DEFAULT_TILE
    get = size.get if isinstance(size, dict) else lambda k: getattr(size, k, None)
    height, width = get("height"), get("width")
    if not height or not width:
        return DEFAULT_TILE
    if int(height) != int(width):
        raise UserError(
            f"internvl: the image processor's tile size is {width}x{height}; "
            "vlmr1 supports square tiles only (InternVL's are 448x448)"
        )
    return int(height)


def tile_counts(limits: PixelLimits) -> tuple[int, int]:
    """(min_patches, max_patches) of `limits`; one line for a tile count vlmr1 refuses."""
    area = limits.factor * limits.factor
    most = max(1, limits.max_pixels // area)
    if most > MAX_TILES:
        raise UserError(
            f"internvl: max_pixels {limits.max_pixels:,} allows {most} tiles of "
            f"{limits.factor}x{limits.factor} px; at most {MAX_TILES} are supported "
            f"(max_pixels <= {MAX_TILES * area:,})"
        )
    least = min(most, max(1, limits.min_pixels // area))
    return least, most


def _grid(width: int, height: int, tile: int, least: int, most: int) -> tuple[int, int]:
    """(cols, rows): transformers' own tile-grid choice for a width x height image."""
    from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import get_optimal_tiled_canvas

    return get_optimal_tiled_canvas((height, width), (tile, tile), least, most)


@functools.cache
def internvl_image_only_class(video_processor_type: str) -> Any:
    """`InternVLProcessor` without its video processor (processor_compat.py)."""
    from transformers import InternVLProcessor

    class ImageOnly(SavesVideoEntry, InternVLProcessor):
        # `image_seq_length` stays in the signature: transformers saves only the constructor's
        # arguments, and a reloaded processor must keep the model's tokens per tile.
        def __init__(
            self,
            image_processor=None,
            tokenizer=None,
            image_seq_length: int = 256,
            chat_template=None,
            **kwargs,
        ):
            InternVLProcessor.__init__(
                self,
                image_processor,
                tokenizer,
                None,
                image_seq_length=image_seq_length,
                chat_template=chat_template,
                **kwargs,
            )

    # Saved as `processor_class`, so the folder also loads with the stock class elsewhere.
    ImageOnly.__name__ = ImageOnly.__qualname__ = InternVLProcessor.__name__
    ImageOnly.__module__ = __name__
    ImageOnly.video_processor_type = video_processor_type
    return ImageOnly


class InternVL(ModelFamily):
    name = "internvl"
    model_types = ("internvl",)
    frame = "rel"
    frame_scale = 1000.0
    # The projector (pixel shuffle + MLP) belongs to the vision side, like Qwen's merger.
    vision_prefixes = (
        "model.vision_tower",
        "model.multi_modal_projector",
        "vision_tower",
        "multi_modal_projector",
    )
    language_prefixes = ("model.language_model", "language_model", "lm_head")
    video_processor_type = "InternVLVideoProcessor"

    # ---- sizes -----------------------------------------------------------------------
    def pixel_limits(self, processor: Any) -> PixelLimits:
        ip = getattr(processor, "image_processor", processor)
        tile = _tile_edge(getattr(ip, "size", None))
        least = int(getattr(ip, "min_patches", None) or DEFAULT_MIN_PATCHES)
        most = int(getattr(ip, "max_patches", None) or DEFAULT_MAX_PATCHES)
        limits = PixelLimits(least * tile * tile, most * tile * tile, tile)
        tile_counts(limits)  # a checkpoint asking for more tiles than vlmr1 takes: said now
        return limits

    def tile_grid(self, width: int, height: int, limits: PixelLimits) -> tuple[int, int]:
        """(cols, rows) of the tiles the processor cuts the pre-resized image into; (1, 1) is
        one tile (the image resized to T x T, no thumbnail)."""
        least, most = tile_counts(limits)
        if most == 1:  # the processor skips tiling altogether
            return 1, 1
        tile = limits.factor
        cols, rows = _grid(width, height, tile, least, most)
        for _ in range(most):  # the grid only grows, so this settles within `most` steps
            again = _grid(cols * tile, rows * tile, tile, least, most)
            if again == (cols, rows):
                break
            cols, rows = again
        return cols, rows

    def input_size(self, width: int, height: int, limits: PixelLimits) -> tuple[int, int]:
        cols, rows = self.tile_grid(width, height, limits)
        return cols * limits.factor, rows * limits.factor

    # ---- answers ---------------------------------------------------------------------
    def box_text(self, box: Box) -> str:
        x1, y1, x2, y2 = self.format_box(box)
        return f"<box>[[{x1}, {y1}, {x2}, {y2}]]</box>"

    # ---- processor -------------------------------------------------------------------
    def stock_processor(self) -> tuple[Any, Any]:
        from transformers import InternVLConfig, InternVLProcessor

        return InternVLConfig, InternVLProcessor

    def image_only_processor_class(self) -> Any:
        return internvl_image_only_class(self.video_processor_type)

    def processor_kwargs(self, limits: PixelLimits | None) -> dict:
        if limits is None:
            return {}
        least, most = tile_counts(limits)
        return {"min_patches": least, "max_patches": most}

    def vllm_processor_kwargs(self, limits: PixelLimits) -> dict:
        return self.processor_kwargs(limits)

    # ---- training --------------------------------------------------------------------
    def dummy_vision_inputs(self, processor: Any, device: Any, dtype: Any) -> dict:
        """One tile (what a one-tile image becomes): pixel values of shape (tiles 1, 3, T, T).
        `get_image_features` takes the feature layer and CLS strategy from the model's config
        when not given, as the model's own forward does."""
        import torch

        tile = _tile_edge(getattr(getattr(processor, "image_processor", processor), "size", None))
        return {"pixel_values": torch.zeros(1, 3, tile, tile, device=device, dtype=dtype)}


INTERNVL = register_family(InternVL())

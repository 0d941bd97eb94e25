"""Qwen2.5-VL: JSON `bbox_2d` answers in absolute pixels of the smart-resized input image."""

from __future__ import annotations

from typing import Any

from vlmr1_cli.errors import UserError
from vlmr1_cli.geometry import smart_resize
from vlmr1_cli.models.base import ModelFamily, PixelLimits

# transformers' class defaults where a processor config lacks the keys (docs/coordinates.md §2).
DEFAULT_MIN_PIXELS = 56 * 56
DEFAULT_MAX_PIXELS = 1280 * 28 * 28


def pixel_limits_of(processor: Any, factor: int) -> PixelLimits:
    ip = getattr(processor, "image_processor", processor)
    size = getattr(ip, "size", None) or {}
    lo = size.get("shortest_edge") or getattr(ip, "min_pixels", None) or DEFAULT_MIN_PIXELS
    hi = size.get("longest_edge") or getattr(ip, "max_pixels", None) or DEFAULT_MAX_PIXELS
    return PixelLimits(int(lo), int(hi), factor)


class SmartResizeFamily(ModelFamily):
    """Families whose image processor applies Qwen's `smart_resize`."""

    patch_size = 14
    merge_size = 2
    # Runtime module names, shared by the Qwen-VL families (checkpoints store `visual.*`).
    vision_prefixes = ("model.visual", "visual")
    language_prefixes = ("model.language_model", "language_model", "lm_head")

    def pixel_limits(self, processor: Any) -> PixelLimits:
        ip = getattr(processor, "image_processor", processor)
        patch = int(getattr(ip, "patch_size", self.patch_size))
        merge = int(getattr(ip, "merge_size", self.merge_size))
        return pixel_limits_of(processor, patch * merge)

    def input_size(self, width: int, height: int, limits: PixelLimits) -> tuple[int, int]:
        """transformers' `smart_resize`, exactly: a side under one factor is not clamped on its
        own; the min-pixels branch upscales the whole image, keeping its aspect ratio (10x50 at
        factor 28 becomes 28x140, as the processor makes it).

        Raises UserError `image WxH: ...` (callers prefix the record or file) for an aspect
        ratio over 200, which the processor refuses, and for a size it cannot resize.
        """
        try:
            h, w = smart_resize(height, width, limits.factor, limits.min_pixels, limits.max_pixels)
        except ValueError as e:
            raise UserError(f"image {width}x{height}: {e} ({self.name} image processor)") from None
        return w, h

    def processor_kwargs(self, limits: PixelLimits | None) -> dict:
        if limits is None:
            return {}
        return {"size": {"shortest_edge": limits.min_pixels, "longest_edge": limits.max_pixels}}

    def dummy_vision_inputs(self, processor: Any, device: Any, dtype: Any) -> dict:
        """One image of merge x merge patches (the fewest the merger accepts): flattened patch
        rows of channels x temporal x patch x patch values, with its (t, h, w) grid."""
        import torch

        ip = getattr(processor, "image_processor", processor)
        patch = int(getattr(ip, "patch_size", self.patch_size))
        merge = int(getattr(ip, "merge_size", self.merge_size))
        temporal = int(getattr(ip, "temporal_patch_size", 2))
        pixels = torch.zeros(
            merge * merge, 3 * temporal * patch * patch, device=device, dtype=dtype
        )
        grid = torch.tensor([[1, merge, merge]], device=device, dtype=torch.long)
        return {"pixel_values": pixels, "image_grid_thw": grid}


class Qwen25VL(SmartResizeFamily):
    name = "qwen2_5_vl"
    model_types = ("qwen2_5_vl",)
    frame = "abs"

    video_processor_type = "Qwen2VLVideoProcessor"

    def stock_processor(self) -> tuple[Any, Any]:
        from transformers import Qwen2_5_VLConfig, Qwen2_5_VLProcessor

        return Qwen2_5_VLConfig, Qwen2_5_VLProcessor

"""Qwen3-VL: JSON `bbox_2d` answers relative to the image on a 0-1000 scale.

Frame (docs/coordinates.md §1, §5). Qwen3-VL went back to relative coordinates; Qwen's docs
disagree on whether the top is 999 or 1000 (QwenLM/Qwen3-VL#1741). vlmr1 pins the scale at
1000: `x_model = x / W * 1000`, `x = x_model * W / 1000`, with W, H the original size. A model
that writes 999 for the far edge loses 1/1000 of the side, which the IoU barely notices.

Overflow. Nothing is clamped: a prediction above 1000 maps beyond the image edge and is
scored as written, as the rewards score it in the model frame (VLM-R1 does not clamp).

Processor. `Qwen3VLProcessor` with transformers' `Qwen2VLImageProcessor` (PIL backend
`Qwen2VLImageProcessorPil` without torchvision): the same `smart_resize` as Qwen2-VL, with
patch 16 x merge 2 = factor 32; limits live in `size={"shortest_edge", "longest_edge"}`.
Without torchvision the processor is built image-only (docs/environment.md §2).
"""

from __future__ import annotations

from typing import Any

from vlmr1_cli.models.qwen2_5_vl import SmartResizeFamily
from vlmr1_cli.models.registry import register_family


class Qwen3VL(SmartResizeFamily):
    name = "qwen3_vl"
    model_types = ("qwen3_vl",)
    frame = "rel"
    frame_scale = 1000.0
    patch_size = 16
    merge_size = 2

    video_processor_type = "Qwen3VLVideoProcessor"

    def stock_processor(self) -> tuple[Any, Any]:
        from transformers import Qwen3VLConfig, Qwen3VLProcessor

        return Qwen3VLConfig, Qwen3VLProcessor


QWEN3_VL = register_family(Qwen3VL())

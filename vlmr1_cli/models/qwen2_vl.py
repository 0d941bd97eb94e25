"""Qwen2-VL: boxes relative to the image on a 0-1000 scale (docs/coordinates.md §1).

Frame. Qwen's convention is "integers in [0, 1000) relative to the image"; vlmr1 pins the
scale at 1000: `x_model = x / W * 1000`, `x = x_model * W / 1000` (W, H the original size), so
a box touching the right or bottom edge writes 1000. The frame does not depend on the resize,
so the processor's pixel limits change the number of visual tokens but never a coordinate.

Overflow. Nothing is clamped, in either direction: a prediction above 1000 maps beyond the
image edge and is scored as written, exactly as the rewards score it in the model frame
(VLM-R1 does not clamp either). GT is never rounded; SFT targets are rounded integers.

Answers. The model's native syntax is
`<|object_ref_start|>label<|object_ref_end|><|box_start|>(x1,y1),(x2,y2)<|box_end|>`
(`box_text`); recipes may equally train the JSON `bbox_2d` answer, which the same parser reads.

Processor. Same image processor as Qwen2.5-VL (`smart_resize`, patch 14 x merge 2 = factor
28); without torchvision the processor is built image-only (docs/environment.md §2).
"""

from __future__ import annotations

from typing import Any

from vlmr1_cli.geometry import Box
from vlmr1_cli.models.qwen2_5_vl import SmartResizeFamily
from vlmr1_cli.models.registry import register_family

BOX_START, BOX_END = "<|box_start|>", "<|box_end|>"


class Qwen2VL(SmartResizeFamily):
    name = "qwen2_vl"
    model_types = ("qwen2_vl",)
    frame = "rel"
    frame_scale = 1000.0
    patch_size = 14
    merge_size = 2

    def box_text(self, box: Box) -> str:
        x1, y1, x2, y2 = self.format_box(box)
        return f"{BOX_START}({x1},{y1}),({x2},{y2}){BOX_END}"

    video_processor_type = "Qwen2VLVideoProcessor"

    def stock_processor(self) -> tuple[Any, Any]:
        from transformers import Qwen2VLConfig, Qwen2VLProcessor

        return Qwen2VLConfig, Qwen2VLProcessor


QWEN2_VL = register_family(Qwen2VL())

"""The model-family interface: everything that differs between VLM families lives behind it.

Nothing outside `models/` branches on model names (docs/architecture.md, rule 3). A family says how
its processor sizes images, which coordinate frame its boxes use, how to write a box answer
for SFT targets, and which modules form the vision tower.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from vlmr1_cli.geometry import Box, scale_box


@dataclass(frozen=True)
class PixelLimits:
    """The processor's resize settings that decide the model-input size."""

    min_pixels: int
    max_pixels: int
    factor: int  # patch size x spatial merge (tiling families: the tile edge)
    # Families that first scale the longer side to a fixed length (Idefics3/SmolVLM) keep that
    # length here; None for smart-resize families, whose size follows from min/max pixels.
    longest_edge: int | None = None

    def as_dict(self) -> dict:
        out = {"min_pixels": self.min_pixels, "max_pixels": self.max_pixels, "factor": self.factor}
        if self.longest_edge is not None:
            out["longest_edge"] = self.longest_edge
        return out


class ModelFamily:
    """Base class; subclasses override the class attributes and, if needed, the methods."""

    name: str = ""
    model_types: tuple[str, ...] = ()  # config.model_type values this family serves
    # "abs": absolute pixels of the model-input (resized) image; "rel": 0..frame_scale of the image
    frame: str = "abs"
    frame_scale: float = 1000.0
    # Module-name prefixes (as in model.named_modules()) that make up the vision tower.
    vision_prefixes: tuple[str, ...] = ()
    # Module-name prefixes of the language model (for freezing it).
    language_prefixes: tuple[str, ...] = ()

    # ---- sizes -----------------------------------------------------------------------
    def pixel_limits(self, processor: Any) -> PixelLimits:
        raise NotImplementedError  # every concrete family defines it

    def input_size(self, width: int, height: int, limits: PixelLimits) -> tuple[int, int]:
        """(width, height) of the image the model actually sees."""
        return width, height

    # ---- frames ----------------------------------------------------------------------
    @property
    def frame_name(self) -> str:
        return "qwen25_abs" if self.frame == "abs" else f"rel{int(self.frame_scale)}"

    def to_model_frame(self, box: Box, orig: tuple[int, int], inp: tuple[int, int]) -> Box:
        """Original pixels -> model frame. `orig` and `inp` are (width, height)."""
        if self.frame == "abs":
            return scale_box(box, inp[0] / orig[0], inp[1] / orig[1])
        s = self.frame_scale
        return scale_box(box, s / orig[0], s / orig[1])

    def from_model_frame(self, box: Box, orig: tuple[int, int], inp: tuple[int, int]) -> Box:
        """Model frame -> original pixels (the exact inverse of `to_model_frame`)."""
        if self.frame == "abs":
            return scale_box(box, orig[0] / inp[0], orig[1] / inp[1])
        s = self.frame_scale
        return scale_box(box, orig[0] / s, orig[1] / s)

    # ---- answers ---------------------------------------------------------------------
    def format_box(self, box: Box) -> list[int]:
        """A box as the model writes it: rounded integers in its frame."""
        return [int(round(v)) for v in box]

    def box_text(self, box: Box) -> str:
        """A box (model frame) in the family's own answer syntax; JSON `[x1, y1, x2, y2]` here.

        Families with a native grounding syntax (Qwen2-VL's box tokens) override it. The shared
        parser (`vlmr1_cli.parsing.parse_boxes`) reads every syntax a family writes here.
        """
        return json.dumps(self.format_box(box))

    # ---- processor -------------------------------------------------------------------
    # The video processor the stock processor is built with, for families that have one.
    video_processor_type: str | None = None

    def stock_processor(self) -> tuple[Any, Any] | None:
        """(config class, processor class) where the stock processor needs a video processor,
        hence torchvision (processor_compat.py); None for families that need neither."""
        return None

    def image_only_processor_class(self) -> Any:
        """The stock processor without its video processor (families with `stock_processor`)."""
        from vlmr1_cli.models.processor_compat import image_only_class

        stock = self.stock_processor()
        if stock is None or self.video_processor_type is None:
            raise TypeError(f"{self.name}: its processor has no video processor to leave out")
        return image_only_class(stock[1], self.video_processor_type)

    def processor_class(self) -> Any:
        """The class whose `from_pretrained` loads this family's processor here."""
        stock = self.stock_processor()
        if stock is None:
            from transformers import AutoProcessor

            return AutoProcessor
        from vlmr1_cli.models.processor_compat import for_this_environment

        return for_this_environment(stock[0], stock[1], self.image_only_processor_class())

    def processor_class_for(self, path: str) -> Any:
        """`processor_class()`, or the image-only class for a folder saved without a video
        processor config (by earlier vlmr1 versions, on a machine without torchvision)."""
        if self.stock_processor() is not None:
            from vlmr1_cli.models.processor_compat import has_video_config

            if not has_video_config(path):
                return self.image_only_processor_class()
        return self.processor_class()

    def load_processor(self, path: str, limits: PixelLimits | None = None, **kwargs: Any) -> Any:
        kwargs.setdefault("local_files_only", True)
        proc = self.processor_class_for(path).from_pretrained(
            path, **self.processor_kwargs(limits), **kwargs
        )
        tok = getattr(proc, "tokenizer", None)
        if tok is not None:
            tok.padding_side = "left"  # generation and TRL need left padding
            # Loader arguments would otherwise be saved into every tokenizer_config.json.
            for key in ("local_files_only", "is_local"):
                tok.init_kwargs.pop(key, None)
        return proc

    def processor_kwargs(self, limits: PixelLimits | None) -> dict:
        """Keyword arguments for `AutoProcessor.from_pretrained` that pin the resize settings."""
        return {}

    def vllm_processor_kwargs(self, limits: PixelLimits) -> dict:
        """vLLM's `mm_processor_kwargs` pinning the same resize as training (Qwen-style limits)."""
        return {"min_pixels": limits.min_pixels, "max_pixels": limits.max_pixels}

    # ---- the vision tower on a text-only batch ---------------------------------------
    def dummy_vision_inputs(self, processor: Any, device: Any, dtype: Any) -> dict:
        """The smallest input the vision tower accepts (one image of one patch group, all
        zeros), as keyword arguments of the model's `get_image_features`. Run on a rank whose
        batch has no image, so that ZeRO-3 and FSDP gather the tower's parameters on every rank
        (train/vision_keepalive.py); its contribution to the loss is multiplied by zero."""
        raise NotImplementedError(
            f"{self.name}: no dummy vision input (text-only batches under "
            "ZeRO-3/FSDP beside image batches are not supported)"
        )

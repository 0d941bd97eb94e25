"""SmolVLM2 (`model_type` "smolvlm"): Idefics3's tiling family under its own classes.

Everything that decides a box is inherited from `Idefics3` (idefics3.py): the 0-1000 `bbox_2d`
frame relative to the original image, the pixel limits (`factor` = tile edge T, `longest_edge`
= L) and the input size. transformers' `SmolVLMImageProcessor` (PIL backend without
torchvision) is the Idefics3 image processor renamed, with the same defaults, and
`SmolVLMForConditionalGeneration` keeps Idefics3's module names (`model.vision_model`,
`model.connector`, `model.text_model`, `lm_head`), so the freezing prefixes carry over.

Processor. `SmolVLMProcessor` requires a video processor, which transformers cannot build
without torchvision, and the `num2words` package (it spells out video frame counts). Without
torchvision vlmr1 loads an image-only subclass instead, as it does for the Qwen processors
(processor_compat.py); with torchvision the stock class is used.
"""

from __future__ import annotations

import functools
from typing import Any

from vlmr1_cli.models.idefics3 import Idefics3
from vlmr1_cli.models.processor_compat import SavesVideoEntry
from vlmr1_cli.models.registry import register_family


@functools.cache
def smolvlm_image_only_class(video_processor_type: str) -> Any:
    """`SmolVLMProcessor` without its video processor (processor_compat.py)."""
    from transformers import SmolVLMProcessor
    from transformers.processing_utils import ProcessorMixin

    class ImageOnly(SavesVideoEntry, SmolVLMProcessor):
        # `image_seq_len` stays in the signature: transformers saves only the constructor's
        # arguments, and a reloaded processor must keep the model's tokens per tile.
        def __init__(
            self,
            image_processor=None,
            tokenizer=None,
            image_seq_len: int = 169,
            chat_template=None,
            **kwargs,
        ):
            SmolVLMProcessor.__init__(
                self,
                image_processor,
                tokenizer,
                None,
                image_seq_len=image_seq_len,
                chat_template=chat_template,
                **kwargs,
            )

        def apply_chat_template(self, *args: Any, **kwargs: Any) -> Any:
            # SmolVLMProcessor's override only adds frame-sampling defaults read from the
            # video processor, which this class does not have.
            return ProcessorMixin.apply_chat_template(self, *args, **kwargs)

    # Saved as `processor_class`, so the folder also loads with the stock class elsewhere.
    ImageOnly.__name__ = ImageOnly.__qualname__ = SmolVLMProcessor.__name__
    ImageOnly.__module__ = __name__
    ImageOnly.video_processor_type = video_processor_type
    return ImageOnly


class SmolVLM(Idefics3):
    name = "smolvlm"
    model_types = ("smolvlm",)
    video_processor_type = "SmolVLMVideoProcessor"

    def stock_processor(self) -> tuple[Any, Any]:
        from transformers import SmolVLMConfig, SmolVLMProcessor

        return SmolVLMConfig, SmolVLMProcessor

    def image_only_processor_class(self) -> Any:
        return smolvlm_image_only_class(self.video_processor_type)


SMOLVLM = register_family(SmolVLM())

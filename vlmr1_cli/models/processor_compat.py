"""Processors that work with and without torchvision, and folders that load on both.

transformers 5 builds the Qwen-VL, SmolVLM and InternVL processors with a video processor, and every
video processor needs torchvision, which the CPU environment cannot have (docs/environment.md §2).
There vlmr1 uses an image-only subclass of the stock processor. Two things follow:

- Saving. The image-only class has no video processor to save, and the stock class refuses a
  folder without a video-processor config ("Can't load video processor"): a model trained on
  a CPU would not load on a GPU machine with torchvision, in vlmr1, vLLM or plain
  transformers. The image-only class therefore saves the entry the stock class expects, naming
  the family's video processor (its class defaults, as a fresh stock processor has).
- Loading. Folders written before that fix lack the entry. Where torchvision works they load
  with the image-only class (vlmr1 feeds images only) instead of failing.
"""

from __future__ import annotations

import functools
import importlib.util
import json
from pathlib import Path
from typing import Any

from vlmr1_cli.errors import UserError

VIDEO_KEY = "video_processor"
VIDEO_CONFIG = "video_preprocessor_config.json"
PROCESSOR_CONFIG = "processor_config.json"
LEGACY_IMAGE_CONFIG = "preprocessor_config.json"  # AutoVideoProcessor falls back to it


@functools.cache
def torchvision_usable() -> bool:
    if importlib.util.find_spec("torchvision") is None:
        return False
    try:
        import torchvision  # noqa: F401
    except Exception:  # a CUDA-linked torchvision beside a CPU torch fails at import
        return False
    return True


class SavesVideoEntry:
    """Mixin for image-only processors: `to_dict` (hence `save_pretrained`) names the video
    processor the stock class would have saved. Set `video_processor_type` on the subclass."""

    video_processor_type: str

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()  # type: ignore[misc]
        # The type alone: AutoVideoProcessor builds the class defaults from it.
        out.setdefault(VIDEO_KEY, {"video_processor_type": self.video_processor_type})
        return out


@functools.cache
def image_only_class(processor_cls: Any, video_processor_type: str) -> Any:
    """A subclass of `processor_cls` whose constructor takes no video processor (the processor
    machinery then treats it as image+text only) and which saves a loadable video entry."""

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        processor_cls.__init__(
            self, image_processor, tokenizer, None, chat_template=chat_template, **kwargs
        )

    # Named like the stock class: `processor_class` is saved, so the folder loads with it elsewhere.
    return type(
        processor_cls.__name__,
        (SavesVideoEntry, processor_cls),
        {
            "__init__": __init__,
            "__module__": __name__,
            "video_processor_type": video_processor_type,
        },
    )


def for_this_environment(config_cls: Any, processor_cls: Any, image_only: Any) -> Any:
    """The stock class where torchvision works; otherwise `image_only`, registered with
    AutoProcessor for the config so every AutoProcessor load picks it."""
    if torchvision_usable():
        return processor_cls
    from transformers import AutoProcessor

    AutoProcessor.register(config_cls, image_only, exist_ok=True)
    return image_only


def has_video_config(path: str | Path) -> bool:
    """Whether a checkpoint folder holds a config AutoVideoProcessor can build from. Anything
    that is not a local folder (a Hub id) is assumed complete, as published checkpoints are."""
    folder = Path(path)
    if not folder.is_dir():
        return True
    if (folder / VIDEO_CONFIG).is_file() or (folder / LEGACY_IMAGE_CONFIG).is_file():
        return True
    cfg = folder / PROCESSOR_CONFIG
    if not cfg.is_file():
        return False
    try:
        return VIDEO_KEY in json.loads(cfg.read_text(encoding="utf-8"))
    except (ValueError, TypeError, OSError):
        return True  # let transformers report the broken file


def check_vllm_loadable(family: Any, *folders: str | Path) -> None:
    """vLLM builds the stock processor, which needs a video-processor config that folders
    saved before the fix lack: one line naming the folder and the fix, before vLLM starts."""
    if family.stock_processor() is None:
        return
    for folder in dict.fromkeys(str(f) for f in folders):
        if not has_video_config(folder):
            raise UserError(
                f"{folder}: saved without a video-processor config (an earlier vlmr1 on a machine "
                f"without torchvision), which vLLM needs; re-save it with "
                f"`vlmr1 export --checkpoint {folder} --output NEW_DIR`"
            )

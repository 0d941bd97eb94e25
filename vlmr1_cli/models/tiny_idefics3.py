"""Build a randomly initialised Idefics3 (the SmolVLM v1 architecture) of a preset's size.

The preset's pixel limits follow the Idefics3 family's mapping: `min_pixels` is one tile
(T^2) and `max_pixels` the largest resized image (L^2, L = the longest edge), so a 32^2 / 64^2
preset cuts an image into at most 2 x 2 tiles of 32 px plus a 32 px global view. With patch 8
and pixel-shuffle factor 2, each tile costs (32 / 8)^2 / 2^2 = 4 image tokens.

The tokenizer is the shared tiny BPE plus Idefics3's image tokens (`<fake_token_around_image>`,
`<image>`, `<global-img>`, `<row_R_col_C>`) and `<end_of_utterance>`, which ends a turn (eos).

SmolVLM2 (`tiny-smolvlm2`) is the same architecture under other class names, so both presets
come from one builder; SmolVLM2's processor is built image-only (processor_compat.py).
"""

from __future__ import annotations

import math
from pathlib import Path

from vlmr1_cli.models.tiny_configs import text_config, vit_config
from vlmr1_cli.models.tiny_save import save_tiny
from vlmr1_cli.models.tiny_tokenizer import build_tokenizer

PATCH = 8
SCALE_FACTOR = 2
END_OF_UTTERANCE = "<end_of_utterance>"
IMAGE_TOKENS = [
    "<fake_token_around_image>",
    "<image>",
    "<global-img>",
    *(f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7)),
]

# SmolVLM's chat format: "<|im_start|>User:<image>text<end_of_utterance>\nAssistant:".
CHAT_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{ message['role'] | capitalize }}"
    "{% if message['content'] is string %}{{ ': ' + message['content'] }}{% else %}"
    "{% if message['content'][0]['type'] == 'image' %}{{ ':' }}{% else %}{{ ': ' }}{% endif %}"
    "{% for part in message['content'] %}{% if part['type'] == 'text' %}{{ part['text'] }}"
    "{% elif part['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}{% endif %}"
    "<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)


def _build_tiling(
    preset, output: Path, seed: int, config_cls, model_cls, image_processor_cls, processor_cls
) -> Path:
    """The Idefics3-architecture model and processor of a preset, saved like a checkpoint."""
    import torch

    tile, longest = math.isqrt(preset.min_pixels), math.isqrt(preset.max_pixels)
    tok = build_tokenizer(seed=seed, vocab_size=preset.vocab)
    tok.add_tokens([*IMAGE_TOKENS, END_OF_UTTERANCE], special_tokens=True)
    tok.eos_token = END_OF_UTTERANCE
    tok.chat_template = CHAT_TEMPLATE
    config = config_cls(
        text_config=text_config(preset, tok, model_type="llama"),
        vision_config=vit_config(preset, image_size=tile, patch_size=PATCH),
        scale_factor=SCALE_FACTOR,
        image_token_id=tok.convert_tokens_to_ids("<image>"),
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    model = model_cls(config)
    image_processor = image_processor_cls(
        size={"longest_edge": longest},
        max_image_size={"longest_edge": tile},
        do_image_splitting=True,
    )
    processor = processor_cls(
        image_processor=image_processor,
        tokenizer=tok,
        image_seq_len=(tile // PATCH) ** 2 // SCALE_FACTOR**2,
        chat_template=CHAT_TEMPLATE,
    )
    return save_tiny(
        model, processor, [tok.eos_token_id, tok.pad_token_id], tok.pad_token_id, output
    )


def build_tiny_idefics3(preset, output: Path, seed: int = 0) -> Path:
    from transformers import Idefics3Config, Idefics3ForConditionalGeneration, Idefics3Processor
    from transformers.models.idefics3.image_processing_pil_idefics3 import Idefics3ImageProcessorPil

    return _build_tiling(
        preset,
        output,
        seed,
        Idefics3Config,
        Idefics3ForConditionalGeneration,
        Idefics3ImageProcessorPil,
        Idefics3Processor,
    )


def build_tiny_smolvlm2(preset, output: Path, seed: int = 0) -> Path:
    from transformers import SmolVLMConfig, SmolVLMForConditionalGeneration
    from transformers.models.smolvlm.image_processing_pil_smolvlm import SmolVLMImageProcessorPil

    from vlmr1_cli.models.smolvlm import SMOLVLM

    # Image-only with or without torchvision: it saves the video entry the stock class needs.
    return _build_tiling(
        preset,
        output,
        seed,
        SmolVLMConfig,
        SmolVLMForConditionalGeneration,
        SmolVLMImageProcessorPil,
        SMOLVLM.image_only_processor_class(),
    )

"""Build a randomly initialised InternVL (`InternVLForConditionalGeneration`) of a preset's size.

The preset's pixel limits follow the InternVL family's mapping (internvl.py): `min_pixels` is
one tile (T^2) and `max_pixels` the most tiles (max_patches * T^2), so a 32^2 / 4 * 32^2
preset cuts an image into at most 4 tiles of 32 px plus a 32 px thumbnail. With patch 8 and
downsample ratio 0.5 (pixel shuffle), each tile costs (32 / 8)^2 * 0.5^2 = 4 image tokens.

The text model is a tiny Qwen2, as in InternVL3. The tokenizer is the shared tiny BPE plus
InternVL's tokens: `<img>`, `</img>`, `<IMG_CONTEXT>` (the image token the processor expands to
`<img>` + image_seq_length x tiles `<IMG_CONTEXT>` + `</img>`), `<video>`, and the grounding
tags `<ref>`, `</ref>`, `<box>`, `</box>`, `<quad>`, `</quad>`, all special. The processor finds
the image tokens through the tokenizer's named tokens (`start_image_token`, `end_image_token`,
`context_image_token`, `video_token`), saved in tokenizer_config.json as the Hub checkpoints do.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

from vlmr1_cli.models.tiny_configs import text_config, vit_config
from vlmr1_cli.models.tiny_save import save_tiny
from vlmr1_cli.models.tiny_tokenizer import build_tokenizer

PATCH = 8
DOWNSAMPLE_RATIO = 0.5
# The tokenizer attributes InternVLProcessor reads, with InternVL's token strings.
NAMED_TOKENS = {
    "start_image_token": "<img>",
    "end_image_token": "</img>",
    "context_image_token": "<IMG_CONTEXT>",
    "video_token": "<video>",
}
GROUNDING_TOKENS = ["<quad>", "</quad>", "<ref>", "</ref>", "<box>", "</box>"]
# ImageNet normalisation, as InternVL's image processor config.
IMAGE_MEAN, IMAGE_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]

# InternVL's -hf chat format: ChatML turns, an image written as `<IMG_CONTEXT>` and a newline.
# (The Hub templates also add InternVL's default system message; a tiny vocabulary has no use
# for it.)
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for part in message['content'] %}{% if part['type'] == 'image' %}{{ '<IMG_CONTEXT>\n' }}"
    "{% elif part['type'] == 'video' %}{{ '<video>\n' }}"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}"
    "<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def _internvl_tokenizer(seed: int, vocab_size: int):
    """The tiny BPE with InternVL's tokens; the named ones go through `from_pretrained`, the
    public way to give a tokenizer model-specific token attributes."""
    from transformers import Qwen2Tokenizer

    tok = build_tokenizer(seed=seed, vocab_size=vocab_size)
    tok.add_tokens([*NAMED_TOKENS.values(), *GROUNDING_TOKENS], special_tokens=True)
    tok.chat_template = CHAT_TEMPLATE
    with tempfile.TemporaryDirectory(prefix="vlmr1-internvl-tok-") as folder:
        tok.save_pretrained(folder)
        named = Qwen2Tokenizer.from_pretrained(
            folder, extra_special_tokens=dict(NAMED_TOKENS), local_files_only=True
        )
    for key in ("local_files_only", "is_local"):  # loader arguments, not tokenizer settings
        named.init_kwargs.pop(key, None)
    return named


def build_tiny_internvl(preset, output: Path, seed: int = 0) -> Path:
    import torch
    from transformers import InternVLConfig, InternVLForConditionalGeneration
    from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import GotOcr2ImageProcessorPil

    from vlmr1_cli.models.internvl import INTERNVL

    tile = math.isqrt(preset.min_pixels)
    max_patches = preset.max_pixels // (tile * tile)
    tok = _internvl_tokenizer(seed, preset.vocab)
    image_seq_length = int((tile // PATCH) ** 2 * DOWNSAMPLE_RATIO**2)
    config = InternVLConfig(
        text_config=text_config(preset, tok, model_type="qwen2"),
        vision_config=vit_config(preset, image_size=tile, patch_size=PATCH),
        downsample_ratio=DOWNSAMPLE_RATIO,
        image_token_id=tok.context_image_token_id,
        image_seq_length=image_seq_length,
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    model = InternVLForConditionalGeneration(config)
    # transformers starts the vision position embeddings at zero (checkpoints overwrite them);
    # a random model needs them random, or no tile position could be told from another.
    with torch.no_grad():
        torch.nn.init.normal_(model.model.vision_tower.embeddings.position_embeddings, std=0.02)
    image_processor = GotOcr2ImageProcessorPil(
        size={"height": tile, "width": tile},
        crop_to_patches=True,
        min_patches=1,
        max_patches=max_patches,
        image_mean=IMAGE_MEAN,
        image_std=IMAGE_STD,
    )
    # Image-only with or without torchvision: it saves the video entry the stock class needs.
    processor_cls = INTERNVL.image_only_processor_class()
    processor = processor_cls(
        image_processor=image_processor,
        tokenizer=tok,
        image_seq_length=image_seq_length,
        chat_template=CHAT_TEMPLATE,
    )
    eos_ids = [tok.eos_token_id, tok.pad_token_id]
    return save_tiny(model, processor, eos_ids, tok.pad_token_id, output)

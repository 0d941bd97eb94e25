"""The preset-sized config sections every tiny builder shares: a text decoder and a ViT.

Each builder adds its family's own keys (rope, tokens, projector) around these; the sizes
come from the preset alone, so every family's tiny model of one preset is the same size.
"""

from __future__ import annotations

from typing import Any


def padded_vocab(tok) -> int:
    """The tokenizer's length rounded up to a multiple of 64 (embedding rows, as real models)."""
    return ((len(tok) + 63) // 64) * 64


def text_config(preset, tok, **family: Any) -> dict[str, Any]:
    """The text model's section: the preset's sizes, tied embeddings, the tokenizer's eos/pad;
    `family` adds or overrides keys (model_type, rope_parameters, ...)."""
    return dict(
        vocab_size=padded_vocab(tok),
        hidden_size=preset.hidden,
        intermediate_size=preset.intermediate,
        num_hidden_layers=preset.layers,
        num_attention_heads=preset.heads,
        num_key_value_heads=preset.kv_heads,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        bos_token_id=None,
        **family,
    )


def vit_config(preset, image_size: int, patch_size: int) -> dict[str, Any]:
    """A SigLIP/InternViT-style vision section (hidden_size, num_hidden_layers, ...) of the
    preset's vision size: 2 heads, MLP twice the width, one tile of `image_size` pixels."""
    return dict(
        hidden_size=preset.vision_hidden,
        intermediate_size=preset.vision_hidden * 2,
        num_hidden_layers=preset.vision_depth,
        num_attention_heads=2,
        image_size=image_size,
        patch_size=patch_size,
    )

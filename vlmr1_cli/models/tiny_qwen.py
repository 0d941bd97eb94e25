"""Build a randomly initialised Qwen2.5-VL of a preset's size (docs/environment.md §3)."""

from __future__ import annotations

from pathlib import Path

from vlmr1_cli.models.tiny_configs import text_config
from vlmr1_cli.models.tiny_save import save_tiny
from vlmr1_cli.models.tiny_tokenizer import build_tokenizer


def tiny_qwen_configs(preset, tok):
    """Text and vision configs; shared by the Qwen2-VL and Qwen2.5-VL builders."""
    head_dim = preset.hidden // preset.heads
    half = head_dim // 2
    # mrope_section must sum to head_dim/2 (temporal, height, width).
    t = half // 2
    mrope = [t, (half - t) // 2 + (half - t) % 2, (half - t) // 2]
    if getattr(preset, "mrope_section", None):
        mrope = list(preset.mrope_section)
        if sum(mrope) != half:
            raise ValueError(f"preset {preset.name}: mrope_section must sum to head_dim/2 = {half}")
    ids = {
        "image_token_id": tok.convert_tokens_to_ids("<|image_pad|>"),
        "video_token_id": tok.convert_tokens_to_ids("<|video_pad|>"),
        "vision_start_token_id": tok.convert_tokens_to_ids("<|vision_start|>"),
        "vision_end_token_id": tok.convert_tokens_to_ids("<|vision_end|>"),
    }
    text = text_config(
        preset,
        tok,
        rope_parameters={
            "rope_type": "default",
            "rope_theta": float(getattr(preset, "rope_theta", 1e6)),
            "mrope_section": mrope,
        },
    )
    return text, ids, text["vocab_size"]


def build_tiny_qwen25vl(preset, output: Path, seed: int = 0) -> Path:
    import torch
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from vlmr1_cli.models.qwen2_5_vl import Qwen25VL

    # Image-only with or without torchvision: it saves the video entry the stock class needs.
    processor_cls = Qwen25VL().image_only_processor_class()
    tok = build_tokenizer(seed=seed, vocab_size=preset.vocab)
    text, ids, _ = tiny_qwen_configs(preset, tok)
    vision = dict(
        depth=preset.vision_depth,
        hidden_size=preset.vision_hidden,
        intermediate_size=preset.vision_hidden * 2,
        num_heads=2,
        patch_size=14,
        spatial_merge_size=2,
        temporal_patch_size=2,
        window_size=112,
        fullatt_block_indexes=[preset.vision_depth - 1],
        out_hidden_size=preset.hidden,
        in_channels=3,
    )
    config = Qwen2_5_VLConfig(
        text_config=text, vision_config=vision, **ids, tie_word_embeddings=True
    )
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(config)
    image_processor = Qwen2VLImageProcessorPil(
        size={"shortest_edge": preset.min_pixels, "longest_edge": preset.max_pixels},
        patch_size=14,
        merge_size=2,
        temporal_patch_size=2,
    )
    processor = processor_cls(
        image_processor=image_processor, tokenizer=tok, chat_template=tok.chat_template
    )
    return save_tiny(
        model, processor, [tok.eos_token_id, tok.pad_token_id], tok.pad_token_id, output
    )

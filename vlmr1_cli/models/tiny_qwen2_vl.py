"""Build a randomly initialised Qwen2-VL of a preset's size (offline, seeded, ~1 s)."""

from __future__ import annotations

from pathlib import Path

from vlmr1_cli.models.tiny_qwen import tiny_qwen_configs
from vlmr1_cli.models.tiny_save import save_tiny
from vlmr1_cli.models.tiny_tokenizer import build_tokenizer


def build_tiny_qwen2vl(preset, output: Path, seed: int = 0) -> Path:
    import torch
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from vlmr1_cli.models.qwen2_vl import QWEN2_VL

    tok = build_tokenizer(seed=seed, vocab_size=preset.vocab)
    text, ids, _ = tiny_qwen_configs(preset, tok)
    # Qwen2-VL's vision config: embed_dim is the tower's width, hidden_size the merger's output.
    vision = dict(
        depth=preset.vision_depth,
        embed_dim=preset.vision_hidden,
        hidden_size=preset.hidden,
        mlp_ratio=2,
        num_heads=2,
        patch_size=QWEN2_VL.patch_size,
        spatial_merge_size=QWEN2_VL.merge_size,
        temporal_patch_size=2,
        in_channels=3,
    )
    config = Qwen2VLConfig(text_config=text, vision_config=vision, **ids, tie_word_embeddings=True)
    torch.manual_seed(seed)
    model = Qwen2VLForConditionalGeneration(config)
    image_processor = Qwen2VLImageProcessorPil(
        size={"shortest_edge": preset.min_pixels, "longest_edge": preset.max_pixels},
        patch_size=QWEN2_VL.patch_size,
        merge_size=QWEN2_VL.merge_size,
        temporal_patch_size=2,
    )
    # Image-only with or without torchvision: it saves the video entry the stock class needs.
    processor = QWEN2_VL.image_only_processor_class()(
        image_processor=image_processor, tokenizer=tok, chat_template=tok.chat_template
    )
    return save_tiny(
        model, processor, [tok.eos_token_id, tok.pad_token_id], tok.pad_token_id, output
    )

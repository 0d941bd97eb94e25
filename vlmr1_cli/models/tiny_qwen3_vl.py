"""Build a randomly initialised Qwen3-VL of a preset's size (offline, seeded, ~1 s).

Differences from the Qwen2/2.5-VL builders: patch 16 (factor 32), an explicit `head_dim`,
interleaved M-RoPE, learned vision position embeddings on a square grid, and one DeepStack
merger feeding the first text layer. The chat template is Qwen2-VL's, which writes the same
`<|vision_start|><|image_pad|><|vision_end|>` block as Qwen3-VL's.
"""

from __future__ import annotations

from pathlib import Path

from vlmr1_cli.models.tiny_qwen import tiny_qwen_configs
from vlmr1_cli.models.tiny_save import save_tiny
from vlmr1_cli.models.tiny_tokenizer import build_tokenizer


def build_tiny_qwen3vl(preset, output: Path, seed: int = 0) -> Path:
    import torch
    from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from vlmr1_cli.models.qwen3_vl import QWEN3_VL

    tok = build_tokenizer(seed=seed, vocab_size=preset.vocab)
    text, ids, _ = tiny_qwen_configs(preset, tok)
    text["head_dim"] = preset.hidden // preset.heads
    text["rope_parameters"] = {**text["rope_parameters"], "mrope_interleaved": True}
    vision = dict(
        depth=preset.vision_depth,
        hidden_size=preset.vision_hidden,
        intermediate_size=preset.vision_hidden * 2,
        num_heads=2,
        patch_size=QWEN3_VL.patch_size,
        spatial_merge_size=QWEN3_VL.merge_size,
        temporal_patch_size=2,
        out_hidden_size=preset.hidden,
        in_channels=3,
        num_position_embeddings=64,
        deepstack_visual_indexes=[preset.vision_depth - 1],
    )
    config = Qwen3VLConfig(text_config=text, vision_config=vision, **ids, tie_word_embeddings=True)
    torch.manual_seed(seed)
    model = Qwen3VLForConditionalGeneration(config)
    image_processor = Qwen2VLImageProcessorPil(
        size={"shortest_edge": preset.min_pixels, "longest_edge": preset.max_pixels},
        patch_size=QWEN3_VL.patch_size,
        merge_size=QWEN3_VL.merge_size,
        temporal_patch_size=2,
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
    )
    # Image-only with or without torchvision: it saves the video entry the stock class needs.
    processor = QWEN3_VL.image_only_processor_class()(
        image_processor=image_processor, tokenizer=tok, chat_template=tok.chat_template
    )
    return save_tiny(
        model, processor, [tok.eos_token_id, tok.pad_token_id], tok.pad_token_id, output
    )

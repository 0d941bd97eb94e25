"""The last step every tiny-preset builder shares: generation settings, then an atomic save."""

from __future__ import annotations

from pathlib import Path

from vlmr1_cli.models.tiny_qwen import _atomic_save


def save_tiny(model, processor, eos_ids: list[int], pad_id: int, output: Path) -> Path:
    """Sampling generation config (as real chat checkpoints ship), then model + processor."""
    from transformers import GenerationConfig

    model.generation_config = GenerationConfig(
        eos_token_id=eos_ids, pad_token_id=pad_id, do_sample=True, temperature=1.0
    )

    def save(folder: Path) -> None:
        model.save_pretrained(folder)
        processor.save_pretrained(folder)

    return _atomic_save(save, output)

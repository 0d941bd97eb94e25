"""The last step every tiny-preset builder shares: generation settings, then an atomic save."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from vlmr1_cli.io import make_temp_dir, share_weight_files


def _atomic_save(build, output: Path) -> Path:
    """Save into a temp folder and rename, so a half-built preset is never picked up."""
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = make_temp_dir(f".{output.name}.", output.parent)  # 0755 under umask 022
    try:
        build(tmp)
        share_weight_files(tmp)
        if output.exists():
            shutil.rmtree(output)
        os.replace(tmp, output)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return output


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

"""Offline model presets: small, randomly initialised, seeded VLMs built locally in a second.

A preset folder is saved exactly like a Hub checkpoint (config, safetensors, tokenizer,
processor, chat template, generation config), so the same loading path serves both.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from vlmr1_cli.errors import UserError


@dataclass(frozen=True)
class Preset:
    name: str
    family: str
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    vision_hidden: int
    vision_depth: int
    min_pixels: int = 56 * 56
    max_pixels: int = 112 * 112
    vocab: int = 600
    description: str = ""
    # Multimodal RoPE: real Qwen models use theta 1e6 over 64 frequencies. With a head of 32
    # the image's height/width sections would get only near-zero frequencies, so a tiny model
    # could not tell where an image token is. Small presets use a low theta and give height
    # and width most of the frequencies.
    rope_theta: float = 1e6
    mrope_section: tuple[int, int, int] | None = None  # None: half to time, rest to h/w


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "tiny-qwen2.5-vl",
            "qwen2_5_vl",
            hidden=64,
            intermediate=128,
            layers=2,
            heads=4,
            kv_heads=2,
            vision_hidden=32,
            vision_depth=2,
            description="0.2 M parameters: tests and quick checks",
        ),
        Preset(
            "small-qwen2.5-vl",
            "qwen2_5_vl",
            hidden=128,
            intermediate=256,
            layers=3,
            heads=4,
            kv_heads=2,
            vision_hidden=64,
            vision_depth=2,
            description="~0.9 M parameters: the offline demo (learns the shapes task on CPU)",
            rope_theta=10.0,
            mrope_section=(2, 7, 7),
        ),
        Preset(
            "tiny-qwen2-vl",
            "qwen2_vl",
            hidden=64,
            intermediate=128,
            layers=2,
            heads=4,
            kv_heads=2,
            vision_hidden=32,
            vision_depth=2,
            description="0.2 M parameters, Qwen2-VL (0-1000 frame): tests",
        ),
        Preset(
            "tiny-qwen3-vl",
            "qwen3_vl",
            hidden=64,
            intermediate=128,
            layers=2,
            heads=4,
            kv_heads=2,
            vision_hidden=32,
            vision_depth=2,
            min_pixels=64 * 64,
            max_pixels=128 * 128,
            description="0.2 M parameters, Qwen3-VL (factor 32, 0-1000 frame): tests",
        ),
        # Idefics3 limits: min_pixels = one 32 px tile, max_pixels = longest edge 64 squared.
        Preset(
            "tiny-idefics3",
            "idefics3",
            hidden=64,
            intermediate=128,
            layers=2,
            heads=4,
            kv_heads=2,
            vision_hidden=32,
            vision_depth=2,
            min_pixels=32 * 32,
            max_pixels=64 * 64,
            description="0.15 M parameters, Idefics3/SmolVLM (tiles, 0-1000 frame): tests",
        ),
        Preset(
            "tiny-smolvlm2",
            "smolvlm",
            hidden=64,
            intermediate=128,
            layers=2,
            heads=4,
            kv_heads=2,
            vision_hidden=32,
            vision_depth=2,
            min_pixels=32 * 32,
            max_pixels=64 * 64,
            description="0.15 M parameters, SmolVLM2 (Idefics3 tiles, 0-1000 frame): tests",
        ),
        # InternVL limits: min_pixels = one 32 px tile, max_pixels = 4 tiles (max_patches 4).
        Preset(
            "tiny-internvl",
            "internvl",
            hidden=64,
            intermediate=128,
            layers=2,
            heads=4,
            kv_heads=2,
            vision_hidden=32,
            vision_depth=2,
            min_pixels=32 * 32,
            max_pixels=4 * 32 * 32,
            description="0.15 M parameters, InternVL3-hf (tiles + thumbnail, 0-1000 frame): tests",
        ),
    )
}


# family -> (module, function) of its tiny builder; imported only when a preset is built.
BUILDERS: dict[str, tuple[str, str]] = {
    "qwen2_5_vl": ("vlmr1_cli.models.tiny_qwen", "build_tiny_qwen25vl"),
    "qwen2_vl": ("vlmr1_cli.models.tiny_qwen2_vl", "build_tiny_qwen2vl"),
    "qwen3_vl": ("vlmr1_cli.models.tiny_qwen3_vl", "build_tiny_qwen3vl"),
    "idefics3": ("vlmr1_cli.models.tiny_idefics3", "build_tiny_idefics3"),
    "smolvlm": ("vlmr1_cli.models.tiny_idefics3", "build_tiny_smolvlm2"),
    "internvl": ("vlmr1_cli.models.tiny_internvl", "build_tiny_internvl"),
}


def resolve_model_path(name_or_path: str, cache_dir: str | os.PathLike[str] | None = None) -> str:
    """A model argument may be a folder or a preset name; presets are built once and cached."""
    if name_or_path.startswith("preset:"):
        name_or_path = name_or_path.split(":", 1)[1]
    if name_or_path in PRESETS:
        default_root = str(Path.home() / ".cache" / "vlmr1" / "presets")
        root = Path(cache_dir or os.environ.get("VLMR1_PRESET_CACHE", default_root))
        target = root / name_or_path
        stamp = target / PRESET_STAMP
        want = preset_fingerprint(PRESETS[name_or_path])
        if (
            not (target / "config.json").is_file()
            or not stamp.is_file()
            or stamp.read_text() != want
        ):
            # First use, or the preset's definition changed: the cache folder is vlmr1's own,
            # so an outdated build goes whole (no file of an older definition lingers).
            if target.exists():
                import shutil

                shutil.rmtree(target)
            # overwrite: another process may have built the same (seeded, identical) files meanwhile
            build_preset(name_or_path, target, overwrite=True)
            stamp.write_text(want)
        return str(target)
    return name_or_path


PRESET_STAMP = "vlmr1_preset.json"


def preset_fingerprint(preset: Preset) -> str:
    import dataclasses
    import json

    return json.dumps(dataclasses.asdict(preset), sort_keys=True)


def build_preset(
    name: str, output: str | os.PathLike, seed: int = 0, overwrite: bool = False
) -> Path:
    """Build preset `name` into folder `output`, staged beside it so a failure leaves nothing.

    A non-empty `output` is refused unless `overwrite`; even then only the files the preset
    writes are replaced: whatever else the folder holds (a run's checkpoints) stays.
    """
    if name not in PRESETS:
        raise UserError(f"unknown preset '{name}' (known: {', '.join(PRESETS)})")
    preset = PRESETS[name]
    if preset.family not in BUILDERS:
        raise UserError(f"preset '{name}': no builder for family '{preset.family}'")
    output = Path(output)
    if output.exists() and not output.is_dir():
        raise UserError(f"{output}: exists and is not a folder")
    if output.is_dir() and any(output.iterdir()) and not overwrite:
        raise UserError(
            f"{output}: folder is not empty (--overwrite replaces the preset's files "
            "in it and keeps the others)"
        )
    import importlib
    import shutil
    import tempfile

    module, func = BUILDERS[preset.family]
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    try:
        built = getattr(importlib.import_module(module), func)(preset, staging / "model", seed)
        if output.is_dir():
            _move_files_into(built, output)
        else:
            try:
                os.replace(built, output)
            except OSError:
                if not (overwrite and output.is_dir()):  # made by another process meanwhile
                    raise
                _move_files_into(built, output)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return output


def _move_files_into(source: Path, target: Path) -> None:
    """Move every file of `source` to the same place under `target`, replacing only those."""
    for path in sorted(source.rglob("*")):
        if path.is_dir():
            continue
        dest = target / path.relative_to(source)
        if dest.is_dir():
            raise UserError(f"{dest}: is a folder where the preset writes a file")
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, dest)

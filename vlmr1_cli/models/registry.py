"""Which family serves a checkpoint: looked up by `config.model_type`."""

from __future__ import annotations

import json
from pathlib import Path

from vlmr1_cli.errors import UserError
from vlmr1_cli.models.base import ModelFamily
from vlmr1_cli.models.qwen2_5_vl import Qwen25VL

_FAMILIES: dict[str, ModelFamily] = {}


def register_family(family: ModelFamily) -> ModelFamily:
    _FAMILIES[family.name] = family
    return family


register_family(Qwen25VL())


def _load_optional_families() -> None:
    # Families added in their own files register themselves on import.
    import importlib

    for mod in ("qwen2_vl", "qwen3_vl", "idefics3", "smolvlm", "internvl"):
        try:
            importlib.import_module(f"vlmr1_cli.models.{mod}")
        except ModuleNotFoundError as e:
            if e.name != f"vlmr1_cli.models.{mod}":
                raise


def families() -> dict[str, ModelFamily]:
    _load_optional_families()
    return dict(_FAMILIES)


def family_by_name(name: str) -> ModelFamily:
    fams = families()
    if name not in fams:
        raise UserError(f"unknown model family '{name}' (known: {', '.join(sorted(fams))})")
    return fams[name]


def family_for_model_type(model_type: str) -> ModelFamily:
    for fam in families().values():
        if model_type in fam.model_types:
            return fam
    known = sorted(t for f in families().values() for t in f.model_types)
    raise UserError(f"model type '{model_type}' is not supported (supported: {', '.join(known)})")


def read_model_type(model_dir: str | Path) -> str:
    cfg = Path(model_dir) / "config.json"
    if not cfg.is_file():
        raise UserError(f"{model_dir}: not a model folder (no config.json)")
    try:
        config = json.loads(cfg.read_text(encoding="utf-8"))
    except (ValueError, RecursionError):  # not UTF-8, not JSON, nested too deeply
        raise UserError(f"{cfg}: unreadable config (not a JSON object)") from None
    if not isinstance(config, dict) or not isinstance(config.get("model_type"), str):
        raise UserError(f"{cfg}: unreadable config (no 'model_type')")
    return config["model_type"]


def family_for_path(model_dir: str | Path) -> ModelFamily:
    return family_for_model_type(read_model_type(model_dir))

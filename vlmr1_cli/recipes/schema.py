"""The recipe's sections and their defaults: what keys a recipe may have."""

from __future__ import annotations

from typing import Any

from vlmr1_cli.prompts import DEFAULT_ANSWER_TEMPLATES, DEFAULT_TEMPLATES

DEFAULTS: dict[str, Any] = {
    "method": "grpo",
    # family/frame: optional expectations (e.g. qwen2_5_vl / qwen25_abs); a checkpoint of
    # another family or frame is then an error before any weights load.
    "model": {
        "path": None,
        "family": None,
        "frame": None,
        "dtype": None,
        "trust_remote_code": False,
        "min_pixels": None,
        "max_pixels": None,
        "attn_implementation": None,
        # A Hub branch, tag or commit for `model.path` given as a repo id.
        "revision": None,
        # A LoRA adapter (folder or Hub id) to train on, unmerged; its base model is
        # model.path if given, else adapter_config.json's (train/model_setup.py).
        "adapter": None,
    },
    "data": {"train": [], "eval": [], "max_samples": None, "seed": 0},
    "prompt": {
        "system": None,
        "templates": dict(DEFAULT_TEMPLATES),  # the paper's (prompts.py)
        "answer_templates": dict(DEFAULT_ANSWER_TEMPLATES),
    },
    "rewards": {},
    "training": {},
    "peft": {
        "enabled": False,
        "r": 8,
        "lora_alpha": 16,
        "lora_dropout": 0.05,
        "target_modules": "all-linear",
        "include_vision": False,
    },
    "freeze": {"vision": False, "language": False},
    # Unset launch keys are left to the accelerate config (or to accelerate's defaults).
    "launch": {
        "num_processes": None,
        "num_machines": None,
        "machine_rank": None,
        "main_process_ip": None,
        "main_process_port": None,
        "config_file": None,
    },
}
SECTIONS = tuple(DEFAULTS)
# Sections whose inner keys are free-form (validated elsewhere).
OPEN_SECTIONS = {"training", "rewards"}
OPEN_SUBKEYS = {("prompt", "templates"), ("prompt", "answer_templates")}
DATA_SOURCE_KEYS = ("path", "image_root", "weight", "max_samples")

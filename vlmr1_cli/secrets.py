"""Secrets a recipe may hold (the Hub token): used in memory, never written or printed.

TRL's `training.hub_token` lets the trainer push to the Hub. Left in the recipe it would reach
`vlmr1_recipe.yaml`, `training_args.bin` (the pickled trainer config), the exported model card,
`--print-config` and the launcher's recipe for worker processes. Instead:

- every dump of a recipe shows `REDACTED` in its place (`redact_recipe`, `redact_recipe_text`);
- the trainer config never gets it: the token goes to this process's `HF_TOKEN`, which
  huggingface_hub reads when the trainer's `hub_token` is unset (`take_hub_token`), and to the
  workers' environment (`hub_token_env`);
- `push` refuses a file holding the token it authenticates with (`file_contains`).

Standard library only at import: the CLI's --help path imports the recipe module.
"""

from __future__ import annotations

import copy
import os
import re
from typing import BinaryIO

# (section, key) of every recipe value that is a secret.
SECRET_KEYS: tuple[tuple[str, str], ...] = (("training", "hub_token"),)
REDACTED = "<redacted>"
TOKEN_ENV = "HF_TOKEN"  # huggingface_hub's own variable, read by every Hub call in the process


def _is_secret_value(value: object) -> bool:
    return isinstance(value, str) and bool(value) and value != REDACTED


def redact_recipe(recipe: dict) -> dict:
    """A copy of `recipe` with every secret that is set replaced by `REDACTED`."""
    out = copy.deepcopy(recipe)
    for section, key in SECRET_KEYS:
        part = out.get(section)
        if isinstance(part, dict) and part.get(key) not in (None, ""):
            part[key] = REDACTED
    return out


def _secret_line(key: str) -> re.Pattern[str]:
    return re.compile(
        rf"^(\s*['\"]?{re.escape(key)}['\"]?\s*:\s*)(?!\s*(?:null|~|''|\"\"|#|$)).+$", re.MULTILINE
    )


def redact_recipe_text(text: str) -> str:
    """A recipe file's text with its secrets redacted: files written by older versions (or by
    hand) may hold the token. Text without secrets is returned unchanged."""
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        data = None
    if isinstance(data, dict):
        redacted = redact_recipe(data)
        if redacted == data:
            return text
        return yaml.safe_dump(redacted, sort_keys=False, allow_unicode=True, width=100)
    # Not a mapping we can read: blank any `hub_token: <value>` line rather than trust it.
    for _, key in SECRET_KEYS:
        text = _secret_line(key).sub(lambda m: m.group(1) + REDACTED, text)
    return text


def recipe_hub_token(training: dict) -> str | None:
    """The Hub token a recipe's `training` section sets, or None (unset, empty, or a redacted
    copy's placeholder)."""
    value = training.get("hub_token")
    return value if _is_secret_value(value) else None


def take_hub_token(training_config: dict) -> None:
    """Remove `hub_token` from a trainer config dict; a real token goes to this process's
    `HF_TOKEN` instead, where the trainer's Hub calls find it (its own `hub_token` stays None).

    The recipe's token replaces an `HF_TOKEN` already set, as TRL's `hub_token` took precedence
    over it: a write token in the recipe must not lose to a read token in the shell.
    """
    value = training_config.pop("hub_token", None)
    if _is_secret_value(value):
        os.environ[TOKEN_ENV] = value


def hub_token_env(training: dict) -> dict[str, str]:
    """Environment entries that hand a recipe's token (from its `training` section) to worker
    processes (none if unset)."""
    token = recipe_hub_token(training)
    return {TOKEN_ENV: token} if token else {}


def file_contains(fh: BinaryIO, secret: str, chunk_size: int = 1 << 20) -> bool:
    """Whether the file's bytes (read from the current position to the end) hold `secret`;
    reads in chunks, overlapping by the secret's length so no occurrence is split."""
    needle = secret.encode("utf-8")
    if not needle:
        return False
    tail = b""
    while True:
        block = fh.read(chunk_size)
        if not block:
            return False
        window = tail + block
        if needle in window:
            return True
        tail = window[-(len(needle) - 1) :] if len(needle) > 1 else b""

"""How much text a record may hold: bounded by the model's context before anything is tokenized.

A tokenizer takes roughly a hundred bytes of memory per character of input: a 200 MB
`problem` made `evaluate` grow to 24 GB until the kernel killed it. No text longer than
`CHARS_PER_TOKEN` characters per token of the model's context can be what a model reads,
so longer text is refused, naming the record, before the tokenizer ever sees it.

The context is the model's `max_position_embeddings` (config.json, its text model's section
first), else the tokenizer's `model_max_length` when it is a real number (transformers puts
1e30 there when unset), else `DEFAULT_CONTEXT_TOKENS`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vlmr1_cli.errors import UserError

CHARS_PER_TOKEN = 8  # a generous ceiling: English averages about 4 characters per token
DEFAULT_CONTEXT_TOKENS = 32768
_UNSET_LENGTH = 10**9  # tokenizers without a real limit report int(1e30)
_TEXT_SECTIONS = ("text_config", "language_config", "llm_config")
# The record keys that become model text (prompt or SFT target), in the order they are named.
TEXT_KEYS = ("problem", "labels", "negatives", "solution")


def context_tokens(model_dir: str | Path | None, processor: Any = None) -> int:
    """The model's context in tokens (see the module doc for where it is read)."""
    from vlmr1_cli.io import read_json_object

    config = Path(model_dir) / "config.json" if model_dir is not None else None
    if config is not None and config.is_file():
        cfg = read_json_object(config)
        sections = [cfg.get(k) for k in _TEXT_SECTIONS if isinstance(cfg.get(k), dict)] + [cfg]
        for section in sections:
            n = section.get("max_position_embeddings")
            if isinstance(n, int) and not isinstance(n, bool) and n > 0:
                return n
    tokenizer = getattr(processor, "tokenizer", processor)
    n = getattr(tokenizer, "model_max_length", None)
    if isinstance(n, int) and 0 < n < _UNSET_LENGTH:
        return n
    return DEFAULT_CONTEXT_TOKENS


def max_text_chars(context: int) -> int:
    return CHARS_PER_TOKEN * int(context)


def _text_chars(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list):  # labels and negatives: every string is listed in the prompt
        return sum(len(v) for v in value if isinstance(v, str))
    return 0


def record_text_problem(rec: dict, context: int) -> str | None:
    """Why `rec` holds more text than a model of `context` tokens can read, or None."""
    limit = max_text_chars(context)
    for key in TEXT_KEYS:
        n = _text_chars(rec.get(key))
        if n > limit:
            return (
                f"key '{key}' holds {n:,} characters, more than a model with a context of "
                f"{context:,} tokens can read (at most {limit:,} characters, {CHARS_PER_TOKEN} per "
                "token, are accepted): shorten the text or leave the record out"
            )
    return None


def check_record_text(rec: dict, location: str, context: int) -> None:
    """One line naming the record (`location`: FILE:LINE) if a text field is too long."""
    why = record_text_problem(rec, context)
    if why is not None:
        rid = rec.get("id")
        tag = f"id '{rid}': " if isinstance(rid, str) and len(rid) <= 200 else ""
        raise UserError(f"{location}: {tag}{why}")


def check_records_text(records: list[dict], path: str | Path, context: int) -> None:
    """`check_record_text` on records from `loader.load_records` (they carry `_line`)."""
    for rec in records:
        check_record_text(rec, f"{path}:{rec.get('_line', '?')}", context)


def check_dataset_text(dataset: Any, context: int, what: str) -> None:
    """The training rows' prompt (and SFT completion) text against the context, read in Arrow
    batches (no Python loop over millions of rows); one line naming the first row too long.

    `what` says where the rows come from (e.g. "recipe: key 'data.train'").
    """
    import numpy as np
    import pyarrow.compute as pc

    limit = max_text_chars(context)
    columns = [c for c in ("prompt", "completion") if c in dataset.column_names]
    table = dataset.select_columns(["id", *columns]).with_format("arrow")
    for batch in table.iter(batch_size=1 << 14):
        for column in columns:
            # every message's content, summed per row: the text one sample feeds the model
            messages = batch[column]
            content = pc.struct_field(pc.list_flatten(messages), "content")
            lengths = pc.fill_null(pc.utf8_length(content), 0).to_numpy(zero_copy_only=False)
            owner = pc.list_parent_indices(messages).to_numpy(zero_copy_only=False)
            per_row = np.bincount(owner, weights=lengths, minlength=len(messages))
            over = np.flatnonzero(per_row > limit)
            if len(over):
                row = int(over[0])
                rid = batch["id"][row].as_py()
                raise UserError(
                    f"{what}: record '{rid}': its {column} holds {int(per_row[row]):,} characters, "
                    f"more than a model with a context of {context:,} tokens can read (at most "
                    f"{limit:,} characters, {CHARS_PER_TOKEN} per token, are accepted): shorten "
                    "the text or leave the record out"
                )

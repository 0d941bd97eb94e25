"""One output helper for every command: rich tables, JSON, and error lines."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Sequence
from pathlib import PurePath
from typing import Any

from vlmr1_cli.progress import info, note  # status lines live below the CLI (rule 1)

__all__ = ["error_line", "info", "note", "print_json", "print_kv", "print_table"]


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 10 else f"{v:.2f}"
    return "" if v is None else str(v)


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for i, col in enumerate(columns):
        # fold, never cut: paths in a table must stay copyable
        table.add_column(col, justify="left" if i == 0 else "right", overflow="fold")
    for row in rows:
        table.add_row(*(_fmt(v) for v in row))
    Console(width=max(100, len(columns) * 14)).print(table)


def print_kv(title: str, mapping: dict) -> None:
    print_table(title, ["key", "value"], [(k, v) for k, v in mapping.items()])


def _path_as_str(obj: Any) -> str:
    if isinstance(obj, PurePath):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def print_json(obj: Any) -> None:
    """The machine-readable result of a command (`--json`): stdout holds this and nothing else."""
    sys.stdout.write(json.dumps(obj, indent=2, ensure_ascii=False, default=_path_as_str) + "\n")


def _end_progress_bars() -> None:
    """Close live tqdm bars (the trainer's, a loader's): a bar leaves the cursor after its
    text, so an error written next would share its line. Closing prints the bar's last state
    and a newline; nothing is imported if tqdm never was."""
    tqdm = sys.modules.get("tqdm")
    for bar in list(getattr(getattr(tqdm, "tqdm", None), "_instances", ()) or ()):
        with contextlib.suppress(Exception):
            bar.close()


def error_line(msg: str) -> None:
    _end_progress_bars()
    sys.stderr.write(f"error: {msg}\n")

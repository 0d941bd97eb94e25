"""Progress bars for long steps and status lines, on stderr so stdout stays clean for `--json`
pipelines."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def bars_enabled() -> bool:
    """Progress bars show on a terminal, unless VLMR1_NO_PROGRESS=1 (workers, tests)."""
    return os.environ.get("VLMR1_NO_PROGRESS") != "1" and sys.stderr.isatty()


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate with a rich progress bar when stderr is a terminal; plain iteration otherwise."""
    if not bars_enabled():
        yield from items
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as progress:
        task = progress.add_task(description, total=total)
        for item in items:
            yield item
            progress.advance(task)


def info(msg: str) -> None:
    """A status line on stderr (keeps stdout clean for JSON)."""
    sys.stderr.write(msg + "\n")


def note(msg: str) -> None:
    """Something the user should know that is not an error (a deprecated name, a fallback)."""
    info(f"note: {msg}")

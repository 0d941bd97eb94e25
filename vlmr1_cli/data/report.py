"""What a conversion did, and where it went: the shared summary and the atomic record sink.

Every importer returns a `Summary`: records written, records (or boxes) skipped by reason,
informational counts (`notes`), the options that shaped the output, and the output paths.
Nothing is dropped without a reason counted here; the CLI prints it as a table and the sink
stores it next to the JSONL (`<output stem>.meta.json`) so the choice that ran is recorded.

`RecordSink` streams records into the JSONL through a temp file. Extra JSON outputs (a COCO
ground-truth file, the meta file) are written into temp files too, and all of them are
renamed into place only when the whole conversion succeeded: an interrupted or failed run
leaves no partial output.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlmr1_cli.data.schema import record_problems
from vlmr1_cli.errors import UserError
from vlmr1_cli.io import atomic_open

_ENCODER = json.JSONEncoder(ensure_ascii=False)  # one instance: json.dumps(..., ensure_ascii=False) builds one per call


@dataclass
class Summary:
    """The outcome of one conversion (returned by every importer)."""

    source: str
    written: int = 0
    skipped: Counter = field(default_factory=Counter)
    notes: Counter = field(default_factory=Counter)
    options: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)

    def skip(self, reason: str, n: int = 1) -> None:
        """Count `n` records (or boxes, if the reason says so) left out for `reason`."""
        self.skipped[reason] += n

    def note(self, what: str, n: int = 1) -> None:
        """Count an informational event (a convention observed, a fallback taken)."""
        self.notes[what] += n

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    def rows(self) -> list[tuple[str, Any]]:
        """(label, value) rows for a summary table, in a stable order."""
        rows: list[tuple[str, Any]] = [("records written", self.written)]
        rows += [(f"skipped: {r}", n) for r, n in sorted(self.skipped.items())]
        rows += [(f"note: {k}", n) for k, n in sorted(self.notes.items())]
        rows += [(f"option: {k}", _show(v)) for k, v in self.options.items()]
        rows += [(f"output: {k}", v) for k, v in self.outputs.items()]
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "written": self.written,
            "skipped": dict(sorted(self.skipped.items())),
            "notes": dict(sorted(self.notes.items())),
            "options": self.options,
            "outputs": self.outputs,
        }


def _show(v: Any) -> str:
    return json.dumps(v, ensure_ascii=False) if not isinstance(v, str) else v


def meta_path(output: str | os.PathLike) -> Path:
    """`out.jsonl` -> `out.meta.json` (the conversion's recorded summary)."""
    p = Path(output)
    return p.with_name(p.stem + ".meta.json") if p.suffix else p.with_name(p.name + ".meta.json")


def relpath_for_record(target: str | os.PathLike, output: str | os.PathLike) -> str:
    """Path of `target` as stored in records: relative to the JSONL's folder (POSIX form)."""
    rel = os.path.relpath(os.path.abspath(target), os.path.dirname(os.path.abspath(output)))
    return rel.replace(os.sep, "/")


class RecordSink:
    """Atomic, streaming JSONL writer that checks every record on the way out.

    Use as a context manager. `write(rec)` refuses a duplicate id or a record that breaks
    schema v1 (a `UserError` naming the record: the upstream data or an option produced it).
    `add_json(path, obj)` queues another output written at commit time. On success, the
    JSONL, the queued JSON files and the meta file are renamed into place together.
    """

    def __init__(self, output: str | os.PathLike, summary: Summary, check: bool = True):
        self.output = Path(output)
        self.summary = summary
        self.check = check
        self._ids: set[str] = set()
        self._extra: list[tuple[Path, Any]] = []
        self._stack = contextlib.ExitStack()
        self._fh = None

    def __enter__(self) -> RecordSink:
        if self.output.exists() and self.output.is_dir():
            raise UserError(f"{self.output}: is a folder; --output must be a file path")
        self._fh = self._stack.enter_context(atomic_open(self.output))
        self.summary.outputs.setdefault("records", str(self.output))
        return self

    def write(self, rec: dict) -> None:
        rid = rec["id"]
        if rid in self._ids:
            raise UserError(f"{self.output}: duplicate record id '{rid}' "
                            f"(from {self.summary.source}; ids must be unique within a file)")
        self._ids.add(rid)
        if self.check:
            problems = record_problems(rec)
            if problems:
                raise UserError(f"record '{rid}' ({self.summary.source}): {problems[0]}")
        self._fh.write(_ENCODER.encode(rec))
        self._fh.write("\n")
        self.summary.written += 1

    def add_json(self, path: str | os.PathLike, obj: Any, role: str) -> None:
        self._extra.append((Path(path), obj))
        self.summary.outputs[role] = str(path)

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            try:
                for path, obj in self._extra:
                    fh = self._stack.enter_context(atomic_open(path))
                    json.dump(obj, fh, ensure_ascii=False)
                    fh.write("\n")
                mpath = meta_path(self.output)
                self.summary.outputs["meta"] = str(mpath)
                fh = self._stack.enter_context(atomic_open(mpath))
                json.dump(self.summary.to_dict(), fh, indent=2, ensure_ascii=False)
                fh.write("\n")
            except BaseException:
                self._stack.__exit__(*sys.exc_info())
                raise
        return bool(self._stack.__exit__(exc_type, exc, tb))


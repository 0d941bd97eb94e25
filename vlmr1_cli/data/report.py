"""What a conversion did, and where it went: the shared summary and the atomic record sink.

Every importer returns a `Summary`: records written, records (or boxes) skipped by reason,
informational counts (`notes`), the options that shaped the output, and the output paths.
Nothing is dropped without a reason counted here; the CLI prints it as a table and the sink
stores it next to the JSONL (`<output stem>.meta.json`) so the choice that ran is recorded.

`RecordSink` streams records into the JSONL through a temp file. Extra JSON outputs (a COCO
ground-truth file, the meta file) are written into temp files too, and all of them are
renamed into place only when the whole conversion succeeded: an interrupted or failed run
leaves no partial output.

A record's `gt_file` must lie in the JSONL's folder or below it (`vlmr1 evaluate` refuses
anything else), so a GT that lies elsewhere is copied beside the JSONL (`gt_file_for`).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from vlmr1_cli.data.coco_json import read_json_file
from vlmr1_cli.data.paths import UnsafePathError, check_relpath, safe_join
from vlmr1_cli.data.schema import record_problems
from vlmr1_cli.errors import UserError
from vlmr1_cli.io import atomic_open

_ENCODER = json.JSONEncoder(
    ensure_ascii=False
)  # one instance: json.dumps(..., ensure_ascii=False) builds one per call


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


def relpath_inside(
    target: str | os.PathLike, output: str | os.PathLike, *, written_here: bool = False
) -> str | None:
    """`target` relative to the JSONL's folder if `vlmr1 evaluate` will read it there, else None.

    Checked as evaluate checks `gt_file` (symlinks resolved, the result must stay in the
    folder or below it). `written_here`: the conversion writes `target` itself, replacing any
    link at that name, so only its folder is resolved.
    """
    folder = os.path.dirname(os.path.abspath(output))
    rel = relpath_for_record(target, output)
    try:
        if not written_here:
            safe_join(folder, rel)
        else:
            check_relpath(rel)
            parent = os.path.dirname(rel)
            if parent:
                safe_join(folder, parent)
    except UnsafePathError:
        return None
    return rel


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
        self._fh: IO[Any] | None = None

    def __enter__(self) -> RecordSink:
        if self.output.exists() and self.output.is_dir():
            raise UserError(f"{self.output}: is a folder; --output must be a file path")
        self._fh = self._stack.enter_context(atomic_open(self.output))
        self.summary.outputs.setdefault("records", str(self.output))
        return self

    def write(self, rec: dict) -> None:
        rid = rec["id"]
        if rid in self._ids:
            raise UserError(
                f"{self.output}: duplicate record id '{rid}' "
                f"(from {self.summary.source}; ids must be unique within a file)"
            )
        self._ids.add(rid)
        if self.check:
            problems = record_problems(rec)
            if problems:
                raise UserError(f"record '{rid}' ({self.summary.source}): {problems[0]}")
        if self._fh is None:
            raise RuntimeError("RecordSink.write() outside its `with` block")
        self._fh.write(_ENCODER.encode(rec))
        self._fh.write("\n")
        self.summary.written += 1

    def add_json(self, path: str | os.PathLike, obj: Any, role: str) -> None:
        self._extra.append((Path(path), obj))
        self.summary.outputs[role] = str(path)

    def gt_file_for(self, source: str | os.PathLike, copy_name: str, role: str) -> str:
        """The `gt_file` of records scored against the COCO file `source`.

        `source` relative to the JSONL's folder when it lies there or below; otherwise
        `copy_name`, a copy of its parsed JSON (segmentations included) written beside the
        JSONL at commit time.
        """
        rel = relpath_inside(source, self.output)
        if rel is not None:
            return rel
        return self.add_gt_copy(copy_name, read_json_file(source, drop_segmentation=False), role)

    def add_gt_copy(self, copy_name: str, gt: Any, role: str) -> str:
        """Queue `gt` as `copy_name` beside the JSONL; return the name for `gt_file`.

        prepare-data has no --overwrite: an existing file of that name is replaced only if an
        earlier conversion to this output wrote it (its meta file lists it) or it already
        holds the same JSON; anything else is refused rather than destroyed.
        """
        path = self.output.with_name(copy_name)
        if os.path.lexists(path) and not self._replaceable(path, gt):
            raise UserError(
                f"{path}: exists and is not a GT copy written for {self.output} "
                "(the GT lies outside the output's folder and is copied there under "
                "this name); move that file away or choose another --output"
            )
        self.add_json(path, gt, role)
        self.summary.note("GT copied beside the output (gt_file must lie in the output's folder)")
        return copy_name

    def _replaceable(self, path: Path, gt: Any) -> bool:
        if path.is_dir():
            return False
        with contextlib.suppress(OSError, ValueError, UserError):
            meta = json.loads(meta_path(self.output).read_text(encoding="utf-8"))
            outputs = meta.get("outputs") if isinstance(meta, dict) else None
            if isinstance(outputs, dict) and any(
                isinstance(v, str) and Path(v).name == path.name for v in outputs.values()
            ):
                return True
        try:
            return read_json_file(path, drop_segmentation=False) == gt
        except (OSError, UserError):
            return False

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

"""File I/O shared by every stage: atomic writes and line-numbered JSONL reading."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vlmr1_cli.errors import UserError

_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows.

    `os.umask` can only be read by setting it: between the set and the restore, a file
    created by another thread would get the temporary mask. Linux exposes the mask in
    /proc/self/status ("Umask:" line, kernel >= 4.7), so read it there; elsewhere fall back
    to set-and-restore, serialised by a lock so one caller never reads another's temporary
    mask (and the temporary mask is the most private one, so a racing file errs closed).
    """
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    with _UMASK_LOCK:
        mask = os.umask(0o077)
        os.umask(mask)
    return mask


def shared_file_mode() -> int:
    """The mode `open()` would give a new file: 0644 under umask 022, 0600 under 077."""
    return 0o666 & ~current_umask()


def shared_dir_mode() -> int:
    """The mode `mkdir` would give a new folder: 0755 under umask 022, 0700 under 077."""
    return 0o777 & ~current_umask()


def make_temp_dir(prefix: str, parent: str | os.PathLike) -> Path:
    """A uniquely named staging folder in `parent`, with the mode `mkdir` would give it.

    `tempfile.mkdtemp` always makes 0700 folders; one renamed into place as an output
    would stay unreadable to the team sharing the parent folder whatever the umask.
    """
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    os.chmod(tmp, shared_dir_mode())
    return tmp


def share_weight_files(folder: str | os.PathLike) -> None:
    """Give the `*.safetensors` files in `folder` the mode `open()` would have.

    safetensors >= 0.8 writes through a temp file created 0600 and renames it into place
    (safetensors issue #782), so every `save_pretrained` leaves weights only their owner can
    read while config.json beside them follows the umask. Symlinks are left alone.
    """
    mode = shared_file_mode()
    for weights in Path(folder).glob("*.safetensors"):
        if weights.is_file() and not weights.is_symlink():
            os.chmod(weights, mode)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8"):
    """Open a temp file next to `path`; rename it over `path` only if the block succeeds.

    An interrupted run leaves the previous file (or nothing) in place, never a partial one.
    The file gets the mode a plain `open()` would (0644 under umask 022): `mkstemp` makes
    it 0600, which a rename would otherwise carry over to the output.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    binary = "b" in mode
    try:
        with os.fdopen(fd, mode, encoding=None if binary else encoding) as fh:
            os.fchmod(fh.fileno(), shared_file_mode())
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> None:
    with atomic_open(path) as fh:
        json.dump(obj, fh, indent=indent, ensure_ascii=False)
        fh.write("\n")


def write_jsonl(path: str | os.PathLike, records) -> int:
    """Stream `records` into `path` atomically; return the number written."""
    n = 0
    with atomic_open(path) as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False))
            fh.write("\n")
            n += 1
    return n


def json_problem(e: ValueError | RecursionError) -> str:
    """Why `json.loads` failed, in words; the caller prefixes the file (and line).

    Besides syntax errors (JSONDecodeError, which has a position), Python's parser raises a
    plain ValueError for an integer over 4,300 digits and RecursionError for nesting deeper
    than the interpreter's recursion limit (about 1,000 levels); neither says where.
    """
    if isinstance(e, json.JSONDecodeError):
        return f"invalid JSON: {e.msg}"
    if isinstance(e, RecursionError):
        return "invalid JSON: nested deeper than the JSON parser allows"
    if "digits" in str(e):
        return f"invalid JSON: an integer has more than {sys.get_int_max_str_digits()} digits"
    return f"invalid JSON: {e}"


def read_json(path: str | os.PathLike) -> Any:
    """Load a JSON file; any failure is a one-line UserError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: file not found")
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except UnicodeDecodeError as e:
        raise UserError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise UserError(f"{path}:{e.lineno}: {json_problem(e)}") from None
    except (ValueError, RecursionError) as e:
        raise UserError(f"{path}: {json_problem(e)}") from None


def read_json_object(path: str | os.PathLike) -> dict:
    """A JSON file that must hold one object (metadata, configs); one-line errors."""
    path = Path(path)
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise UserError(f"{path}: invalid JSON (not UTF-8 text)") from None
    except (ValueError, RecursionError) as e:
        raise UserError(f"{path}: {json_problem(e)}") from None
    if not isinstance(obj, dict):
        raise UserError(f"{path}: expected a JSON object")
    return obj


def iter_jsonl(path: str | os.PathLike) -> Iterator[tuple[int, dict]]:
    """Yield `(line_number, object)` for each non-blank line; errors name `FILE:LINE`."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: file not found")
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise UserError(f"{path}:{lineno}: not UTF-8 text (byte {e.start})") from None
            try:
                obj = json.loads(text)
            except (ValueError, RecursionError) as e:
                raise UserError(f"{path}:{lineno}: {json_problem(e)}") from None
            if not isinstance(obj, dict):
                raise UserError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
            yield lineno, obj

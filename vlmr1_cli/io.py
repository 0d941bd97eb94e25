"""File I/O shared by every stage: atomic writes and line-numbered JSONL reading."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import socket
import sys
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

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


# --- temp files and write errors --------------------------------------------------------------

TEMP_SUFFIX = ".tmp"
LEGACY_TEMP_AGE_S = 24 * 3600  # temp files of vlmr1 versions that did not tag them with a pid
_LEGACY_TEMP = re.compile(r"^[a-z0-9_]{8}$")  # tempfile's random part: what they were named with
# Keyed by OSError.errno, which is None for errors raised without one.
_WRITE_REASONS: dict[int | None, str] = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file too large for the file system",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EISDIR: "it is a folder",
    errno.ENAMETOOLONG: "file name too long",
    errno.EIO: "input/output error (failing disk or lost network mount?)",
}
# What a write to an open file can raise; a block's other OSErrors (reading an input) are not ours.
_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO})
# What main() turns into one line wherever it comes from (a safety net: atomic_open says more):
# a full disk, a read-only or unwritable folder, a file where a folder should be.
FS_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.ENOTDIR, errno.EEXIST}
)


def _host_tag() -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", socket.gethostname())[:16] or "host"


def temp_prefix(name: str) -> str:
    """`.NAME.<host>-<pid>.`: a temp name says which process made it, so a later run can tell
    the leftovers of a killed run (its process gone) from the work of a running one."""
    return f".{name}.{_host_tag()}-{os.getpid()}."


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, another user's
        return True
    return True


def _stale(entry: os.DirEntry, name: str, now: float) -> bool:
    prefix = f".{name}."
    if not (entry.name.startswith(prefix) and entry.name.endswith(TEMP_SUFFIX)):
        return False
    rest = entry.name[len(prefix) : -len(TEMP_SUFFIX)]
    owner, dot, _random = rest.rpartition(".")
    if not dot:  # an untagged temp of an older vlmr1: stale once it is a day old
        try:
            return (
                bool(_LEGACY_TEMP.match(rest))
                and now - entry.stat(follow_symlinks=False).st_mtime > LEGACY_TEMP_AGE_S
            )
        except OSError:
            return False
    host, _, pid = owner.rpartition("-")
    # Only this machine's processes can be asked whether they live (a shared folder may hold
    # another machine's temp files); a pid that is alive may be a running writer.
    return (
        host == _host_tag() and pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid))
    )


def remove_stale_temps(folder: str | os.PathLike[str], name: str) -> list[Path]:
    """Remove the temp files and folders (`.NAME.<host>-<pid>.<random>.tmp`) that killed runs
    of this machine left in `folder` for target `name`; returns what was removed. Best effort:
    a folder that cannot be listed or an entry that cannot be removed is left alone."""
    import shutil
    import time

    removed: list[Path] = []
    now = time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if not _stale(entry, name, now):
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
        except OSError:
            continue
        removed.append(Path(entry.path))
    return removed


def _blocking_file(path: Path) -> Path | None:
    """The first ancestor of `path` that exists but is not a folder (ENOTDIR's culprit)."""
    for parent in reversed(path.parents):
        if parent.exists() and not parent.is_dir():
            return parent
    return None


def write_problem(path: str | os.PathLike, e: OSError) -> str:
    """One line: why `path` cannot be written, from the OSError that said so."""
    path = Path(path)
    if e.errno in (errno.ENOTDIR, errno.EEXIST):
        blocker = _blocking_file(path)
        if blocker is not None:
            return f"{path}: cannot write: {blocker} is a file, where a folder is needed"
    reason = _WRITE_REASONS.get(e.errno) or (e.strerror or str(e)).lower()
    return f"{path}: cannot write ({reason})"


def os_error_line(e: OSError) -> str:
    """main()'s safety net: an OSError that escaped the code that should have worded it."""
    if e.filename and e.errno in (errno.ENOTDIR, errno.EEXIST):
        path = Path(os.fsdecode(e.filename))
        blocker = path if path.exists() and not path.is_dir() else _blocking_file(path)
        if blocker is not None:
            return f"{path}: {'' if blocker == path else f'{blocker} '}is a file, where a folder is needed"
    reason = _WRITE_REASONS.get(e.errno) or (e.strerror or str(e)).lower()
    return f"{e.filename}: {reason}" if e.filename else reason


def wrapped_os_error(e: BaseException) -> OSError | None:
    """The file-system fault inside a library's own exception type: safetensors raises
    `SafetensorError("... No space left on device (os error 28)")`, not an OSError."""
    if type(e).__name__ != "SafetensorError":
        return None
    found = re.search(r"\(os error (\d+)\)", str(e))
    if not found or int(found.group(1)) not in FS_ERRNOS:
        return None
    code = int(found.group(1))
    return OSError(code, os.strerror(code))


def make_parent(path: str | os.PathLike) -> list[Path]:
    """Create the folder `path` goes into; one line naming it if that is impossible. Returns
    the folders created, deepest first (for `remove_created` after a failed write)."""
    path = Path(path)
    missing = [p for p in path.parents if not p.exists()]  # deepest first
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        remove_created(missing)
        raise UserError(write_problem(path, e)) from None
    return missing


def remove_created(folders: list[Path]) -> None:
    """Remove the folders a failed write created (deepest first), those still empty only."""
    for folder in folders:
        with contextlib.suppress(OSError):
            folder.rmdir()


def staging_dir(parent: str | os.PathLike, name: str) -> Path:
    """A fresh, empty folder `.NAME.<host>-<pid>.<random>.tmp` in `parent` to build `name` in
    (then renamed or moved into place); the stale ones of killed runs are removed first."""
    parent = Path(parent)
    created = make_parent(parent / name)
    remove_stale_temps(parent, name)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(name), suffix=TEMP_SUFFIX, dir=parent))
        os.chmod(tmp, shared_dir_mode())
    except OSError as e:
        remove_created(created)
        raise UserError(write_problem(parent / name, e)) from None
    return tmp


@contextlib.contextmanager
def atomic_open(
    path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8"
) -> Iterator[IO[Any]]:
    """Open a temp file next to `path`; rename it over `path` only if the block succeeds.

    An interrupted run leaves the previous file (or nothing) in place, never a partial one,
    and the temp file is removed on failure; one left by a killed run (its process gone) is
    removed by the next write of the same file. The file gets the mode a plain `open()`
    would (0644 under umask 022): `mkstemp` makes it 0600, which a rename would otherwise
    carry over to the output. A full disk, a read-only or unwritable folder, a file where a
    folder should be or a folder where the file should be: one UserError line naming `path`.
    """
    path = Path(path)
    if path.is_dir():
        raise UserError(
            f"{path}: is a folder; a file is written here (name the file, not its folder)"
        )
    created = make_parent(path)
    remove_stale_temps(path.parent, path.name)
    try:
        fd, tmp = tempfile.mkstemp(
            prefix=temp_prefix(path.name), suffix=TEMP_SUFFIX, dir=path.parent
        )
    except OSError as e:
        remove_created(created)
        raise UserError(write_problem(path, e)) from None
    binary = "b" in mode
    in_block = False
    try:
        with os.fdopen(fd, mode, encoding=None if binary else encoding) as fh:
            os.fchmod(fh.fileno(), shared_file_mode())
            in_block = True
            yield fh
            in_block = False
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        remove_created(created)  # a failed write leaves no empty folder behind either
        # Our own calls' errors, and the block's writes to `fh` (no file name: a buffered
        # write to this file); any other OSError of the block is the caller's to word.
        if isinstance(e, OSError) and (
            not in_block or (e.errno in _WRITE_ERRNOS and e.filename is None)
        ):
            raise UserError(write_problem(path, e)) from None
        raise


def write_json(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> None:
    with atomic_open(path) as fh:
        json.dump(obj, fh, indent=indent, ensure_ascii=False)
        fh.write("\n")


def write_jsonl(path: str | os.PathLike, records: Iterable[Any]) -> int:
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
                raise UserError(
                    f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}"
                )
            yield lineno, obj

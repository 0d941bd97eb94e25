"""One output folder is used by one run at a time: an exclusive lock on `OUTPUT/.vlmr1.lock`.

The lock is `fcntl.flock` on that file, which holds the holder's pid, host, start time and
command. A second run on the folder fails at once with one line naming the holder. The
kernel releases a flock when its holder dies, even by SIGKILL, so a lock file left behind
is stale by construction: the next run takes it over and says whose it was. A run that
ends normally removes the file (and the folder, if it created it and nothing else was
written there).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from vlmr1_cli.errors import UserError

LOCK_FILE = ".vlmr1.lock"


def describe(holder: dict) -> str:
    """`pid N on HOST (started TIME: COMMAND)` from a lock file's contents."""
    host = (
        f" on {holder['host']}"
        if holder.get("host") and holder["host"] != socket.gethostname()
        else ""
    )
    command = f": {holder['command']}" if holder.get("command") else ""
    return f"pid {holder.get('pid', '?')}{host} (started {holder.get('started', '?')}{command})"


def _read_holder(fd: int) -> dict:
    with contextlib.suppress(OSError, ValueError):
        data = json.loads(os.pread(fd, 65536, 0).decode("utf-8"))
        if isinstance(data, dict):
            return data
    return {}


def _command() -> str:
    name = Path(sys.argv[0]).name if sys.argv else "python"
    text = " ".join([name, *sys.argv[1:]])
    return text if len(text) <= 200 else text[:197] + "..."


class FolderLock:
    """The exclusive lock of one output folder; `acquire` raises `UserError` if it is taken."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_FILE
        self.fd: int | None = None
        self.created_folder = False
        self.stale: dict | None = None  # the holder of a lock left behind by a dead run

    def acquire(self) -> FolderLock:
        import fcntl

        if self.folder.exists() and not self.folder.is_dir():
            raise UserError(f"{self.folder}: is a file; the output must be a folder")
        self.created_folder = not self.folder.exists()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UserError(
                f"{self.folder}: cannot create the output folder: {e.strerror or e}"
            ) from None
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            except OSError as e:
                raise UserError(
                    f"{self.path}: cannot open the lock file: {e.strerror or e}"
                ) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_holder(fd)
                os.close(fd)
                raise UserError(
                    f"{self.folder} is in use by {describe(holder)}: one output folder is used by "
                    "one run at a time (wait for it, or choose another output folder)"
                ) from None
            except OSError as e:  # a file system without locks (some network mounts)
                os.close(fd)
                raise UserError(
                    f"{self.path}: cannot lock the output folder: {e.strerror or e}"
                ) from None
            # The holder may have released and removed the file between our open and our flock:
            # then we hold a lock on a file nobody else can see, and must lock the new one.
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        previous = _read_holder(fd)
        self.stale = previous or None
        mine = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "command": _command(),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(mine) + "\n").encode("utf-8"), 0)
        self.fd = fd
        if self.stale:
            from vlmr1_cli.progress import note

            note(f"{self.folder}: stale lock of {describe(self.stale)} removed")
        return self

    def release(self) -> None:
        if self.fd is None:
            return
        # Removed while still held, so no other run can lock this file after we let it go.
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        os.close(self.fd)
        self.fd = None
        if self.created_folder:
            with contextlib.suppress(OSError):  # only if empty: the run wrote nothing
                self.folder.rmdir()

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


@contextlib.contextmanager
def locked_folder(folder: str | os.PathLike) -> Iterator[FolderLock]:
    """Hold `folder`'s lock for the block."""
    with FolderLock(folder) as lock:
        yield lock

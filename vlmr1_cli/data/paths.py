"""Path safety for image paths that come from untrusted files.

Every importer and the loader go through these two functions, so an annotation file can never
make vlmr1 read (or report on) a file outside the image root the user gave.

- `check_relpath(rel)`: lexical check of a path taken from an upstream file, before any image
  root is known (importers): relative, no `..` that climbs above the root, no NUL, no drive.
- `safe_join(root, rel)`: join under a real root and resolve symlinks; the result must stay
  inside the root. Absolute paths are accepted only if they already point inside the root.
"""

from __future__ import annotations

import os
import re

from vlmr1_cli.errors import UserError

_DRIVE = re.compile(r"^[A-Za-z]:")


class UnsafePathError(UserError):
    """An image path that is absolute, malformed, or escapes the image root."""


def _prefix(location: str | None) -> str:
    return f"{location}: " if location else ""


def check_relpath(rel: object, location: str | None = None) -> str:
    """Return `rel` unchanged if it is a safe relative path; raise UnsafePathError otherwise.

    Backslashes count as separators too, so `..\\x` is refused on every platform.
    """
    if not isinstance(rel, str) or not rel.strip():
        raise UnsafePathError(
            f"{_prefix(location)}image path must be a non-empty string, got {rel!r}"
        )
    if "\x00" in rel:
        raise UnsafePathError(f"{_prefix(location)}image path {rel!r} contains a NUL byte")
    norm = rel.replace("\\", "/")
    if norm.startswith("/") or _DRIVE.match(norm):
        raise UnsafePathError(
            f"{_prefix(location)}image path '{rel}' is absolute; "
            "upstream files must name images relative to the image root"
        )
    depth = 0
    for part in norm.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            depth -= 1
            if depth < 0:
                raise UnsafePathError(
                    f"{_prefix(location)}image path '{rel}' escapes the image root"
                )
        else:
            depth += 1
    if depth == 0:
        raise UnsafePathError(f"{_prefix(location)}image path '{rel}' names the image root itself")
    return rel


def safe_join(root: str | os.PathLike, rel: str, location: str | None = None) -> str:
    """Resolve `rel` under `root` (symlinks followed); refuse anything that ends up outside.

    Returns the resolved absolute path. An absolute `rel` is allowed only if it lies inside
    `root` (schema v1 lets records carry absolute paths; they still may not escape).
    """
    if not isinstance(rel, str) or not rel or "\x00" in rel:
        raise UnsafePathError(
            f"{_prefix(location)}image path must be a non-empty string, got {rel!r}"
        )
    root_real = os.path.realpath(root)
    if not os.path.isabs(rel):
        check_relpath(rel, location)
    full = os.path.realpath(os.path.join(root_real, rel))
    if full == root_real or not full.startswith(root_real.rstrip(os.sep) + os.sep):
        raise UnsafePathError(
            f"{_prefix(location)}image path '{rel}' escapes the image root {root}"
        )
    return full

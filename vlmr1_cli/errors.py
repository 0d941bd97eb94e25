"""The one exception type that means "the user gave us something wrong".

The CLI turns a `UserError` into one line on stderr and exit code 1; anything else is a bug
and keeps its traceback (shown with --debug).
"""

from __future__ import annotations


class UserError(Exception):
    """Bad input or configuration. The message names the file, line or key."""


def where(path: object, line: int | None = None, key: str | None = None) -> str:
    """Format a location prefix: `FILE:LINE: ` / `FILE: key 'k': `."""
    loc = str(path)
    if line is not None:
        loc += f":{line}"
    if key is not None:
        loc += f": key '{key}'"
    return loc

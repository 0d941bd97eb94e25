"""The real `vlmr1` entry point run in-process, for tests of what a user sees: exit code,
stdout and stderr, with the console script's error handling and no start-up cost."""

from __future__ import annotations

import sys


def run_main(monkeypatch, capsys, *args) -> tuple[int, str, str]:
    """`vlmr1 ARGS...` through `main()`: (exit code, stdout, stderr) of that command alone."""
    from vlmr1_cli.cli.app import main

    monkeypatch.setenv("VLMR1_NO_PROGRESS", "1")
    monkeypatch.delenv("VLMR1_DEBUG", raising=False)
    monkeypatch.setattr(sys, "argv", ["vlmr1", *map(str, args)])
    capsys.readouterr()  # what the test printed before (fixture progress bars) is not the command's
    code = 0
    try:
        main()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    out, err = capsys.readouterr()
    return code, out, err


def one_line(code: int, out: str, err: str) -> str:
    """The one `error: ...` line of a refused command (exit 1, no traceback)."""
    assert code == 1, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]

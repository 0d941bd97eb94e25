"""The case table's types, the in-process and subprocess runners, and the outcome classifier.

A case is (id, argv, files to create, expected outcome). Outcomes, as observed:

- `ok`: exit status as expected (0 unless the case says otherwise) and its check passed.
- `clean_error`: exit 1 with ONE `error: ...` line, the last line of stderr (the message names
  what the case's `match` says it must), or exit 2 with click's usage error; no traceback.
- `traceback`: an exception escaped `main()`, "Traceback" was printed, or the exit status is
  neither 0, 1 nor 2.
- `unclean_error`: refused, but not in one clear line (several `error:` lines, a message that
  is not the last line, a message that does not name the file/key/option it must).
- `wrong_result`: bad input accepted (exit 0 where a refusal is the right answer), or a result
  other than the known right one.
- `silent_loss`: exit 0 but records (or boxes, or files) went missing without being counted.
- `refused`: a valid input refused.
- `debris`: a temp file (`.NAME.*.tmp`) left behind.
- `hang`: a subprocess case still running at its timeout (e.g. a bad option noticed only after
  the work it should have prevented).
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OUTCOMES = (
    "ok",
    "clean_error",
    "traceback",
    "unclean_error",
    "wrong_result",
    "silent_loss",
    "refused",
    "debris",
    "hang",
)
BAD_OUTCOMES = (
    "traceback",
    "unclean_error",
    "wrong_result",
    "silent_loss",
    "refused",
    "debris",
    "hang",
)
TIMED_OUT = -9999  # the exit status a subprocess case gets when it ran past its timeout

# id -> (expected, observed, detail), filled as cases run; the conftest prints the counts.
RECORDED: dict[str, tuple[str, str, str]] = {}


class SilentLoss(AssertionError):
    """Output is missing records/boxes/files that no skip counter accounts for."""


class WrongResult(AssertionError):
    """The command answered, but not the known right answer."""


@dataclass(frozen=True)
class Dir:
    """A folder to create (where a file is expected, or as a plain input folder)."""


@dataclass(frozen=True)
class Link:
    """A symbolic link to `target` (relative to the case folder unless absolute)."""

    target: str


@dataclass(frozen=True)
class CopyOf:
    """A copy of `source` (a file or folder; may name a shared resource, e.g. `{model}`),
    then `mutate(copy)`: a truncated model, a garbage config."""

    source: str
    mutate: Callable[[Path], Any] | None = None


Content = str | bytes | Dir | Link | CopyOf | Callable[[Path], Any]


@dataclass(frozen=True)
class Mount:
    """A tmpfs mounted at a folder of the case: `size` bytes (a full disk when `fill`), or
    read-only. Needs root and mount(8); the case is skipped where the machine cannot."""

    size: str = "64k"
    read_only: bool = False
    fill: bool = False  # fill it up before the case runs


def mount(path: Path, spec: Mount) -> str | None:
    """Mount `spec` at `path`; None, or why it could not be done (the case is then skipped)."""
    path.mkdir(parents=True, exist_ok=True)
    opts = f"size={spec.size}" + (",ro" if spec.read_only else "")
    try:
        p = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError) as e:
        return f"cannot run mount: {e}"
    if p.returncode != 0:
        return f"cannot mount a tmpfs here (needs root): {p.stderr.strip()[:200]}"
    if spec.fill:
        with contextlib.suppress(OSError), open(path / "filler", "wb") as fh:
            while True:
                fh.write(b"\0" * 4096)
                fh.flush()
    return None


def unmount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30)


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str
    folder: Path
    escaped: str = ""  # the traceback of an exception that escaped main(), if any

    @property
    def error_line(self) -> str:
        lines = last_lines(self.stderr)
        return lines[-1] if lines else ""


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]
    files: Mapping[str, Content] = field(default_factory=dict)
    expect: str = "clean_error"  # or "ok", or "any" (either, never anything else)
    match: str | None = None  # regex the error message must contain (what it must name)
    check: Callable[[Result], None] | None = None
    exit: int = 0  # exit status of an "ok" case (validate reports problems with exit 1)
    env: Mapping[str, str | None] = field(default_factory=dict)
    subprocess: bool = False  # run `python -m vlmr1_cli` instead of in-process
    timeout: float = 120  # seconds, for a subprocess case
    memory_limit: int | None = None  # bytes of address space for a subprocess case (RLIMIT_AS)
    stdin: str | None = None
    mounts: Mapping[str, Mount] = field(default_factory=dict)  # small or read-only disks
    xfail: str | None = None  # strict xfail: the owner's fix will flip it
    skip: str | None = None


def error(id: str, argv, files=None, match: str | None = None, **kw) -> Case:
    """A case whose right answer is a refusal in one clear line."""
    return Case(id, tuple(argv), files or {}, "clean_error", match, **kw)


def ok(id: str, argv, files=None, check=None, **kw) -> Case:
    """A case whose right answer is success (with `check` on its outputs)."""
    return Case(id, tuple(argv), files or {}, "ok", None, check, **kw)


def either(id: str, argv, files=None, check=None, match: str | None = None, **kw) -> Case:
    """A case where a clean refusal and a success (passing `check`) are both right answers:
    e.g. a converter may skip a broken item (counted) or refuse the file."""
    return Case(id, tuple(argv), files or {}, "any", match, check, **kw)


def params(cases: list[Case]) -> list:
    """pytest params, one test id per case; xfail/skip marks from the case."""
    import pytest

    ids = [c.id for c in cases]
    dupes = {i for i in ids if ids.count(i) > 1}
    assert not dupes, f"duplicate case ids: {sorted(dupes)}"
    out = []
    for c in cases:
        marks = []
        if c.xfail:
            marks.append(pytest.mark.xfail(strict=True, reason=c.xfail))
        if c.skip:
            marks.append(pytest.mark.skip(reason=c.skip))
        out.append(pytest.param(c, id=c.id, marks=marks))
    return out


# ------------------------------------------------------------------------------ files


def write_files(folder: Path, files: Mapping[str, Content]) -> None:
    for rel, content in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Dir):
            path.mkdir(exist_ok=True)
        elif isinstance(content, Link):
            path.symlink_to(content.target)
        elif isinstance(content, CopyOf):
            import shutil

            src = Path(content.source)
            shutil.copytree(src, path) if src.is_dir() else shutil.copy2(src, path)
            if content.mutate:
                content.mutate(path)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        elif isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            content(path)


def substitute(argv: tuple[str, ...], subs: Mapping[str, str]) -> list[str]:
    """Replace `{name}` placeholders (shared resources); other braces are left as they are."""
    out = []
    for arg in argv:
        for key, value in subs.items():
            arg = arg.replace("{" + key + "}", value)
        out.append(arg)
    return out


PLACEHOLDER = re.compile(r"\{(model|shapes|tmp)\}")


def placeholders(case: Case) -> set[str]:
    texts = [
        *case.argv,
        *(v for v in case.files.values() if isinstance(v, str)),
        *(v.source for v in case.files.values() if isinstance(v, CopyOf)),
        *(v for v in case.env.values() if v),
    ]
    return {m for text in texts for m in PLACEHOLDER.findall(text)}


# ------------------------------------------------------------------------------ running


def run_in_process(
    argv: list[str], folder: Path, env: Mapping[str, str | None], stdin: str | None = None
) -> Result:
    """`vlmr1 ARGV` through the real `main()` in this process, cwd = `folder`."""
    from typer.testing import CliRunner

    from vlmr1_cli.cli.app import main

    old_cwd, old_argv, old_path = os.getcwd(), sys.argv, list(sys.path)
    old_modules = set(sys.modules)
    code, escaped = 0, ""
    runner = CliRunner()
    full_env = {
        "VLMR1_DEBUG": None,
        "VLMR1_NO_PROGRESS": "1",
        "HF_HUB_OFFLINE": "1",
        "COLUMNS": "200",
        **env,
    }
    try:
        os.chdir(folder)
        sys.path.insert(0, str(folder))  # a plug-in `module:function` next to the recipe
        sys.argv = ["vlmr1", *argv]
        with runner.isolation(input=stdin, env=full_env) as (out, err, _):
            isolated = (sys.stdout, sys.stderr)
            try:
                main()
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            except BaseException:
                escaped = traceback.format_exc()
                code = -1
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
            stdout = out.getvalue().decode("utf-8", "replace")
            stderr = err.getvalue().decode("utf-8", "replace")
        _rebind_log_handlers(isolated)
    finally:
        os.chdir(old_cwd)
        sys.argv = old_argv
        sys.path[:] = old_path
        # plug-in modules written by cases must not leak into the next case
        for name in set(sys.modules) - old_modules:
            mod = sys.modules.get(name)
            if str(folder) in str(getattr(mod, "__file__", "") or ""):
                del sys.modules[name]
    return Result(code, stdout, stderr, folder, escaped)


def _rebind_log_handlers(isolated: tuple) -> None:
    """A library imported during a case binds its logging handler to that case's captured
    stream, closed afterwards ("--- Logging error ---" in every later case): point such
    handlers at the real stderr."""
    import logging

    loggers = [
        logging.getLogger(),
        *(v for v in logging.Logger.manager.loggerDict.values() if isinstance(v, logging.Logger)),
    ]
    for logger in loggers:
        for handler in logger.handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream in isolated:
                handler.stream = sys.stderr  # not setStream: it flushes the closed stream


def run_subprocess(
    argv: list[str],
    folder: Path,
    env: Mapping[str, str | None],
    stdin: str | None = None,
    timeout: float = 300,
    memory_limit: int | None = None,
) -> Result:
    """`python -m vlmr1_cli ARGV` in a child process, cwd = `folder`; `memory_limit` caps its
    address space, so a case that would allocate tens of GB fails inside the child instead of
    taking the (shared) machine down."""
    full = dict(os.environ)
    full.update(
        {
            "VLMR1_NO_PROGRESS": "1",
            "HF_HUB_OFFLINE": "1",
            "COLUMNS": "200",
            "OMP_NUM_THREADS": "1",
            "PYTHONPATH": str(folder),
        }
    )
    full.pop("VLMR1_DEBUG", None)
    for k, v in env.items():
        if v is None:
            full.pop(k, None)
        else:
            full[k] = v

    def limit() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))

    try:
        p = subprocess.run(
            [sys.executable, "-m", "vlmr1_cli", *argv],
            cwd=folder,
            env=full,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            preexec_fn=limit if memory_limit else None,
        )
    except subprocess.TimeoutExpired as e:  # subprocess.run killed the child

        def text(b) -> str:
            return b.decode("utf-8", "replace") if isinstance(b, bytes) else (b or "")

        return Result(TIMED_OUT, text(e.stdout), text(e.stderr), folder)
    return Result(p.returncode, p.stdout, p.stderr, folder)


# ------------------------------------------------------------------------------ classifying


def last_lines(text: str) -> list[str]:
    """Non-empty lines as a terminal shows them (a progress bar's last `\\r` frame)."""
    return [seg for line in text.splitlines() for seg in [line.split("\r")[-1]] if seg.strip()]


def _flat(text: str) -> str:
    """A rich usage-error box as plain words (it wraps long messages inside │...│)."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


def error_problem(res: Result, match: str | None) -> str | None:
    """Why `res` is not a clean refusal, or None if it is."""
    if res.code == 2:
        flat = _flat(res.stderr)
        if "Error" not in res.stderr:  # click's usage error box (some have no Usage: line)
            return "exit 2 without click's usage error"
        message = flat
    else:
        lines = last_lines(res.stderr)
        errors = [ln for ln in lines if ln.startswith("error:")]
        if len(errors) != 1:
            return f"{len(errors)} 'error:' lines in stderr (want exactly 1)"
        if lines[-1] != errors[0]:
            return f"the error line is not the last line of stderr (last: {lines[-1][:120]!r})"
        message = errors[0][len("error:") :].strip()
        if not message:
            return "empty error message"
    if match and not re.search(match, message):
        return f"the error does not match {match!r}: {message[:300]!r}"
    return None


def debris(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob(".*.tmp"))


def classify(case: Case, res: Result) -> tuple[str, str]:
    """(observed outcome, detail) of one finished case."""
    both = res.stdout + res.stderr
    if res.code == TIMED_OUT:
        return "hang", f"still running at the timeout; last output: {last_lines(both)[-1:]}"
    if res.escaped or "Traceback (most recent call last)" in both or res.code not in (0, 1, 2):
        tb = res.escaped or both
        return "traceback", f"exit {res.code}: " + tb.strip().splitlines()[-1][
            :300
        ] if tb.strip() else ""
    if (
        case.expect == "any"
    ):  # either answer is right: refuse cleanly, or succeed and pass the check
        refused = res.code != case.exit or (res.code != 0 and error_problem(res, None) is None)
        if refused:
            why = error_problem(res, case.match)
            if why:
                return "unclean_error", why
            left = debris(res.folder)
            return (
                ("debris", f"temp files left: {left[:5]}")
                if left
                else ("clean_error", res.error_line[:200])
            )
    elif case.expect == "clean_error":
        if res.code == 0:
            return "wrong_result", "accepted (exit 0): " + " ".join(
                (res.stdout or res.stderr).split()
            )[:300]
        why = error_problem(res, case.match)
        if why:
            return "unclean_error", why
    else:
        if res.code != case.exit:
            return "refused", f"exit {res.code}: {res.error_line[:300]}"
    if case.check is not None:
        try:
            case.check(res)
        except SilentLoss as e:
            return "silent_loss", str(e)[:400]
        except AssertionError as e:  # WrongResult and plain asserts in checks
            return "wrong_result", str(e)[:400]
    left = debris(res.folder)
    if left:
        return "debris", f"temp files left: {left[:5]}"
    if case.expect == "any":
        return "ok", ""
    return case.expect, res.error_line[:200] if case.expect == "clean_error" else ""


def record(case_id: str, expected: str, observed: str, detail: str) -> None:
    RECORDED[case_id] = (expected, observed, detail)


@contextlib.contextmanager
def umask(mask: int):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)

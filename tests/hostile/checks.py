"""Check functions for `ok` cases: known right answers (WrongResult) and record accounting
(SilentLoss: what went in = what came out + what the summary says it skipped)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.hostile.harness import Result, SilentLoss, WrongResult

Check = Callable[[Result], None]


def stdout_json(res: Result) -> Any:
    try:
        return json.loads(res.stdout)
    except ValueError as e:
        raise WrongResult(f"--json printed no JSON on stdout ({e}): {res.stdout[:300]!r}") from None


def json_value(key: str, want: float, tol: float = 1e-6) -> Check:
    """stdout's JSON has `key` equal to `want`."""

    def check(res: Result) -> None:
        got = stdout_json(res).get(key)
        if not isinstance(got, (int, float)) or not math.isclose(got, want, abs_tol=tol):
            raise WrongResult(f"{key} = {got!r}, the right answer is {want}")

    return check


def lines(path: Path) -> list[dict]:
    if not path.is_file():
        raise SilentLoss(f"{path.name}: not written")
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def accounted(
    output: str,
    inputs: int,
    unit_is_record: Callable[[str], bool] = lambda r: True,
    written: int | None = None,
) -> Check:
    """Converter summary (--json): written == lines of `output`, and written + skipped records
    == `inputs` (skip reasons that count boxes, not records, are left out of the sum)."""

    def check(res: Result) -> None:
        summary = stdout_json(res)
        out = lines(res.folder / output)
        if summary.get("written") != len(out):
            raise SilentLoss(
                f"summary says {summary.get('written')} written, {output} holds {len(out)}"
            )
        skipped = sum(
            n
            for reason, n in summary.get("skipped", {}).items()
            if not reason.startswith("box") and unit_is_record(reason)
        )
        if len(out) + skipped != inputs:
            raise SilentLoss(
                f"{inputs} in, {len(out)} written + {skipped} skipped "
                f"(skipped: {summary.get('skipped')})"
            )
        if written is not None and len(out) != written:
            raise WrongResult(f"{len(out)} records written, the right answer is {written}")

    return check


def no_file(*names: str) -> Check:
    """A refusal leaves no output behind (nor a half-written one)."""

    def check(res: Result) -> None:
        for name in names:
            if (res.folder / name).exists():
                raise WrongResult(f"refused, yet {name} was written")

    return check


def unchanged(name: str, content: str | bytes) -> Check:
    def check(res: Result) -> None:
        path = res.folder / name
        now = path.read_bytes() if isinstance(content, bytes) else path.read_text(encoding="utf-8")
        if now != content:
            raise SilentLoss(f"{name} was changed by a run that should not touch it")

    return check


def not_created(name: str) -> Check:
    """A payload (a pickle's os.mkdir, a YAML tag) did not run."""

    def check(res: Result) -> None:
        if (res.folder / name).exists():
            raise WrongResult(f"{name} exists: code in an input file ran")

    return check


def all_of(*checks: Check) -> Check:
    def check(res: Result) -> None:
        for c in checks:
            c(res)

    return check


def schema_valid(output: str, relative: bool = True) -> Check:
    """Every written record passes the schema (no NaN box, no inverted box slipped through)."""

    def check(res: Result) -> None:
        from vlmr1_cli.data.schema import record_problems

        for i, rec in enumerate(lines(res.folder / output), 1):
            problems = record_problems(rec)
            if problems:
                raise WrongResult(f"{output}:{i}: an invalid record was written: {problems[0]}")
            for p in rec.get("images", []) if relative else ():
                if p.startswith("/") or ".." in Path(p).parts:
                    raise WrongResult(f"{output}:{i}: image path {p!r} leaves the image root")

    return check


def converted(output: str, inputs: int, written: int | None = None, relative: bool = True) -> Check:
    """A converter's output is fully accounted for and schema-valid."""
    return all_of(accounted(output, inputs, written=written), schema_valid(output, relative))


def reported(pattern: str, problems: int | None = None) -> Check:
    """`validate --json` found the problem (a message matching `pattern`) and said not OK."""

    def check(res: Result) -> None:
        import re

        rep = stdout_json(res)
        if rep.get("ok") is not False:
            raise WrongResult(f"validate called it OK: {rep}")
        messages = [p["message"] for p in rep.get("problems", [])]
        if not any(re.search(pattern, m) for m in messages):
            raise WrongResult(f"no problem matches {pattern!r}: {messages[:5]}")
        if problems is not None and rep.get("records_with_problems") != problems:
            raise WrongResult(
                f"{rep.get('records_with_problems')} records with problems, want {problems}"
            )

    return check


def clean_report(records: int) -> Check:
    def check(res: Result) -> None:
        rep = stdout_json(res)
        if rep.get("ok") is not True or rep.get("records") != records:
            raise WrongResult(f"want OK with {records} records: {rep}")

    return check


def shapes_counts(folder: str, **want: int) -> Check:
    """`prepare-data shapes --json`: each split file holds the requested number of records,
    each naming an image that exists."""

    def check(res: Result) -> None:
        got = stdout_json(res).get("records", {})
        for split, n in want.items():
            recs = lines(res.folder / folder / f"{split}.jsonl") if n else []
            if got.get(f"{split}.jsonl", 0) != n or len(recs) != n:
                raise SilentLoss(
                    f"{split}: asked for {n}, summary {got.get(f'{split}.jsonl')}, file {len(recs)}"
                )
            for r in recs:
                if not (res.folder / folder / r["images"][0]).is_file():
                    raise SilentLoss(f"{split}: record {r['id']} names a missing image")

    return check


def holds(predicate: Callable[[Result], Any], why: str, loss: bool = False) -> Check:
    """`predicate(result)` is true; else a wrong result (a silent loss with `loss`) saying `why`."""

    def check(res: Result) -> None:
        if not predicate(res):
            raise (SilentLoss if loss else WrongResult)(why)

    return check

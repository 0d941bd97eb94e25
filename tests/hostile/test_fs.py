"""File-system faults and process faults, in every command that writes: a full disk (a 64 KB
tmpfs), a read-only disk, kills (SIGKILL mid-write leaves no partial output; SIGINT is one
line), concurrent runs on one output, and the umask. Disk cases skip where tmpfs cannot be
mounted (not root)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.data import fixtures as F
from tests.hostile import checks as C
from tests.hostile import harness
from tests.hostile.harness import Case, Mount, Result, SilentLoss, WrongResult, error, params
from tests.hostile.inputs import coco_gt, coco_results, dumps

FULL = {"disk": Mount("64k", fill=True)}
SMALL = {"disk": Mount("64k")}
RO = {"disk": Mount("64k", read_only=True)}
COCO_IN = {"instances.json": json.dumps(F.coco_instances())}
SCORE_IN = {"gt.json": dumps(coco_gt()), "results.json": dumps(coco_results())}
RECIPE = "r.yaml"


def nothing_in(folder: str, *allowed: str):
    """A refused write leaves nothing behind on that disk (temp files included)."""

    def check(res: Result) -> None:
        left = sorted(p.name for p in (res.folder / folder).iterdir() if p.name not in allowed)
        if left:
            raise WrongResult(f"{folder}/ holds {left} after a failed write")

    return check


def disk_cases(kind: str, mounts: dict, match: str) -> list[Case]:
    from tests.hostile.test_train import recipe

    keep = ("filler",)
    return [
        error(
            f"fs/{kind}-shapes",
            (
                "prepare-data",
                "shapes",
                "-o",
                "disk/shp",
                "--train",
                "40",
                "--eval",
                "2",
                "--ood",
                "0",
            ),
            mounts=mounts,
            match=match,
            check=nothing_in("disk", *keep),
        ),
        error(
            f"fs/{kind}-coco",
            ("prepare-data", "coco", "--instances", "instances.json", "-o", "disk/o.jsonl"),
            COCO_IN,
            mounts=mounts,
            match=match,
            check=nothing_in("disk", *keep),
        ),
        error(
            f"fs/{kind}-score",
            (
                "evaluate",
                "--gt",
                "gt.json",
                "--results",
                "results.json",
                "--metric",
                "coco",
                "-o",
                "disk/m",
            ),
            SCORE_IN,
            mounts=mounts,
            match=match,
            check=nothing_in("disk", *keep),
        ),
        error(
            f"fs/{kind}-init-model",
            ("init-model", "-o", "disk/tiny"),
            mounts=mounts,
            match=match,
            check=nothing_in("disk", *keep),
        ),
        error(
            f"fs/{kind}-recipes-cp",
            ("recipes", "cp", "rec_refcoco", "disk/r.yaml"),
            mounts=mounts,
            match=match,
            check=nothing_in("disk", *keep),
        ),
        error(
            f"fs/{kind}-export",
            ("export", "-m", "{model}", "-o", "disk/ex"),
            mounts=mounts,
            match=match,
            check=nothing_in("disk", *keep),
        ),
        error(
            f"fs/{kind}-evaluate",
            (
                "evaluate",
                "-m",
                "{model}",
                "-d",
                "{shapes}/eval.jsonl",
                "-o",
                "disk/ev",
                "--max-new-tokens",
                "2",
            ),
            mounts=mounts,
            match=match,
        ),
        error(
            f"fs/{kind}-train",
            ("train-grpo", "-r", RECIPE, "--set", "output_dir=disk/run"),
            {RECIPE: recipe()},
            mounts=mounts,
            match=match,
        ),
    ]


NO_SPACE = "space|ENOSPC|full|disk"
READ_ONLY = "read-only|EROFS|Read-only|permission"
CASES: list[Case] = [
    *disk_cases("full", FULL, NO_SPACE),
    *disk_cases("read-only", RO, READ_ONLY),
    error(
        "fs/small-init-model",
        ("init-model", "-o", "disk/tiny"),
        mounts=SMALL,
        match=NO_SPACE,
        check=nothing_in("disk"),
    ),
]


@pytest.mark.parametrize("case", params(CASES))
def test_fs(case, hostile):
    hostile.run(case)


# --------------------------------------------------------------------------- processes


def _env(folder: Path) -> dict:
    env = dict(
        os.environ,
        VLMR1_NO_PROGRESS="1",
        HF_HUB_OFFLINE="1",
        OMP_NUM_THREADS="1",
        PYTHONPATH=str(folder),
    )
    env.pop("VLMR1_DEBUG", None)
    return env


def _default_sigint() -> None:
    # A shell's background job (and so a pytest started from one) ignores SIGINT, and an
    # ignored signal stays ignored across exec: give the child Python's usual Ctrl-C.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def spawn(folder: Path, *argv: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "vlmr1_cli", *argv],
        cwd=folder,
        env=_env(folder),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_sigint,
    )


def finish(p: subprocess.Popen, folder: Path, timeout: float = 120) -> Result:
    out, err = p.communicate(timeout=timeout)
    return Result(p.returncode, out, err, folder)


def judge(case_id: str, expected: str, res: Result, check=None, match: str | None = None) -> None:
    """Classify and record one process case like a table case."""
    case = Case(case_id, (), {}, expected, match, check)
    observed, detail = harness.classify(case, res)
    harness.record(case_id, expected, observed, detail)
    assert observed == expected, f"{case_id}: {observed}: {detail}\n{res.stderr[-2000:]}"


def _wait_for_output(folder: Path, name: str, timeout: float = 60) -> None:
    """Until the run has started writing `name` (the output, or its `.NAME.*` temp)."""
    end = time.monotonic() + timeout
    while not any(p.name == name or p.name.startswith(f".{name}.") for p in folder.iterdir()):
        if time.monotonic() > end:
            raise AssertionError(f"{name} never appeared in {folder}")
        time.sleep(0.05)


def test_sigkill_mid_write_leaves_no_partial_output(tmp_path):
    """`prepare-data shapes` killed while writing images: no half-built output folder is left
    for a later run to trust, and a rerun completes and leaves no temp files."""
    p = spawn(
        tmp_path,
        "prepare-data",
        "shapes",
        "-o",
        "shp",
        "--train",
        "20000",
        "--eval",
        "2",
        "--ood",
        "0",
    )
    _wait_for_output(tmp_path, "shp")
    time.sleep(1.0)
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=30)
    half = (tmp_path / "shp").exists() and not (tmp_path / "shp" / "train.jsonl").exists()
    observed = "silent_loss" if half else "ok"
    harness.record(
        "process/sigkill-shapes-half-folder",
        "ok",
        observed,
        "a killed run left shp/ without train.jsonl (half-built)" if half else "",
    )
    assert not half, "a killed `prepare-data shapes` left a half-built output folder"
    rerun = spawn(
        tmp_path,
        "prepare-data",
        "shapes",
        "-o",
        "shp",
        "--train",
        "3",
        "--eval",
        "2",
        "--ood",
        "0",
        "--json",
    )
    judge(
        "process/sigkill-shapes-rerun",
        "ok",
        finish(rerun, tmp_path),
        check=C.shapes_counts("shp", train=3, eval=2),
    )


def test_sigkill_mid_conversion_leaves_old_output(tmp_path):
    """An importer killed mid-write leaves the previous output intact (atomic rename), and the
    next run removes the dead run's temp file."""
    big = F.coco_instances()
    big["images"] = [
        {"id": i, "file_name": f"{i}.jpg", "width": 640, "height": 480} for i in range(1, 60001)
    ]
    big["annotations"] = [
        {
            "id": i,
            "image_id": i,
            "category_id": 1,
            "bbox": [1, 1, 20, 20],
            "area": 400,
            "iscrowd": 0,
        }
        for i in range(1, 60001)
    ]
    (tmp_path / "instances.json").write_text(json.dumps(big))
    (tmp_path / "out.jsonl").write_text("previous output\n")
    p = spawn(tmp_path, "prepare-data", "coco", "--instances", "instances.json", "-o", "out.jsonl")
    deadline = time.monotonic() + 60
    while (
        not list(tmp_path.glob(".out.jsonl.*.tmp"))
        and p.poll() is None
        and time.monotonic() < deadline
    ):
        time.sleep(0.02)
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=30)
    intact = (tmp_path / "out.jsonl").read_text() in ("previous output\n",) or p.returncode == 0
    harness.record(
        "process/sigkill-coco-keeps-old-output",
        "ok",
        "ok" if intact else "silent_loss",
        "" if intact else "the previous output was replaced by a partial one",
    )
    assert intact
    rerun = spawn(
        tmp_path,
        "prepare-data",
        "coco",
        "--instances",
        "instances.json",
        "-o",
        "out.jsonl",
        "--json",
    )
    judge(
        "process/sigkill-coco-rerun-cleans-temp",
        "ok",
        finish(rerun, tmp_path, timeout=300),
        check=C.accounted("out.jsonl", 60000),
    )


def test_sigint_is_one_line(tmp_path):
    p = spawn(
        tmp_path,
        "prepare-data",
        "shapes",
        "-o",
        "shp",
        "--train",
        "20000",
        "--eval",
        "2",
        "--ood",
        "0",
    )
    _wait_for_output(tmp_path, "shp")
    time.sleep(0.5)
    p.send_signal(signal.SIGINT)
    res = finish(p, tmp_path)
    lines = harness.last_lines(res.stderr)
    # exit 130 and main()'s one line, also where Typer turned the Ctrl-C into its own exit 130
    good = res.code == 130 and "Traceback" not in res.stderr and lines[-1:] == ["interrupted"]
    harness.record(
        "process/sigint-shapes",
        "clean_error",
        "clean_error" if good else "unclean_error",
        "" if good else f"exit {res.code}: {lines[-3:]}",
    )
    assert good, res.stderr[-2000:]


CONCURRENT = {
    "shapes": (
        (
            "prepare-data",
            "shapes",
            "-o",
            "shp",
            "--train",
            "30",
            "--eval",
            "5",
            "--ood",
            "0",
            "--json",
        ),
        {},
        C.shapes_counts("shp", train=30, eval=5),
    ),
    "coco": (
        ("prepare-data", "coco", "--instances", "instances.json", "-o", "o.jsonl", "--json"),
        COCO_IN,
        C.converted("o.jsonl", 4),
    ),
    "score": (
        (
            "evaluate",
            "--gt",
            "gt.json",
            "--results",
            "results.json",
            "--metric",
            "coco",
            "-o",
            "m",
            "--json",
        ),
        SCORE_IN,
        C.holds(
            lambda r: json.loads((r.folder / "m" / "metrics.json").read_text())["AP"] > 0.99,
            "metrics.json does not hold the right answer (AP 1)",
        ),
    ),
}


@pytest.mark.parametrize("name", sorted(CONCURRENT))
def test_two_runs_on_one_output(tmp_path, name):
    """Two identical runs at once on one output: each succeeds or refuses in one line, and
    what is left is whole (every record accounted for, every file parseable)."""
    argv, files, check = CONCURRENT[name]
    harness.write_files(tmp_path, files)
    procs = [spawn(tmp_path, *argv) for _ in range(2)]
    results = [finish(p, tmp_path) for p in procs]
    for k, res in enumerate(results):
        judge(
            f"concurrent/{name}-{k}",
            "ok" if res.code == 0 else "clean_error",
            res,
            check=check if res.code == 0 else None,
        )
    assert any(r.code == 0 for r in results), "neither run succeeded"


@pytest.mark.parametrize("mask,mode", [(0o077, 0o600), (0o022, 0o644)])
def test_outputs_follow_the_umask(tmp_path, mask, mode):
    harness.write_files(tmp_path, COCO_IN)
    with harness.umask(mask):
        res = finish(
            spawn(
                tmp_path,
                "prepare-data",
                "coco",
                "--instances",
                "instances.json",
                "-o",
                "o.jsonl",
                "--json",
            ),
            tmp_path,
        )

    def check(r: Result) -> None:
        for name in ("o.jsonl", "o_gt.json", "o.meta.json"):
            got = (tmp_path / name).stat().st_mode & 0o777
            if got != mode:
                raise WrongResult(
                    f"{name}: mode {oct(got)} under umask {oct(mask)}, want {oct(mode)}"
                )

    judge(f"umask/{oct(mask)}-coco", "ok", res, check=check)


def test_the_accounting_check_catches_a_loss(tmp_path):
    """Guards the harness: one record in the file, the summary says 1 written, 2 went in."""
    (tmp_path / "x.jsonl").write_text('{"id": "a"}\n')
    res = Result(0, json.dumps({"written": 1, "skipped": {}}), "", tmp_path)
    C.accounted("x.jsonl", 1)(res)
    with pytest.raises(SilentLoss):
        C.accounted("x.jsonl", 2)(res)

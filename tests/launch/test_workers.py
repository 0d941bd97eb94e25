"""The launcher's worker protocol (launch/workers.py): a rank's user error reaches the launching
process as the same one line, lowest rank first; the exit code is returned otherwise."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from vlmr1_cli.errors import UserError
from vlmr1_cli.launch.accelerate import accelerate_command, free_port
from vlmr1_cli.launch.workers import (
    ERROR_DIR_ENV,
    error_file,
    first_rank_error,
    run_workers,
    worker_main,
)


def test_a_rank_error_is_written_where_the_launcher_reads_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(ERROR_DIR_ENV, str(tmp_path))
    monkeypatch.setenv("RANK", "3")

    def bad() -> None:
        raise UserError("data.jsonl:7: key 'solution' is missing")

    assert worker_main(bad) == 1
    assert (
        error_file(tmp_path, 3).read_text(encoding="utf-8")
        == "data.jsonl:7: key 'solution' is missing\n"
    )
    assert capsys.readouterr().err == "error: [rank 3] data.jsonl:7: key 'solution' is missing\n"
    assert worker_main(lambda: None) == 0


def test_the_lowest_rank_wins_in_numeric_order(tmp_path):
    assert first_rank_error(tmp_path) is None
    for rank in (10, 2):
        error_file(tmp_path, rank).write_text(f"rank {rank} failed\n", encoding="utf-8")
    (tmp_path / "error-rankX.txt").write_text("not a rank's file", encoding="utf-8")
    assert first_rank_error(tmp_path) == "rank 2 failed"  # not "rank 10": sorted as numbers


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_run_workers_raises_the_workers_message_and_returns_codes(tmp_path):
    report = (
        "import os; from vlmr1_cli.launch.workers import report_rank_error; "
        "os.environ['RANK'] = '1'; report_rank_error('bad recipe key'); raise SystemExit(1)"
    )
    with pytest.raises(UserError, match=r"^bad recipe key$"):
        run_workers(_python(report), tmp_path)
    (tmp_path / "error-rank1.txt").unlink()
    assert (
        run_workers(_python("raise SystemExit(3)"), tmp_path) == 3
    )  # no message: the caller decides
    log = tmp_path / "log.txt"
    with open(log, "w", encoding="utf-8") as fh:
        code = run_workers(
            _python("import os; print(os.environ['VLMR1_ERROR_DIR'], os.environ['X'])"),
            tmp_path,
            env={"X": "passed"},
            log=fh,
        )
    assert code == 0 and log.read_text(encoding="utf-8") == f"{tmp_path} passed\n"


def test_accelerate_command_shape():
    port = free_port()
    assert 0 < port < 65536
    cmd = accelerate_command(
        Path("c.yaml"),
        [("num_processes", 2), ("main_process_port", port)],
        "vlmr1_cli.evaluate.worker",
        ["plan.json"],
    )
    assert cmd == [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        "c.yaml",
        "--num_processes",
        "2",
        "--main_process_port",
        str(port),
        "-m",
        "vlmr1_cli.evaluate.worker",
        "plan.json",
    ]

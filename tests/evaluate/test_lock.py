"""One output folder, one run at a time: a second `evaluate` on a folder in use fails with one
line naming the holder (it used to interleave its predictions with the first's); a lock left
by a killed run is taken over; resuming with other settings is refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vlmr1_cli.errors import UserError
from vlmr1_cli.evaluate.runner import EvalOptions, evaluate
from vlmr1_cli.run_lock import LOCK_FILE, FolderLock

# The first run: the real `vlmr1 evaluate`, with a generator that answers only once the test
# lets it (so it holds the folder while the second run starts).
FIRST_RUN = """
import sys, time
from pathlib import Path
import vlmr1_cli.evaluate.runner as runner

started, go = Path(sys.argv[1]), Path(sys.argv[2])

class Held:
    def generate(self, rows):
        started.touch()
        while not go.exists():
            time.sleep(0.05)
        return ["<answer>{}</answer>"] * len(rows)

runner.make_generator = lambda plan, device: Held()
sys.argv = ["vlmr1", "evaluate", *sys.argv[3:]]
from vlmr1_cli.cli.app import main
main()
"""


def _env() -> dict:
    return dict(os.environ, OMP_NUM_THREADS="1", VLMR1_NO_PROGRESS="1")


@pytest.mark.slow  # two interpreters importing torch: ~25 s on 2 shared cores
def test_two_processes_on_one_folder(tiny_model, eval_data, tmp_path):
    out = tmp_path / "eval"
    args = [
        "--model",
        str(tiny_model),
        "--data",
        str(eval_data["rec"]),
        "--output",
        str(out),
        "--batch-size",
        "2",
    ]
    script = tmp_path / "first.py"
    script.write_text(FIRST_RUN)
    started, go = tmp_path / "started", tmp_path / "go"
    first = subprocess.Popen(
        [sys.executable, str(script), str(started), str(go), *args, "--max-new-tokens", "6"],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not started.exists():  # the first run holds the folder and is generating
            assert first.poll() is None, first.stderr.read()[-2000:]
            assert time.monotonic() < deadline, "the first run never started generating"
            time.sleep(0.1)
        second = subprocess.run(
            [sys.executable, "-m", "vlmr1_cli", "evaluate", *args, "--max-new-tokens", "9"],
            env=_env(),
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        holder = json.loads((out / LOCK_FILE).read_text()) if (out / LOCK_FILE).is_file() else {}
    finally:
        go.touch()
        first_out, first_err = first.communicate(timeout=120)
    lines = second.stderr.strip().splitlines()
    assert second.returncode == 1 and len(lines) == 1, second.stderr
    assert lines[0].startswith(f"error: {out} is in use by pid {first.pid} (started ")
    assert "evaluate" in lines[0] and holder["pid"] == first.pid
    assert first.returncode == 0, first_err[-2000:]
    assert not (out / LOCK_FILE).exists()  # released and removed by a run that ended normally
    # every prediction is the first run's (the second wrote nothing), and its settings stand
    preds = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(preds) == 6 and {p["completion"] for p in preds} == {"<answer>{}</answer>"}
    assert json.loads((out / "run.json").read_text())["max_new_tokens"] == 6


def test_a_stale_lock_of_a_dead_process_is_taken_over(
    tiny_model, eval_data, tmp_path, scripted, capsys
):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a pid that no longer runs: the run that left this lock was killed
    out = tmp_path / "eval"
    out.mkdir()
    (out / LOCK_FILE).write_text(
        json.dumps(
            {
                "pid": dead.pid,
                "host": "elsewhere",
                "started": "2025-01-01 10:00:00",
                "command": "vlmr1 evaluate --max-new-tokens 6",
            }
        )
    )
    scripted(lambda row: "x")
    m = evaluate(
        str(tiny_model), eval_data["rec"], out, opts=EvalOptions(batch_size=4, max_new_tokens=6)
    )
    assert m["generated_now"] == 6
    err = capsys.readouterr().err
    assert (
        f"note: {out}: stale lock of pid {dead.pid} on elsewhere (started 2025-01-01 10:00:00"
        in err
    )
    assert not (out / LOCK_FILE).exists()


def test_a_held_folder_is_refused_and_other_settings_are_refused_under_the_lock(
    tiny_model, eval_data, tmp_path, scripted
):
    out = tmp_path / "eval"
    scripted(lambda row: "x")
    with FolderLock(out):
        with pytest.raises(
            UserError,
            match=rf"{out} is in use by pid {os.getpid()} \(started .*\): one output "
            "folder is used by one run at a time",
        ):
            evaluate(
                str(tiny_model),
                eval_data["rec"],
                out,
                opts=EvalOptions(batch_size=4, max_new_tokens=6),
            )
    assert not out.exists()  # the holder made the folder and nothing was written: it is gone
    evaluate(
        str(tiny_model), eval_data["rec"], out, opts=EvalOptions(batch_size=4, max_new_tokens=6)
    )
    with pytest.raises(
        UserError, match=r"another 'max_new_tokens' \(6\); use another --output or --overwrite"
    ):
        evaluate(
            str(tiny_model), eval_data["rec"], out, opts=EvalOptions(batch_size=4, max_new_tokens=9)
        )
    with pytest.raises(UserError, match=r"another 'dtype' \(None\)"):
        evaluate(
            str(tiny_model),
            eval_data["rec"],
            out,
            opts=EvalOptions(batch_size=4, max_new_tokens=6, dtype="bfloat16"),
        )
    # predictions whose settings were never recorded are not resumed either
    (out / "run.json").unlink()
    with pytest.raises(UserError, match=r"holds predictions without the run.json .*--overwrite"):
        evaluate(
            str(tiny_model), eval_data["rec"], out, opts=EvalOptions(batch_size=4, max_new_tokens=6)
        )
    assert not (out / LOCK_FILE).exists()


def test_the_lock_file_is_replaced_only_by_its_holder(tmp_path):
    """A run that releases removes the file it locked; a run waiting on the old file notices
    it is gone and locks the new one, so two runs never both hold the folder."""
    folder = tmp_path / "f"
    first = FolderLock(folder).acquire()
    with pytest.raises(UserError, match="is in use by"):
        FolderLock(folder).acquire()
    first.release()
    assert not (folder / LOCK_FILE).exists() and not folder.exists()
    Path(folder).mkdir()
    second = FolderLock(folder).acquire()
    assert (
        json.loads((folder / LOCK_FILE).read_text())["pid"] == os.getpid() and second.stale is None
    )
    second.release()
    assert folder.is_dir()  # not made by the lock: left in place

"""File-system faults: a full disk, a read-only file system, a file where a folder is expected,
an output that names a folder, an unwritable folder. Each is one line naming the path, exit 1,
nothing lost (the previous output stays), and no temp file or half-written folder left behind;
temp files of killed runs are removed by the next run.

Full and read-only file systems are real: small tmpfs mounts (root with CAP_SYS_ADMIN; the
tests are skipped where mounting is not allowed). Permissions cannot be tested by chmod as
root (root ignores them), so EACCES is raised by a patched call instead.
"""

from __future__ import annotations

import errno
import functools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli_runner import one_line, run_main
from vlmr1_cli.errors import UserError
from vlmr1_cli.io import atomic_open, remove_stale_temps, temp_prefix, write_json, write_jsonl


def _mount(target: Path, size: str, *extra: str) -> None:
    target.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", ",".join([f"size={size}", *extra]), "tmpfs", str(target)],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        pytest.skip(
            f"cannot mount a tmpfs here ({r.stderr.strip() or 'mount failed'}): needs root "
            "with CAP_SYS_ADMIN"
        )


def _umount(target: Path) -> None:
    subprocess.run(["umount", "-l", str(target)], capture_output=True)


@pytest.fixture
def small_fs(tmp_path):
    """A 64 KiB file system: full after a few writes."""
    target = tmp_path / "small"
    _mount(target, "64k")
    yield target
    _umount(target)


@pytest.fixture
def readonly_fs(tmp_path):
    """A read-only file system holding `old.json` (written before it was made read-only)."""
    target = tmp_path / "ro"
    _mount(target, "1m")
    (target / "old.json").write_text('{"old": true}\n')
    r = subprocess.run(["mount", "-o", "remount,ro", str(target)], capture_output=True, text=True)
    if r.returncode != 0:
        _umount(target)
        pytest.skip(f"cannot remount read-only: {r.stderr.strip()}")
    yield target
    _umount(target)


def _leftovers(folder: Path) -> list[str]:
    return sorted(
        p.name for p in folder.iterdir() if p.name.endswith(".tmp") or p.name.startswith(".")
    )


@pytest.fixture
def main_cli(monkeypatch, capsys):
    """The real `main()` in-process: (exit code, stdout, stderr)."""
    return functools.partial(run_main, monkeypatch, capsys)


# ----------------------------------------------------------------------------- atomic_open


def test_a_full_disk_is_one_line_and_keeps_the_previous_file(small_fs):
    out = small_fs / "records.jsonl"
    write_jsonl(out, [{"id": "old"}])
    with pytest.raises(UserError) as e:
        write_jsonl(
            out, ({"id": f"r{i}", "text": "x" * 1000} for i in range(200))
        )  # 200 KB > 64 KiB
    assert str(e.value) == f"{out}: cannot write (no space left on the device)"
    assert out.read_text() == '{"id": "old"}\n'  # nothing lost
    assert _leftovers(small_fs) == []  # the temp file is gone
    # into folders of its own: a failed write leaves none of them behind
    with pytest.raises(UserError, match=r"new/sub/records.jsonl: cannot write \(no space left"):
        write_jsonl(
            small_fs / "new" / "sub" / "records.jsonl", ({"text": "x" * 1000} for _ in range(200))
        )
    assert sorted(p.name for p in small_fs.iterdir()) == ["records.jsonl"]


def test_a_full_disk_at_the_final_flush_is_the_same_line(small_fs):
    """A write that fits the buffer fails only when atomic_open flushes it."""
    out = small_fs / "blob.bin"
    with pytest.raises(UserError, match=r"blob.bin: cannot write \(no space left on the device\)"):
        with atomic_open(out, "wb", encoding=None) as fh:
            fh.write(b"\0" * (128 * 1024))
    assert not out.exists() and _leftovers(small_fs) == []


def test_a_read_only_file_system_is_one_line(readonly_fs):
    with pytest.raises(UserError) as e:
        write_json(readonly_fs / "old.json", {"new": True})
    assert str(e.value) == f"{readonly_fs / 'old.json'}: cannot write (read-only file system)"
    assert json.loads((readonly_fs / "old.json").read_text()) == {"old": True}
    with pytest.raises(UserError, match=r"new/sub/x.json: cannot write \(read-only file system\)"):
        write_json(readonly_fs / "new" / "sub" / "x.json", {})


def test_a_file_where_a_folder_is_expected(tmp_path):
    (tmp_path / "data").write_text("I am a file")
    target = tmp_path / "data" / "out" / "x.json"
    with pytest.raises(UserError) as e:
        write_json(target, {})
    assert (
        str(e.value)
        == f"{target}: cannot write: {tmp_path / 'data'} is a file, where a folder is needed"
    )
    with pytest.raises(UserError, match=r"is a file, where a folder is needed"):
        write_json(tmp_path / "data" / "x.json", {})


def test_an_output_that_names_a_folder(tmp_path):
    (tmp_path / "out").mkdir()
    with pytest.raises(UserError, match=r"out: is a folder; a file is written here"):
        write_json(tmp_path / "out", {})
    assert (tmp_path / "out").is_dir() and _leftovers(tmp_path) == []


def test_an_unwritable_folder(tmp_path, monkeypatch):
    import tempfile

    def refuse(*a, **k):
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)  # root ignores chmod: refuse the call
    with pytest.raises(UserError) as e:
        write_json(tmp_path / "x.json", {})
    assert str(e.value) == f"{tmp_path / 'x.json'}: cannot write (permission denied)"


def test_the_blocks_own_errors_are_not_reworded(tmp_path):
    """An OSError of the caller's block (reading a missing input) stays the caller's."""
    with pytest.raises(FileNotFoundError):
        with atomic_open(tmp_path / "x.json") as fh:
            fh.write(open(tmp_path / "missing.txt").read())
    assert _leftovers(tmp_path) == [] and not (tmp_path / "x.json").exists()


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_temp_files_of_dead_runs_are_removed_and_live_ones_kept(tmp_path):
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        mine = temp_prefix("out.jsonl")  # .out.jsonl.<host>-<pid>.
        host = mine.split(".")[-2].rsplit("-", 1)[0]
        dead = tmp_path / f".out.jsonl.{host}-{_dead_pid()}.abcd1234.tmp"
        dead_dir = tmp_path / f".out.jsonl.{host}-{_dead_pid()}.zz9.tmp"
        alive = tmp_path / f".out.jsonl.{host}-{live.pid}.abcd1234.tmp"
        other_host = tmp_path / f".out.jsonl.elsewhere-{_dead_pid()}.abcd1234.tmp"
        other_target = tmp_path / f".other.jsonl.{host}-{_dead_pid()}.abcd1234.tmp"
        old_legacy = tmp_path / ".out.jsonl.k2j4x9_q.tmp"  # an older vlmr1's untagged temp
        new_legacy = tmp_path / ".out.jsonl.p0o9i8u7.tmp"
        for f in (dead, alive, other_host, other_target, old_legacy, new_legacy):
            f.write_bytes(b"x" * 1000)
        dead_dir.mkdir()
        (dead_dir / "part").write_text("x")
        two_days_ago = time.time() - 2 * 24 * 3600
        os.utime(old_legacy, (two_days_ago, two_days_ago))
        write_jsonl(tmp_path / "out.jsonl", [{"id": 1}])
        assert not dead.exists() and not dead_dir.exists() and not old_legacy.exists()
        assert (
            alive.exists() and other_host.exists() and other_target.exists() and new_legacy.exists()
        )
        assert remove_stale_temps(tmp_path, "out.jsonl") == []
    finally:
        live.kill()
        live.wait()


def test_a_killed_prepare_run_leaves_a_temp_file_that_the_next_run_removes(tmp_path):
    """The reported case: killed `prepare-data` runs left tens of MB of hidden .tmp files."""
    out = tmp_path / "big.jsonl"
    code = (
        "import os, signal, sys\n"
        "from vlmr1_cli.io import atomic_open\n"
        "with atomic_open(sys.argv[1]) as fh:\n"
        "    fh.write('x' * 100000); fh.flush()\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    r = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True)
    assert r.returncode == -signal.SIGKILL
    left = _leftovers(tmp_path)
    assert len(left) == 1 and left[0].startswith(".big.jsonl.")
    write_jsonl(out, [{"id": 1}])
    assert _leftovers(tmp_path) == [] and out.read_text() == '{"id": 1}\n'


# ----------------------------------------------------------------------------- commands


def test_shapes_on_a_full_disk_leaves_no_half_folder(small_fs, main_cli):
    line = one_line(
        *main_cli(
            "prepare-data",
            "shapes",
            "--output",
            small_fs / "demo",
            "--train",
            400,
            "--eval",
            10,
            "--ood",
            10,
        )
    )
    assert str(small_fs / "demo") in line and "no space left on the device" in line
    assert list(small_fs.iterdir()) == []  # neither the folder nor its staging


def test_shapes_into_an_existing_folder_keeps_other_files_and_leaves_no_staging(tmp_path, main_cli):
    out = tmp_path / "demo"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    code, _, err = main_cli(
        "prepare-data", "shapes", "--output", out, "--train", 3, "--eval", 2, "--ood", 0
    )
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == [
        "eval.jsonl",
        "images",
        "notes.txt",
        "train.jsonl",
    ]
    assert len(list((out / "images").iterdir())) == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]


def test_shapes_is_byte_identical_through_the_staging_folder(tmp_path):
    from vlmr1_cli.data.shapes import generate_shapes

    generate_shapes(tmp_path / "a", train=3, eval=2, ood=2, seed=1)
    (tmp_path / "b").mkdir()
    generate_shapes(tmp_path / "b", train=3, eval=2, ood=2, seed=1)
    files = sorted(
        str(p.relative_to(tmp_path / "a")) for p in (tmp_path / "a").rglob("*") if p.is_file()
    )
    assert files == sorted(
        str(p.relative_to(tmp_path / "b")) for p in (tmp_path / "b").rglob("*") if p.is_file()
    )
    assert all(
        (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in files
    )


def test_commands_on_a_read_only_file_system_are_one_line(readonly_fs, main_cli, tmp_path):
    line = one_line(
        *main_cli("prepare-data", "shapes", "--output", readonly_fs / "demo", "--train", 2)
    )
    assert str(readonly_fs / "demo") in line and "read-only file system" in line
    line = one_line(
        *main_cli("init-model", "--preset", "tiny-qwen2.5-vl", "--output", readonly_fs / "model")
    )
    assert "read-only file system" in line
    gt, results = _coco_files(tmp_path)
    line = one_line(
        *main_cli(
            "evaluate",
            "--gt",
            gt,
            "--results",
            results,
            "--metric",
            "coco",
            "--output",
            readonly_fs / "scores",
        )
    )
    assert (
        line
        == f"error: {readonly_fs / 'scores' / 'metrics.json'}: cannot write (read-only file system)"
    )


def test_init_model_on_a_full_disk_leaves_nothing(small_fs, main_cli):
    code, out, err = main_cli(
        "init-model", "--preset", "tiny-qwen2.5-vl", "--output", small_fs / "model"
    )
    assert (
        code == 1 and "Traceback" not in err
    )  # (transformers' own progress bar may precede the line)
    assert (
        err.strip().splitlines()[-1]
        == "error: cannot save the weights: no space left on the device"
    )
    assert list(small_fs.iterdir()) == []


def _coco_files(folder: Path) -> tuple[Path, Path]:
    gt = {
        "images": [{"id": 1, "width": 20, "height": 20, "file_name": "a.png"}],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 1,
                "bbox": [1, 1, 5, 5],
                "area": 25,
                "iscrowd": 0,
            }
        ],
        "categories": [{"id": 1, "name": "cat"}],
    }
    (folder / "gt.json").write_text(json.dumps(gt))
    (folder / "res.json").write_text(
        json.dumps([{"image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5], "score": 0.9}])
    )
    return folder / "gt.json", folder / "res.json"


def test_scoring_into_an_existing_folder_writes_there_and_nowhere_else(tmp_path, main_cli):
    gt, results = _coco_files(tmp_path)
    out = tmp_path / "scores"
    out.mkdir()
    code, _, err = main_cli(
        "evaluate", "--gt", gt, "--results", results, "--metric", "coco", "--output", out
    )
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gt.json", "res.json", "scores"]


def test_main_turns_a_stray_file_system_error_into_one_line(main_cli, monkeypatch):
    import vlmr1_cli.data.shapes as shapes

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device", "/data/x.png")

    monkeypatch.setattr(shapes, "generate_shapes", full)
    line = one_line(*main_cli("prepare-data", "shapes", "--output", "/nowhere"))
    assert line == "error: /data/x.png: no space left on the device"

    def other(*a, **k):
        raise OSError(errno.ECONNREFUSED, "Connection refused")

    monkeypatch.setattr(
        shapes, "generate_shapes", lambda *a, **k: os.mkdir(__file__)
    )  # EEXIST: a file
    line = one_line(*main_cli("prepare-data", "shapes", "--output", "/nowhere"))
    assert line == f"error: {__file__}: is a file, where a folder is needed"

    monkeypatch.setattr(shapes, "generate_shapes", other)
    with pytest.raises(
        OSError, match="Connection refused"
    ):  # not a file-system fault: a bug's traceback
        main_cli("prepare-data", "shapes", "--output", "/nowhere")


# ----------------------------------------------------------------------------- training's final save


class _Trainer:
    """What save_final_model uses of a Trainer: the main process, and save_model (which, like
    transformers', writes config.json before the weights)."""

    def __init__(self, model):
        self.model = model

    def is_world_process_zero(self) -> bool:
        return True

    def save_model(self, folder: str) -> None:
        self.model.save_pretrained(folder)


def _tiny(tiny_model):
    from transformers import AutoModelForImageTextToText

    from vlmr1_cli.models.loading import load_processor_for

    return (
        AutoModelForImageTextToText.from_pretrained(tiny_model, local_files_only=True),
        load_processor_for(str(tiny_model))[0],
    )


def test_the_final_save_on_a_full_disk_leaves_no_config_without_weights(tiny_model, tmp_path):
    from vlmr1_cli.train.model_setup import save_final_model

    target = tmp_path / "run"
    _mount(target, "256k")  # the tiny model's weights are ~800 KB
    try:
        model, processor = _tiny(tiny_model)
        with pytest.raises(
            UserError,
            match=rf"^cannot save the final model: {target}: cannot write \(no space left",
        ):
            save_final_model(_Trainer(model), processor, target)
        assert list(target.iterdir()) == []  # no config.json, no staging folder
    finally:
        _umount(target)


def test_the_final_save_moves_config_json_last(tiny_model, tmp_path, monkeypatch):
    from vlmr1_cli.train.model_setup import FINAL_STAGING, save_final_model

    moved: list[str] = []
    real_replace = os.replace

    def record(src, dst):
        moved.append(Path(dst).name)
        real_replace(src, dst)

    model, processor = _tiny(tiny_model)
    out = tmp_path / "run"
    out.mkdir()
    monkeypatch.setattr(os, "replace", record)
    save_final_model(_Trainer(model), processor, out)
    assert moved[-1] == "config.json" and "model.safetensors" in moved
    assert (out / "model.safetensors").is_file() and (out / "config.json").is_file()
    assert not (out / FINAL_STAGING).exists()

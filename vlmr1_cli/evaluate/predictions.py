"""predictions.jsonl: appended as samples finish, so a killed run resumes where it stopped.

One process writes `predictions.jsonl` directly. With several processes, rank k appends to
`predictions-rank{k}.jsonl`; once every rank has finished, `merge_shards` folds them into
`predictions.jsonl` (atomically, in record order) and removes them. A rerun counts the
predictions of every one of these files as done, so a run killed at any point (during
generation or during the merge) resumes without generating anything twice.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from vlmr1_cli.io import write_jsonl

PREDICTIONS = "predictions.jsonl"
SHARD_GLOB = "predictions-rank*.jsonl"


def shard_path(folder: Path, rank: int) -> Path:
    return folder / f"predictions-rank{rank}.jsonl"


def read_done(path: Path) -> dict[str, dict]:
    """Finished predictions by id. A torn last line (the run was killed mid-write) is dropped
    and truncated away, so the file stays valid JSONL."""
    done: dict[str, dict] = {}
    if not path.is_file():
        return done
    good_bytes = 0
    with open(path, "rb") as fh:
        for raw in fh:
            if not raw.endswith(b"\n"):
                break
            try:
                obj = json.loads(raw)
            except ValueError:
                break
            if not isinstance(obj, dict) or "id" not in obj:
                break
            done[str(obj["id"])] = obj
            good_bytes += len(raw)
    if good_bytes != path.stat().st_size:
        with open(path, "r+b") as fh:
            fh.truncate(good_bytes)
    return done


def read_all_done(folder: Path) -> dict[str, dict]:
    """Predictions of `predictions.jsonl` and of any shard files left by a sharded run."""
    done = read_done(folder / PREDICTIONS)
    for shard in sorted(folder.glob(SHARD_GLOB)):
        done.update(read_done(shard))
    return done


def merge_shards(folder: Path, order: list[str]) -> dict[str, dict]:
    """Fold the shard files into `predictions.jsonl` (in `order`, then any others) and
    remove them. Returns every finished prediction by id."""
    done = read_all_done(folder)
    shards = sorted(folder.glob(SHARD_GLOB))
    if shards:
        known = set(order)
        ids = [i for i in order if i in done] + [i for i in done if i not in known]
        write_jsonl(folder / PREDICTIONS, (done[i] for i in ids))
        for shard in shards:
            shard.unlink()
    return done


class PredictionWriter:
    """Appends finished predictions; each batch is flushed and fsynced before the next."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = open(path, "a", encoding="utf-8")

    def write(self, rows: list[dict]) -> None:
        self.fh.write("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
        self.fh.flush()
        os.fsync(self.fh.fileno())

    def close(self) -> None:
        self.fh.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

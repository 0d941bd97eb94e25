"""predictions.jsonl: appended as samples finish, so a killed run resumes where it stopped."""

from __future__ import annotations

import json
import os
from pathlib import Path


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
            done[str(obj["id"])] = obj
            good_bytes += len(raw)
    if good_bytes != path.stat().st_size:
        with open(path, "r+b") as fh:
            fh.truncate(good_bytes)
    return done


class PredictionWriter:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = open(path, "a", encoding="utf-8")

    def write(self, rows: list[dict]) -> None:
        for row in rows:
            self.fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        self.fh.flush()
        os.fsync(self.fh.fileno())

    def close(self) -> None:
        self.fh.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

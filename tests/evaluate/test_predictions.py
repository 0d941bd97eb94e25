"""Resumable predictions files: torn lines, shard merging, batch partition."""

from __future__ import annotations

import json

from vlmr1_cli.evaluate.generation import plan_batches
from vlmr1_cli.evaluate.predictions import (
    PREDICTIONS,
    PredictionWriter,
    merge_shards,
    read_all_done,
    read_done,
    shard_path,
)


def test_torn_last_line_is_dropped_and_truncated(tmp_path):
    p = tmp_path / PREDICTIONS
    good = (
        json.dumps({"id": "a", "completion": "x"})
        + "\n"
        + json.dumps({"id": "b", "completion": "y"})
        + "\n"
    )
    p.write_text(good + '{"id": "c", "compl')
    assert list(read_done(p)) == ["a", "b"]
    assert p.read_text() == good
    with PredictionWriter(p) as w:
        w.write([{"id": "c", "completion": "z"}])
    assert list(read_done(p)) == ["a", "b", "c"]


def test_merge_shards_in_record_order(tmp_path):
    with PredictionWriter(tmp_path / PREDICTIONS) as w:
        w.write([{"id": "b"}])
    with PredictionWriter(shard_path(tmp_path, 0)) as w:
        w.write([{"id": "d"}, {"id": "a"}])
    with PredictionWriter(shard_path(tmp_path, 1)) as w:
        w.write([{"id": "c"}])
    assert set(read_all_done(tmp_path)) == {"a", "b", "c", "d"}
    done = merge_shards(tmp_path, ["a", "b", "c", "d"])
    assert list(done) and not list(tmp_path.glob("predictions-rank*"))
    lines = [json.loads(x)["id"] for x in (tmp_path / PREDICTIONS).read_text().splitlines()]
    assert lines == ["a", "b", "c", "d"]
    merge_shards(tmp_path, ["a"])  # nothing to merge: file untouched
    assert len((tmp_path / PREDICTIONS).read_text().splitlines()) == 4


def test_batches_longest_first_ties_in_file_order():
    rows = [{"id": str(i), "n_tokens": n} for i, n in enumerate([5, 9, 5, 7, 9])]
    batches = plan_batches(rows, 2)
    assert [[r["id"] for r in b] for b in batches] == [["1", "4"], ["3", "0"], ["2"]]

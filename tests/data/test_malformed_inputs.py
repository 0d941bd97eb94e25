"""Seeded random corruption of every upstream format: a converter either succeeds or raises a
one-line UserError, never anything else (no traceback reaches the user)."""

from __future__ import annotations

import copy
import json
import random

import pytest

from vlmr1_cli.data.coco import convert_coco
from vlmr1_cli.data.d3 import convert_d3
from vlmr1_cli.data.lisa import convert_lisa
from vlmr1_cli.data.ovdeval import convert_ovdeval
from vlmr1_cli.data.refcoco import convert_refcoco
from vlmr1_cli.data.vlmr1_rec import convert_vlmr1_rec
from vlmr1_cli.errors import UserError

from .fixtures import (
    coco_instances,
    d3_data,
    ovdeval_subset,
    refer_data,
    vlmr1_eval_items,
    vlmr1_train_lines,
    write_d3,
    write_lisa,
    write_refer,
)

VALUES = [None, "x", "", -1, 0, 1.5, float("nan"), [], {}, [1, 2], True, "../x", {"a": 1}, 10**30]


def _paths(o, prefix=()):
    items = o.items() if isinstance(o, dict) else enumerate(o) if isinstance(o, list) else ()
    for k, v in items:
        yield prefix + (k,)
        yield from _paths(v, prefix + (k,))


def corrupt(obj, rng: random.Random):
    """Replace (or delete) one value at depth >= 2, so the top-level layout stays."""
    obj = copy.deepcopy(obj)
    path = rng.choice([p for p in _paths(obj) if len(p) >= 2])
    parent = obj
    for k in path[:-1]:
        parent = parent[k]
    if isinstance(parent, dict) and rng.random() < 0.25:
        del parent[path[-1]]
    else:
        parent[path[-1]] = rng.choice(VALUES)
    return obj


def _refcoco(tmp, rng):
    data = corrupt(refer_data(), rng)
    write_refer(tmp / "r", data)
    convert_refcoco(
        tmp / "r", "refcoco", "unc", rng.choice(["train", "val", "testA", "test"]), tmp / "o.jsonl"
    )


def _coco(tmp, rng):
    (tmp / "i.json").write_text(json.dumps(corrupt(coco_instances(), rng)))
    convert_coco(
        tmp / "i.json",
        tmp / "o.jsonl",
        max_boxes_per_category=10,
        labels=rng.choice(["all", "positive"]),
    )


def _ovdeval(tmp, rng):
    name = rng.choice(["celebrity", "negation"])
    (tmp / f"{name}.json").write_text(json.dumps(corrupt(ovdeval_subset(name), rng)))
    convert_ovdeval([tmp / f"{name}.json"], tmp / "o.jsonl")


def _d3(tmp, rng):
    data = d3_data()
    entry = data[rng.choice(sorted(data))]
    entry = entry[rng.choice(sorted(entry))]
    key = rng.choice(sorted(entry))
    if rng.random() < 0.25:
        del entry[key]
    else:
        entry[key] = rng.choice(VALUES)
    convert_d3(tmp / "o.jsonl", anno_dir=write_d3(tmp / "p", data), prefer_group=rng.random() < 0.5)


def _vlmr1(tmp, rng):
    items = corrupt([*vlmr1_eval_items(), *vlmr1_train_lines()], rng)
    if rng.random() < 0.5:
        (tmp / "f.json").write_text(json.dumps(items))
        convert_vlmr1_rec([tmp / "f.json"], tmp / "o.jsonl", image_root=tmp)
    else:
        (tmp / "f.jsonl").write_text("".join(json.dumps(x) + "\n" for x in items))
        convert_vlmr1_rec([tmp / "f.jsonl"], tmp / "o.jsonl", image_root=tmp)


def _lisa(tmp, rng):
    folder = write_lisa(tmp / "l")
    stem = rng.choice("abc")
    anno = json.loads((folder / f"{stem}.json").read_text())
    (folder / f"{stem}.json").write_text(json.dumps(corrupt(anno, rng)))
    convert_lisa(folder, tmp / "o.jsonl", box_rule=rng.choice(["targets", "first-shape"]))


@pytest.mark.parametrize("convert", [_refcoco, _coco, _ovdeval, _d3, _vlmr1, _lisa])
def test_corrupted_input_is_a_user_error_or_converts(tmp_path, convert):
    rng = random.Random(f"corrupt:{convert.__name__}")
    outcomes = {"ok": 0, "user error": 0}
    for i in range(40):
        tmp = tmp_path / str(i)
        tmp.mkdir()
        try:
            convert(tmp, rng)
            outcomes["ok"] += 1
        except UserError as e:
            assert "\n" not in str(e)
            assert not (tmp / "o.jsonl").exists()
            outcomes["user error"] += 1
    assert outcomes["user error"] > 0  # the corruptions do hit checked fields

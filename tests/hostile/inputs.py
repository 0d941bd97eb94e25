"""Hostile and valid inputs, as file contents the case table can name.

`bad_json(name)` / `bad_jsonl(name)` / `bad_yaml(name)` give the same family of broken files
(missing, empty, not UTF-8, invalid, wrong type, nesting deeper than the parser allows,
integers over 4,300 digits, NaN, a folder, a dangling link) for any input a command reads.
"""

from __future__ import annotations

import io
import json
import pickle
import re
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.hostile.harness import Content, Dir, Link

HUGE_INT = "1" + "0" * 5000  # over Python's 4,300-digit limit for int()
BIG_INT = "1" + "0" * 400  # parses, but overflows a float
DEEP = "[" * 100_000 + "]" * 100_000  # deeper than the recursion limit
NOT_UTF8 = b'{"a": "caf\xe9 \xff\xfe"}\n'


def named(name: str) -> str:
    """A regex that finds the file's name in a message."""
    return re.escape(Path(name).name)


def bad_json(name: str, wrong_type: str = "[1, 2, 3]") -> list[tuple[str, Content | None]]:
    """(variant, content) pairs for a JSON input file `name`; None: the file is missing."""
    return [
        ("missing", None),
        ("empty", ""),
        ("not-utf8", NOT_UTF8),
        ("invalid", '{"images": [1, 2,'),
        ("wrong-type", wrong_type),
        ("deep", DEEP),
        ("huge-int", '{"images": [' + HUGE_INT + "]}"),
        ("nan", '{"images": NaN, "annotations": Infinity, "categories": -Infinity}'),
        ("folder", Dir()),
        ("dangling-link", Link("does-not-exist.json")),
    ]


def bad_jsonl(name: str, good_line: str) -> list[tuple[str, Content | None]]:
    """(variant, content) pairs for a JSONL input; `good_line` is one valid record."""
    return [
        ("missing", None),
        ("empty", ""),
        ("not-utf8", (good_line + "\n").encode() + NOT_UTF8),
        ("invalid-line", good_line + '\n{"id": "x", \n'),
        ("line-is-a-list", good_line + "\n[1, 2, 3]\n"),
        ("deep-line", good_line + "\n" + DEEP + "\n"),
        ("huge-int-line", good_line + "\n" + '{"id": ' + HUGE_INT + "}\n"),
        ("folder", Dir()),
        ("dangling-link", Link("does-not-exist.jsonl")),
    ]


# ------------------------------------------------------------------------------ YAML


def bad_yaml() -> list[tuple[str, Content | None]]:
    return [
        ("missing", None),
        ("empty", ""),
        ("not-utf8", b"method: grpo\nmodel: {path: caf\xe9}\n"),
        ("invalid", "method: grpo\nmodel: {path: [unclosed\n"),
        ("list", "- 1\n- 2\n"),
        ("scalar", "just text\n"),
        ("deep", "a: " + "[" * 5000 + "]" * 5000 + "\n"),
        ("huge-int", "method: grpo\ntraining: {max_steps: " + HUGE_INT + "}\n"),
        ("folder", Dir()),
        ("dangling-link", Link("does-not-exist.yaml")),
        ("tab-indent", "method: grpo\nmodel:\n\tpath: x\n"),
        ("python-tag", "method: !!python/object/apply:os.system ['touch PWNED']\n"),
        (
            "alias-bomb",
            "a: &a [x, x, x, x, x, x, x, x, x]\n"
            + "".join(
                f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
                for p, c in zip("abcdefgh", "bcdefghi", strict=True)
            ),
        ),
    ]


# ------------------------------------------------------------------------------ images


def png(w: int = 32, h: int = 24, color=(200, 30, 30)) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        from PIL import Image

        Image.new("RGB", (w, h), color).save(path, format="PNG")

    return write


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(w: int = 30000, h: int = 30000) -> bytes:
    """A valid-headed PNG that declares w x h pixels (900 M by default) in a few bytes."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    row = b"\x00" + b"\x00" * (3 * w)
    idat = zlib.compress(row * 4, 9)  # a few rows only: the header is what matters
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
    )


def truncated_png(w: int = 64, h: int = 48) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        import random

        from PIL import Image

        rng = random.Random(0)
        im = Image.new("RGB", (w, h))
        im.putdata(
            [(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(w * h)]
        )
        buf = io.BytesIO()
        im.save(buf, format="PNG")
        path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])

    return write


# ------------------------------------------------------------------------------ records


def rec_record(i: int = 0, **over: Any) -> dict:
    rec = {
        "id": f"r{i}",
        "task": "rec",
        "images": [f"img{i}.png"],
        "image_sizes": [[32, 24]],
        "problem": "the red square",
        "solution": [2.0, 3.0, 20.0, 18.0],
    }
    rec.update(over)
    return rec


def ovd_record(i: int = 0, **over: Any) -> dict:
    rec = {
        "id": f"o{i}",
        "task": "ovd",
        "images": [f"img{i}.png"],
        "image_sizes": [[32, 24]],
        "problem": "",
        "labels": ["red square", "cat"],
        "solution": [{"bbox_2d": [2.0, 3.0, 20.0, 18.0], "label": "red square"}],
    }
    rec.update(over)
    return rec


def jsonl(*records: dict | str) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records)


def images(*names: str, w: int = 32, h: int = 24) -> dict[str, Content]:
    return {n: png(w, h) for n in names}


# ------------------------------------------------------------------------------ COCO scoring


def coco_gt(**over: Any) -> dict:
    gt = {
        "images": [
            {"id": 1, "width": 100, "height": 80, "file_name": "a.jpg"},
            {"id": 2, "width": 100, "height": 80, "file_name": "b.jpg"},
        ],
        "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 1,
                "bbox": [10, 10, 30, 20],
                "area": 600,
                "iscrowd": 0,
            },
            {
                "id": 2,
                "image_id": 2,
                "category_id": 2,
                "bbox": [50, 40, 20, 20],
                "area": 400,
                "iscrowd": 0,
            },
        ],
    }
    gt.update(over)
    return gt


def coco_results(*over: dict) -> list[dict]:
    base = [
        {"image_id": 1, "category_id": 1, "bbox": [10, 10, 30, 20], "score": 0.9},
        {"image_id": 2, "category_id": 2, "bbox": [50, 40, 20, 20], "score": 0.8},
    ]
    return [*base, *over]


def dumps(obj: Any) -> str:
    return json.dumps(obj)


# ------------------------------------------------------------------------------ pickles


class _Reduce:
    """Pickles as `func(*args)`: what a malicious pickle runs on a plain `pickle.load`."""

    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def evil_pickle(marker: str = "PWNED") -> bytes:
    """Loading it with plain pickle would create the folder `marker` (os.mkdir)."""
    import os

    return pickle.dumps({"x": _Reduce(os.mkdir, (marker,))}, protocol=2)


def eval_pickle(marker: str = "PWNED") -> bytes:
    return pickle.dumps(_Reduce(eval, (f"__import__('os').mkdir({marker!r})",)), protocol=4)

"""`prepare-data validate`: check every record of a JSONL file against its images.

Per record: schema v1, unique id, every image inside the image root, present, readable and of
the stated size, every box finite, non-degenerate and inside the image (within a tolerance),
OVD labels consistent (solution labels queried, negatives queried and never positive).
Problems are collected per line (a bad line does not stop the scan); the CLI prints them and
exits 1 if there is any.

`box_problem` is the one box rule shared with the importers, so a file they write passes.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from vlmr1_cli.data.paths import UnsafePathError, safe_join
from vlmr1_cli.data.schema import record_problems
from vlmr1_cli.errors import UserError
from vlmr1_cli.io import json_problem

BOX_TOLERANCE = 1.0  # px a box may overhang the image (COCO boxes overhang by rounding)
TOO_LARGE = "image over the pixel limit"  # the problem kind of a decompression bomb


def box_problem(box: Any, width: int, height: int, tol: float = BOX_TOLERANCE) -> str | None:
    """Why an xyxy box is unusable on a `width` x `height` image, or None if it is fine."""
    if (
        not isinstance(box, (list, tuple))
        or len(box) != 4
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in box)
    ):
        return "box is not 4 numbers"
    if not all(isinstance(v, int) or math.isfinite(v) for v in box):  # no float() of huge ints
        return "box is not finite"
    x1, y1, x2, y2 = box
    if not (x2 > x1 and y2 > y1):
        return "degenerate box"
    if x1 < -tol or y1 < -tol or x2 > width + tol or y2 > height + tol:
        return "box outside the image"
    return None


@dataclass
class ValidationReport:
    path: str
    records: int = 0
    problems: list[tuple[int, str]] = field(default_factory=list)  # (line, message)
    kinds: Counter = field(default_factory=Counter)
    images_checked: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def bad_lines(self) -> int:
        return len({line for line, _ in self.problems})

    def add(self, line: int, kind: str, msg: str) -> None:
        self.problems.append((line, msg))
        self.kinds[kind] += 1


class _ImageCache:
    """Each image is opened once, however many records use it."""

    def __init__(self, root: str, decode: bool, max_pixels: int | None = None):
        self.root, self.decode, self.max_pixels = root, decode, max_pixels
        self.sizes: dict[str, tuple[int, int] | str] = {}

    def size(self, full: str) -> tuple[int, int] | str:
        if full not in self.sizes:
            self.sizes[full] = self._read(full)
        return self.sizes[full]

    def _read(self, full: str) -> tuple[int, int] | str:
        from PIL import UnidentifiedImageError

        from vlmr1_cli.images import ImageTooLarge, open_image

        if not os.path.isfile(full):
            return "image not found"
        try:
            with open_image(full, self.max_pixels) as im:
                size = im.size
                if self.decode:
                    im.load()
            return size
        except ImageTooLarge as e:
            return f"{TOO_LARGE}: {e.detail()}"
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
            return f"image not readable ({type(e).__name__})"


def _boxes(rec: dict) -> list[tuple[str, Any]]:
    sol = rec.get("solution")
    if rec.get("task") == "rec":
        return [("solution", sol)]
    if rec.get("task") == "ovd" and isinstance(sol, list):
        return [
            (f"solution[{i}].bbox_2d", o.get("bbox_2d"))
            for i, o in enumerate(sol)
            if isinstance(o, dict)
        ]
    return []


def _label_problems(rec: dict) -> list[str]:
    if rec.get("task") != "ovd":
        return []
    out: list[str] = []
    labels = rec.get("labels")
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        return out  # the schema check reports it
    if any(isinstance(x, str) and not x.strip() for x in labels):
        out.append("key 'labels': empty label")
    negs = rec.get("negatives")
    if negs is not None:
        if not isinstance(negs, list) or not all(isinstance(x, str) for x in negs):
            out.append("key 'negatives': must be a list of strings")
        else:
            if set(negs) - set(labels):
                out.append(
                    f"key 'negatives': not queried in 'labels': {sorted(set(negs) - set(labels))[:3]}"
                )
            sol = rec.get("solution")
            pos: set[str] = set()
            for o in sol if isinstance(sol, list) else []:
                label = o.get("label") if isinstance(o, dict) else None
                if isinstance(label, str):
                    pos.add(label)
            if pos & set(negs):
                out.append(f"key 'negatives': also a solution label: {sorted(pos & set(negs))[:3]}")
    return out


def validate_file(
    path: str | os.PathLike,
    image_root: str | os.PathLike | None,
    tolerance: float = BOX_TOLERANCE,
    decode: bool = False,
    allow_absolute: bool = False,
    max_pixels: int | None = None,
) -> ValidationReport:
    """Check every line of `path`; images are looked up under `image_root` (None: skip).
    Images over `max_pixels` (default: vlmr1_cli.images' limit) are reported, never decoded."""
    from vlmr1_cli.progress import track

    p = str(path)
    if not os.path.isfile(p):
        raise UserError(f"{p}: file not found")
    if image_root is not None and not os.path.isdir(image_root):
        raise UserError(f"{image_root}: image root is not a folder")
    rep = ValidationReport(path=p)
    cache = _ImageCache(str(image_root), decode, max_pixels) if image_root is not None else None
    seen: dict[str, int] = {}
    with open(p, "rb") as fh:
        for lineno, raw in track(enumerate(fh, start=1), f"validate {os.path.basename(p)}"):
            if not raw.strip():
                continue
            rep.records += 1
            try:
                rec = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError as e:
                rep.add(lineno, "not UTF-8", f"not UTF-8 text (byte {e.start})")
                continue
            except (ValueError, RecursionError) as e:  # also over-long integers, deep nesting
                rep.add(lineno, "invalid JSON", json_problem(e))
                continue
            if not isinstance(rec, dict):
                rep.add(
                    lineno, "not an object", f"expected a JSON object, got {type(rec).__name__}"
                )
                continue
            _check_record(rec, lineno, rep, cache, seen, tolerance, allow_absolute)
    if rep.records == 0:
        rep.add(0, "empty file", "no records")
    if cache is not None:
        rep.images_checked = len(cache.sizes)
    return rep


def _check_record(
    rec: dict,
    lineno: int,
    rep: ValidationReport,
    cache: _ImageCache | None,
    seen: dict[str, int],
    tol: float,
    allow_absolute: bool,
) -> None:
    rid = rec.get("id")
    tag = f"id '{rid}': " if isinstance(rid, str) else ""
    try:
        problems = record_problems(rec)
    except TypeError:  # schema.record_problems on an unhashable OVD label (reported upstream)
        problems = ["key 'solution': every label must be a string"]
    for msg in problems:
        rep.add(lineno, "schema", tag + msg)
    if isinstance(rid, str):
        if rid in seen:
            rep.add(lineno, "duplicate id", f"{tag}duplicate id (first on line {seen[rid]})")
        else:
            seen[rid] = lineno
    for msg in _label_problems(rec):
        rep.add(lineno, "labels", tag + msg)
    if any(m.startswith(("missing key", "key 'images'", "key 'image_sizes'")) for m in problems):
        return
    sizes = rec["image_sizes"]
    for i, rel in enumerate(rec["images"]):
        if cache is None:
            break
        if os.path.isabs(rel) and not allow_absolute:
            rep.add(
                lineno, "image path", f"{tag}image path '{rel}' is absolute (use --allow-absolute)"
            )
            continue
        try:
            full = safe_join(cache.root, rel)
        except UnsafePathError as e:
            rep.add(lineno, "image path", tag + str(e))
            continue
        got = cache.size(full)
        if isinstance(got, str):
            kind = TOO_LARGE if got.startswith(TOO_LARGE) else "image"
            rep.add(
                lineno, kind, f"{tag}{rel}: {got}" if kind == TOO_LARGE else f"{tag}{got}: {rel}"
            )
        elif list(got) != list(sizes[i]):
            rep.add(
                lineno,
                "image size",
                f"{tag}{rel} is {got[0]}x{got[1]}, record says {sizes[i][0]}x{sizes[i][1]}",
            )
    if not rec["images"]:
        return
    w, h = sizes[0]
    # The schema already reports malformed / non-finite boxes (and degenerate REC boxes).
    covered = {"box is not 4 numbers", "box is not finite"}
    if rec["task"] == "rec":
        covered.add("degenerate box")
    for key, box in _boxes(rec):
        why = box_problem(box, w, h, tol)
        if why is not None and why not in covered:
            rep.add(lineno, why, f"{tag}{key}: {why} {box!r} (image {w}x{h})")

"""Import VLM-R1's distributed REC files as they are.

Two shapes, told apart by content:
- evaluation files (`refcoco_val.json`, `refcocop_val.json`, `refcocog_val.json`,
  `lisa_test.json`): one JSON array of `{image, width, height, problem, normal_caption,
  bbox_list, solution, normalized_solution, ...}`;
- training files (`refcoco_train.jsonl`, ...): one `{id, image, conversations: [{from: human,
  value: "<image>..."}, {from: gpt, value: "[x1,y1,x2,y2]"}]}` per line, read the way VLM-R1
  reads them (problem = human text without `<image>`, solution = gpt text without `<answer>`
  tags). These lines carry no size, so sizes come from the image headers (`--image-root`).

Coordinate conventions found there (and checked on import, counted in the summary):
- `solution` is continuous xyxy in original pixels, `[x, y, x+w, y+h]` of the refer box:
  imported unchanged.
- `bbox_list` is `[x, y, x+w-1, y+h-1]` (inclusive-pixel form): exactly 1 less on x2/y2.
- `normalized_solution` is `int(solution / (W, H, W, H) * 1000)`, truncated.
- The InternVL variant of the files stores 0-1000 coordinates: `--coords norm1000` maps
  them back with `x * W / 1000`.
The problem is the bare expression: `normal_caption` when present, else the text with
VLM-R1's instruction prefix removed.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TypeGuard

from vlmr1_cli.data.coco_json import positive_int, read_json_file
from vlmr1_cli.data.paths import check_relpath, safe_join
from vlmr1_cli.data.report import RecordSink, Summary
from vlmr1_cli.data.validate import BOX_TOLERANCE, box_problem
from vlmr1_cli.errors import UserError
from vlmr1_cli.geometry import MAX_VALUE, is_bounded_number, is_int_id
from vlmr1_cli.io import iter_jsonl, json_problem
from vlmr1_cli.progress import track

INSTRUCTION = "Please provide the bounding box coordinate of the region this sentence describes: "
COORDS = ("abs", "norm1000")
_ANSWER = re.compile(r"</?answer>")


def bare_expression(problem: str) -> tuple[str, bool]:
    """Strip VLM-R1's REC instruction (and its final '.') if present; (text, stripped?)."""
    text = problem.replace("<image>", "").strip()
    if text.startswith(INSTRUCTION):
        text = text[len(INSTRUCTION) :].strip()
        if text.endswith("."):
            text = text[:-1].rstrip()
        return text, True
    return text, False


def _box(v: Any, loc: str, key: str) -> list[float]:
    if not isinstance(v, (list, tuple)) or len(v) != 4 or not all(is_bounded_number(x) for x in v):
        raise UserError(
            f"{loc}: key '{key}' must be [x1, y1, x2, y2] finite numbers of magnitude "
            f"at most {MAX_VALUE:g}, got {_short(v)}"
        )
    return [float(x) for x in v]


def _short(v: Any) -> str:
    """`repr(v)` cut to 80 characters; a huge integer is named by its size (repr would raise
    past 4,300 digits, and a message should stay one short line)."""
    if isinstance(v, int) and v.bit_length() > 100:
        return f"an integer of {v.bit_length()} bits"
    if isinstance(v, (list, tuple)) and any(isinstance(x, int) and x.bit_length() > 100 for x in v):
        return "[" + ", ".join(_short(x) for x in v[:4]) + (", ...]" if len(v) > 4 else "]")
    text = repr(v)
    return text if len(text) <= 80 else text[:77] + "..."


class _Sizes:
    """Image sizes from headers, cached; only when a record does not state them."""

    def __init__(self, root: str | os.PathLike | None):
        self.root = root
        self.cache: dict[str, tuple[int, int]] = {}

    def get(self, rel: str, loc: str) -> tuple[int, int]:
        if self.root is None:
            raise UserError(
                f"{loc}: the record has no width/height; pass --image-root to read them from the image"
            )
        if rel not in self.cache:
            from PIL import UnidentifiedImageError

            from vlmr1_cli.images import open_image

            full = safe_join(self.root, rel, loc)
            if not os.path.isfile(full):
                raise UserError(f"{loc}: image not found: {rel} (image root {self.root})")
            try:
                with open_image(full, name=f"{loc}: image {rel}") as im:
                    self.cache[rel] = im.size
            except (UnidentifiedImageError, OSError) as e:
                raise UserError(
                    f"{loc}: image {rel} is not readable ({type(e).__name__})"
                ) from None
        return self.cache[rel]


def _iter_file(path: Path) -> Iterator[tuple[str, dict]]:
    """(location, raw item) for an eval JSON array or a training JSONL."""
    with open(path, "rb") as fh:
        head = fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head:
        raise UserError(f"{path}: empty file")
    if head[:1] == b"[":
        items = read_json_file(path, drop_segmentation=False)
        for i, item in enumerate(items):
            loc = f"{path}: item {i}"
            if not isinstance(item, dict):
                raise UserError(f"{loc}: expected a JSON object, got {type(item).__name__}")
            yield loc, item
    else:
        for lineno, item in iter_jsonl(path):
            yield f"{path}:{lineno}", item


def _image(item: dict, loc: str, prefix: str, summary: Summary) -> str | None:
    img = item.get("image")
    if isinstance(img, list):
        if len(img) != 1:
            summary.skip("multi-image record")
            return None
        img = img[0]
    if not isinstance(img, str):
        raise UserError(f"{loc}: key 'image' missing or not a path")
    return check_relpath(prefix + img, loc)


def _problem_and_solution(item: dict, loc: str, summary: Summary) -> tuple[str, list[float]]:
    if "conversations" in item:
        conv = item["conversations"]
        if (
            not isinstance(conv, list)
            or len(conv) < 2
            or not all(isinstance(c, dict) and isinstance(c.get("value"), str) for c in conv[:2])
        ):
            raise UserError(
                f"{loc}: key 'conversations' must hold a human and a gpt turn with string values"
            )
        problem, stripped = bare_expression(conv[0]["value"])
        answer = _ANSWER.sub("", conv[1]["value"]).strip()
        try:
            sol = json.loads(answer)
        except (ValueError, RecursionError) as e:
            raise UserError(
                f"{loc}: the gpt turn is not a JSON [x1, y1, x2, y2] ({json_problem(e)}): "
                f"{answer[:60]!r}"
            ) from None
        box = _box(sol, loc, "conversations[1].value")
    else:
        cap = item.get("normal_caption")
        if isinstance(cap, str) and cap.strip():
            problem, stripped = cap.strip(), False
        elif isinstance(item.get("problem"), str):
            problem, stripped = bare_expression(item["problem"])
        else:
            raise UserError(f"{loc}: neither 'normal_caption' nor 'problem' is a string")
        box = _box(item.get("solution"), loc, "solution")
    if stripped:
        summary.note("instruction prefix removed from the problem")
    return problem, box


def _numbers(v: object, n: int) -> TypeGuard[list[float]]:
    return isinstance(v, list) and len(v) == n and all(is_bounded_number(x) for x in v)


def _side(v: Any) -> int | None:
    """An image side: a positive integer (640 or 640.0) up to MAX_VALUE, else None."""
    return positive_int(v) if is_bounded_number(v) else None


def _check_conventions(item: dict, box: list[float], w: int, h: int, summary: Summary) -> None:
    bl = item.get("bbox_list")
    if isinstance(bl, list) and len(bl) == 1 and _numbers(bl[0], 4):
        d = [box[i] - bl[0][i] for i in range(4)]
        if all(abs(v) < 1e-6 for v in d[:2]) and all(abs(v - 1) < 1e-6 for v in d[2:]):
            summary.note("bbox_list = solution - 1 on x2,y2 (the documented convention)")
        else:
            summary.note("bbox_list NOT solution - 1 on x2,y2 (solution imported unchanged)")
    ns = item.get("normalized_solution")
    if _numbers(ns, 4):
        expect = [
            int(box[0] / w * 1000),
            int(box[1] / h * 1000),
            int(box[2] / w * 1000),
            int(box[3] / h * 1000),
        ]
        key = "matches" if list(ns) == expect else "does NOT match"
        summary.note(f"normalized_solution {key} int(solution / size * 1000)")


def convert_vlmr1_rec(
    files: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike,
    *,
    image_root: str | os.PathLike | None = None,
    coords: str = "abs",
    renumber: bool = False,
    image_prefix: str = "",
    tolerance: float = BOX_TOLERANCE,
) -> Summary:
    """Import VLM-R1 REC files (JSON arrays or JSONL) into one JSONL of REC records."""
    if coords not in COORDS:
        raise UserError(f"unknown --coords '{coords}' (choose abs or norm1000)")
    if not files:
        raise UserError("give at least one VLM-R1 REC file")
    summary = Summary(
        source="vlmr1-rec",
        options={
            "coords": coords,
            "renumber": renumber,
            "image_prefix": image_prefix,
            "box_tolerance_px": tolerance,
        },
    )
    sizes = _Sizes(image_root)
    seen: dict[str, str] = {}
    n = 0
    with RecordSink(output, summary) as sink:
        for f in files:
            path = Path(f)
            if not path.is_file():
                raise UserError(f"{path}: file not found")
            for loc, item in track(_iter_file(path), f"vlmr1-rec {path.name}"):
                rel = _image(item, loc, image_prefix, summary)
                if rel is None:
                    continue
                problem, box = _problem_and_solution(item, loc, summary)
                w, h = _side(item.get("width")), _side(item.get("height"))
                if "width" in item or "height" in item:
                    if w is None or h is None:
                        raise UserError(
                            f"{loc}: width/height must be positive integers, got "
                            f"{_short(item.get('width'))}x{_short(item.get('height'))} "
                            f"(at most {MAX_VALUE:g})"
                        )
                else:
                    w, h = sizes.get(rel, loc)
                if coords == "norm1000":
                    box = [
                        box[0] * w / 1000,
                        box[1] * h / 1000,
                        box[2] * w / 1000,
                        box[3] * h / 1000,
                    ]
                else:
                    _check_conventions(item, box, w, h, summary)
                if not problem:
                    summary.skip("empty expression")
                    continue
                why = box_problem(box, w, h, tolerance)
                if why is not None:
                    summary.skip(why)
                    continue
                if renumber or "id" not in item:
                    rid = f"{path.stem}-{n}" if renumber or len(files) > 1 else str(n)
                else:
                    rid = str(item["id"])
                    if rid in seen:
                        raise UserError(
                            f"{loc}: id '{rid}' already used at {seen[rid]} "
                            "(pass --renumber to number records by position)"
                        )
                    seen[rid] = loc
                n += 1
                rec = {
                    "id": rid,
                    "task": "rec",
                    "images": [rel],
                    "image_sizes": [[w, h]],
                    "problem": problem,
                    "solution": box,
                    "source": "vlmr1-rec",
                }
                for key in ("dataset_name", "image_id", "original_id"):
                    if (
                        key in item
                        and isinstance(item[key], (str, int))
                        and not isinstance(item[key], bool)
                    ):
                        if isinstance(item[key], int) and not is_int_id(item[key]):
                            raise UserError(
                                f"{loc}: key '{key}': {_short(item[key])} does not fit a 64-bit integer"
                            )
                        rec[key] = item[key]
                sink.write(rec)
    return summary

"""LISA ReasonSeg annotations -> REC records (LISA-Grounding).

ReasonSeg ships, per image, `NAME.jpg` and `NAME.json` with `text` (instructions; one or a
few rephrasings), `is_sentence`, and LabelMe-style `shapes` (`label`, `points`). LISA's own
loader skips shapes labelled `flag`, treats a label containing `ignore` as an ignore region
and every other shape as target, and paints the mask from the polygons. How VLM-R1 turned
masks into boxes is not documented, so the rule is an option, recorded in every record
(`box_rule`) and in the meta file:

- `targets` (default): the min/max over the points of all target shapes (`flag` and
  `ignore` shapes left out), clamped to the image: the box of the GT target mask.
- `first-shape`: the min/max of the first shape's points, whatever its label, unclamped: the
  recipe posted publicly for Visual-RFT/VLM-R1 style data.

Image sizes come from the image headers (the JSON has none). JSON text must be UTF-8; as in
LISA's loader, a file that is not falls back to cp1252, and the fallback is counted.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from vlmr1_cli.data.paths import UnsafePathError, check_relpath, safe_join
from vlmr1_cli.data.report import RecordSink, Summary
from vlmr1_cli.data.validate import BOX_TOLERANCE, box_problem
from vlmr1_cli.errors import UserError
from vlmr1_cli.geometry import is_number
from vlmr1_cli.io import json_problem
from vlmr1_cli.progress import track

BOX_RULES = ("targets", "first-shape")
TEXT_MODES = ("all", "first")


def _read_json(path: Path, summary: Summary) -> dict:
    data = path.read_bytes()
    if not data.strip():
        raise UserError(f"{path}: empty file (expected JSON)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError as e:
            raise UserError(f"{path}: neither UTF-8 nor cp1252 text (byte {e.start})") from None
        summary.note("annotation files decoded as cp1252 (LISA's fallback)")
    try:
        obj = json.loads(text.lstrip("\ufeff"))
    except json.JSONDecodeError as e:
        raise UserError(f"{path}:{e.lineno}: invalid JSON: {e.msg} at column {e.colno}") from None
    except (RecursionError, ValueError) as e:  # nesting too deep, an integer over 4,300 digits
        raise UserError(f"{path}: {json_problem(e)}") from None
    if not isinstance(obj, dict):
        raise UserError(f"{path}: expected a JSON object, got {type(obj).__name__}")
    return obj


def _points(shape: object, loc: str) -> list[tuple[float, float]]:
    if not isinstance(shape, dict) or not isinstance(shape.get("label"), str):
        raise UserError(f"{loc}: a shape must be an object with a string 'label'")
    pts = shape.get("points")
    if not isinstance(pts, list) or not pts:
        raise UserError(f"{loc}: key 'points' must be a non-empty list of [x, y]")
    out = []
    for p in pts:
        if not isinstance(p, (list, tuple)) or len(p) != 2 or not all(is_number(v) for v in p):
            raise UserError(f"{loc}: point {p!r} is not [x, y] finite numbers")
        out.append((float(p[0]), float(p[1])))
    return out


def mask_box(shapes: list, rule: str, width: int, height: int, loc: str) -> list[float] | None:
    """The record's box under `rule`, or None when there is no target shape."""
    if rule == "first-shape":
        if not shapes:
            return None
        pts = _points(shapes[0], f"{loc}: shapes[0]")
    else:
        pts = []
        for i, shape in enumerate(shapes):
            shape_pts = _points(shape, f"{loc}: shapes[{i}]")
            label = shape["label"].lower()  # _points checked: an object with a string label
            if label == "flag" or "ignore" in label:
                continue
            pts += shape_pts
        if not pts:
            return None
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    box = [min(xs), min(ys), max(xs), max(ys)]
    if rule == "targets":
        box = [
            min(max(box[0], 0.0), width),
            min(max(box[1], 0.0), height),
            min(max(box[2], 0.0), width),
            min(max(box[3], 0.0), height),
        ]
    return box


def _confined(root: Path, path: Path, what: str, loc: str) -> None:
    """Refuse `path`, a file directly in `root`, if it is a symlink resolving out of `root`
    (a link to another file of the folder is fine), as image paths are refused."""
    try:
        safe_join(root, path.name, loc)
    except UnsafePathError:
        raise UserError(f"{loc}: {what} {path.name} is a link to a file outside {root}") from None


def _image_size(path: Path, loc: str) -> tuple[int, int]:
    from PIL import UnidentifiedImageError

    from vlmr1_cli.images import open_image

    if not path.is_file():
        raise UserError(f"{loc}: image {path.name} not found next to it")
    try:
        with open_image(path, name=f"{loc}: image {path.name}") as im:
            return im.size
    except (UnidentifiedImageError, OSError) as e:
        raise UserError(f"{loc}: image {path.name} is not readable ({type(e).__name__})") from None


def convert_lisa(
    folder: str | os.PathLike,
    output: str | os.PathLike,
    *,
    box_rule: str = "targets",
    texts: str = "all",
    image_prefix: str = "",
    tolerance: float = BOX_TOLERANCE,
) -> Summary:
    """Convert a ReasonSeg split folder (e.g. `ReasonSeg/test`) into REC records."""
    if box_rule not in BOX_RULES:
        raise UserError(f"unknown --box-rule '{box_rule}' (choose {' or '.join(BOX_RULES)})")
    if texts not in TEXT_MODES:
        raise UserError(f"unknown --texts '{texts}' (choose all or first)")
    root = Path(folder)
    if not root.is_dir():
        raise UserError(f"{root}: folder not found")
    files = sorted(root.glob("*.json"))
    if not files:
        raise UserError(f"{root}: no *.json annotation files")
    summary = Summary(
        source="lisa",
        options={
            "box_rule": box_rule,
            "texts": texts,
            "image_prefix": image_prefix,
            "box_tolerance_px": tolerance,
        },
    )
    with RecordSink(output, summary) as sink:
        for path in track(files, f"lisa {root.name}"):
            loc = str(path)
            _confined(root, path, "annotation file", loc)
            anno = _read_json(path, summary)
            shapes, text = anno.get("shapes"), anno.get("text")
            if not isinstance(shapes, list):
                raise UserError(f"{loc}: key 'shapes' missing or not a list")
            if isinstance(text, str):
                text = [text]
            if not isinstance(text, list) or not text or not all(isinstance(t, str) for t in text):
                raise UserError(f"{loc}: key 'text' must be a non-empty list of strings")
            image = path.with_suffix(".jpg")
            _confined(root, image, "image", loc)
            w, h = _image_size(image, loc)
            box = mask_box(shapes, box_rule, w, h, loc)
            if box is None:
                summary.skip("no target shape", len(text) if texts == "all" else 1)
                continue
            why = box_problem(box, w, h, tolerance)
            if why is not None:
                summary.skip(why, len(text) if texts == "all" else 1)
                continue
            rel = check_relpath(image_prefix + image.name, loc)
            for k, t in enumerate(text if texts == "all" else text[:1]):
                if not t.strip():
                    summary.skip("empty instruction text")
                    continue
                sink.write(
                    {
                        "id": f"{path.stem}-{k}",
                        "task": "rec",
                        "images": [rel],
                        "image_sizes": [[w, h]],
                        "problem": t.strip(),
                        "solution": box,
                        "source": "lisa",
                        "box_rule": box_rule,
                        "is_sentence": bool(anno.get("is_sentence", False)),
                    }
                )
    return summary

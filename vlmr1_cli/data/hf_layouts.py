"""The column layouts of the field's VLM datasets, and how their values are read.

A layout names the columns that hold a row's image(s), problem and solution, and says how
the solution states its boxes. Presets (each read from its toolkit's documented format):

- `trl`: TRL's VLM GRPO examples, `image` (or `images`), `problem` (or a conversational
  `prompt`), `solution`.
- `easyr1`: EasyR1, `images` / `problem` / `answer`; the problem may hold `<image>`
  placeholders (removed).
- `swift`: ms-swift's grounding format, `images` plus `objects: {"ref": [...], "bbox":
  [[...]], "bbox_type": "real"|"norm1"|"norm1000", "image_id": [...]}` (boxes are xyxy; the
  unit is stated per row by `bbox_type`).
- `vlmr1`: what `prepare-data to-hf` writes (schema v1 as columns, `solution` JSON-encoded).
- `lmms-refcoco`: lmms-eval's RefCOCO on the Hub (`lmms-lab/RefCOCO`): `image`, `answer` (a
  list of referring expressions of one object), `bbox` (COCO xywh, original-image pixels),
  `question_id`; its `question` column is a fixed captioning instruction, not the expression.

`auto` picks one from the column names. Every role can be remapped (`--image-column` ...);
with the image, problem and solution columns all named, no preset is needed (`columns`: the
generic reading, no defaults). A problem cell holding a list of strings is several phrasings
of one problem: one record per text (`--texts all`) or the first only.
The box convention is stated, never guessed: `BoxFormat` x `BoxUnits`, converted to
schema v1's frame (original-image pixels, xyxy) by `to_xyxy_pixels`.

Standard library only: the CLI imports the enums for its help.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeGuard

from vlmr1_cli.errors import UserError
from vlmr1_cli.geometry import is_number


class Layout(str, Enum):
    auto = "auto"
    trl = "trl"
    easyr1 = "easyr1"
    swift = "swift"
    vlmr1 = "vlmr1"
    lmms_refcoco = "lmms-refcoco"


class Task(str, Enum):
    auto = "auto"
    rec = "rec"
    ovd = "ovd"
    text = "text"


class BoxFormat(str, Enum):
    xyxy = "xyxy"
    xywh = "xywh"
    cxcywh = "cxcywh"


class BoxUnits(str, Enum):
    pixels = "pixels"
    norm1 = "norm1"
    norm1000 = "norm1000"


class TextsPerRow(str, Enum):
    all = "all"
    first = "first"


ROLES = ("image", "problem", "solution", "labels", "id")
COLUMNS_LAYOUT = "columns"  # no preset: every role from the options (internal name)

# Candidate column names per role, first present wins. `None` = the role has no default.
_PRESETS: dict[str, dict[str, tuple[str, ...]]] = {
    "trl": {
        "image": ("image", "images"),
        "problem": ("problem", "prompt"),
        "solution": ("solution",),
        "labels": ("labels",),
        "id": ("id",),
    },
    "easyr1": {
        "image": ("images", "image"),
        "problem": ("problem",),
        "solution": ("answer",),
        "labels": ("labels",),
        "id": ("id",),
    },
    "swift": {
        "image": ("images", "image"),
        "problem": (),
        "solution": ("objects",),
        "labels": (),
        "id": ("id",),
    },
    "vlmr1": {
        "image": ("images",),
        "problem": ("problem",),
        "solution": ("solution",),
        "labels": ("labels",),
        "id": ("id",),
    },
    "lmms-refcoco": {
        "image": ("image",),
        "problem": ("answer",),
        "solution": ("bbox",),
        "labels": (),
        "id": ("question_id",),
    },
    COLUMNS_LAYOUT: {"image": (), "problem": (), "solution": (), "labels": (), "id": ("id",)},
}
LAYOUTS = tuple(layout.value for layout in Layout if layout is not Layout.auto)
LMMS_REFCOCO_COLUMNS = frozenset(
    {"question_id", "image", "question", "answer", "bbox", "file_name"}
)
# Box conventions a preset states (the user may repeat them, not contradict them). lmms-eval's
# RefCOCO tasks read `bbox` as COCO (top-left x, top-left y, width, height) in the original
# image's pixels: tasks/refcoco/utils.py draws it as [x, y, x + w, y + h] and utils_rec.py
# divides x + w by the image width.
PRESET_CONVENTIONS = {"lmms-refcoco": ("xywh", "pixels"), "vlmr1": ("xyxy", "pixels")}
VLMR1_COLUMNS = ("id", "task", "images", "image_sizes", "problem", "solution", "labels", "extra")

# ms-swift's bbox_type -> our unit names
SWIFT_BBOX_TYPES = {"real": "pixels", "norm1": "norm1", "norm1000": "norm1000"}

_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)
_IMAGE_TOKEN = re.compile(r"<image>")


def _matching_layouts(cols: set[str]) -> list[str]:
    found = []
    if {"id", "task", "images", "image_sizes", "problem", "solution"} <= cols:
        found.append("vlmr1")
    if LMMS_REFCOCO_COLUMNS <= cols:
        found.append("lmms-refcoco")
    if "objects" in cols:
        found.append("swift")
    if "answer" in cols and "problem" in cols:
        found.append("easyr1")
    if "solution" in cols:
        found.append("trl")
    return found


def detect_layout(columns: list[str], solution_column: str | None = None) -> str:
    """The preset a dataset's columns match, or "" when none does.

    A solution column named by the user that is not the preset's own rules the preset out
    (its reading of that column, e.g. ms-swift's `objects`, would not apply).
    """
    for layout in _matching_layouts(set(columns)):
        if solution_column is None or solution_column in _PRESETS[layout]["solution"]:
            return layout
    return ""


def columns_suffice(overrides: dict[str, str | None], task: str) -> bool:
    """Whether the options name every column the task needs (so no preset is needed)."""
    needed = ["problem", "solution"] + ([] if task == "text" else ["image"])
    return all(overrides.get(role) is not None for role in needed)


@dataclass(frozen=True)
class ColumnMap:
    """The column that plays each role (None: the dataset has none)."""

    image: str | None
    problem: str | None
    solution: str | None
    labels: str | None
    id: str | None

    def as_dict(self) -> dict[str, str | None]:
        return {role: getattr(self, role) for role in ROLES}


def resolve_columns(
    layout: str, columns: list[str], overrides: dict[str, str | None], source: str, task: str
) -> ColumnMap:
    """Columns per role: an override must exist; a default is the first candidate present.

    A role the task needs but the dataset lacks is a one-line error naming the columns.
    """
    shown = ", ".join(columns) if columns else "none"
    preset = _PRESETS[layout]
    chosen: dict[str, str | None] = {}
    for role in ROLES:
        given = overrides.get(role)
        if given is not None:
            if given not in columns:
                raise UserError(
                    f"{source}: --{role}-column '{given}' is not a column (columns: {shown})"
                )
            chosen[role] = given
        else:
            chosen[role] = next((c for c in preset[role] if c in columns), None)
    needed = ([] if task == "text" else ["image"]) + (["problem"] if layout != "swift" else [])
    needed.append("solution")
    for role in needed:
        if chosen[role] is None:
            looked = ", ".join(f"'{c}'" for c in preset[role]) or "none by default"
            what = f"the {layout} layout" if layout != COLUMNS_LAYOUT else "the columns given"
            raise UserError(
                f"{source}: no {role} column for {what} (looked for "
                f"{looked}; columns: {shown}); pass --{role}-column"
            )
    return ColumnMap(**chosen)


# -- values -----------------------------------------------------------------------------------


class RowSkip(Exception):
    """A row left out; the message is the reason counted in the summary."""


def is_box(v: object) -> TypeGuard[Sequence[float]]:
    return isinstance(v, (list, tuple)) and len(v) == 4 and all(is_number(x) for x in v)


def strip_image_tokens(text: str) -> tuple[str, bool]:
    """Remove `<image>` placeholders (EasyR1, ms-swift); (text, removed?)."""
    out = _IMAGE_TOKEN.sub("", text)
    return out.strip(), out != text


def problem_texts(value: Any) -> list[str] | None:
    """A problem cell holding a list of strings (several phrasings, e.g. the referring
    expressions of one object), as a list; None for any other value."""
    if isinstance(value, (list, tuple)) and all(isinstance(t, str) for t in value):
        return list(value)
    return None


def problem_text(value: Any) -> str:
    """The problem as text: a string, or the last user turn of a conversational prompt
    (`[{"role": "user", "content": str | [{"type": "text", "text": ...}, ...]}]`)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        turns = [m for m in value if isinstance(m, dict) and m.get("role") == "user"]
        if turns:
            content = turns[-1].get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return "".join(
                    p.get("text") or ""
                    for p in content
                    if isinstance(p, dict) and p.get("type", "text") == "text"
                )
    if value is None:
        return ""
    raise RowSkip("problem is not text")


def answer_payload(text: str) -> str:
    """The answer inside `<answer>...</answer>` (the last one) and ``` fences, if any."""
    found = _ANSWER.findall(text)
    inner = (found[-1] if found else text).strip()
    fenced = _FENCE.match(inner)
    return fenced.group(1).strip() if fenced else inner


Grounding = tuple[str, Any]  # ("box", [4]) | ("objects", [(box, label | None)]) | ("text", str)


def parse_solution(value: Any) -> Grounding:
    """Read a solution as a box, a list of objects, or (failing both) text.

    Accepted: `[x1, y1, x2, y2]`, `{"bbox_2d": [...], "label": ...}` (or `bbox`), a list of
    such objects, a list of boxes, and any of these as JSON text, optionally wrapped in
    `<answer>...</answer>` or a ```json fence.
    """
    if isinstance(value, str):
        payload = answer_payload(value)
        try:
            parsed = json.loads(payload)
        except json.JSONDecodeError:
            return ("text", payload)
        if not isinstance(parsed, (list, dict)):
            return ("text", payload)
        return parse_solution(parsed)
    if is_box(value):
        return ("box", [float(x) for x in value])
    if isinstance(value, dict):
        return ("objects", [_object(value)])
    if isinstance(value, (list, tuple)) and value:
        if all(isinstance(o, dict) for o in value):
            return ("objects", [_object(o) for o in value])
        if all(isinstance(b, (list, tuple)) for b in value):
            if not all(is_box(b) for b in value):
                raise RowSkip("box is not 4 numbers")
            return ("objects", [([float(x) for x in b], None) for b in value])
    if isinstance(value, (list, tuple)) and not value:
        return ("objects", [])
    raise RowSkip("solution is not a box or a list of objects")


def _object(obj: dict) -> tuple[list[float], str | None]:
    box = obj.get("bbox_2d", obj.get("bbox"))
    if not is_box(box):
        raise RowSkip("box is not 4 numbers")
    label = obj.get("label")
    if label is not None and not isinstance(label, str):
        raise RowSkip("object label is not text")
    return [float(x) for x in box], label


def parse_labels(value: Any) -> list[str] | None:
    """A labels cell: a list of strings or JSON text of one; None when empty."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise RowSkip("labels are not a list of strings") from None
    if not isinstance(value, (list, tuple)) or not all(isinstance(x, str) for x in value):
        raise RowSkip("labels are not a list of strings")
    return list(value)


@dataclass(frozen=True)
class SwiftObjects:
    """One row's ms-swift `objects`: boxes paired with their refs, and the stated unit."""

    objects: list[tuple[list[float], str]]
    units: str | None  # from bbox_type; None when the row states none


def parse_swift_objects(value: Any) -> SwiftObjects:
    """ms-swift's `objects` (a struct, or JSON text of one; the older list-of-dicts form with
    `caption`/`ref` and `bbox` too). Refs pair with boxes one to one, or one ref for all."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise RowSkip("objects: not JSON") from None
    refs: Any  # raw JSON values until checked below
    boxes: Any
    image_ids: Any
    if isinstance(value, list):  # older form: [{"caption": ..., "bbox": [...], "bbox_type": ...}]
        refs = [o.get("ref", o.get("caption")) if isinstance(o, dict) else None for o in value]
        boxes = [o.get("bbox") if isinstance(o, dict) else None for o in value]
        types = {o.get("bbox_type") for o in value if isinstance(o, dict)} - {None}
        image_ids = [o.get("image", 0) if isinstance(o, dict) else 0 for o in value]
        if len(types) > 1:
            raise RowSkip("objects: mixed bbox_type")
        bbox_type = types.pop() if types else None
    elif isinstance(value, dict):
        refs, boxes = value.get("ref"), value.get("bbox")
        bbox_type, image_ids = value.get("bbox_type"), value.get("image_id")
        if isinstance(refs, str):
            refs = [refs]
        if is_box(boxes):
            boxes = [boxes]
    else:
        raise RowSkip("objects: not an ms-swift objects value")
    if not isinstance(boxes, list) or not boxes:
        raise RowSkip("objects: no bbox")
    if not all(is_box(b) for b in boxes):
        raise RowSkip("box is not 4 numbers")
    if not isinstance(refs, list) or not refs or not all(isinstance(r, str) for r in refs):
        raise RowSkip("objects: no ref text for the boxes")
    if len(refs) == 1:
        refs = refs * len(boxes)
    if len(refs) != len(boxes):
        raise RowSkip("objects: ref and bbox counts differ")
    if image_ids and any(i not in (0, None) for i in image_ids):
        raise RowSkip("objects: a box on another image than the first")
    units = None
    if bbox_type is not None:
        if bbox_type not in SWIFT_BBOX_TYPES:
            raise RowSkip(f"objects: unknown bbox_type {str(bbox_type)[:20]!r}")
        units = SWIFT_BBOX_TYPES[bbox_type]
    pairs = zip(boxes, refs, strict=True)
    return SwiftObjects([([float(x) for x in b], r) for b, r in pairs], units)


def to_xyxy_pixels(
    box: list[float], box_format: str, units: str, width: int, height: int
) -> list[float]:
    """A box in the stated convention -> continuous xyxy in original-image pixels.

    Sums and scalings are rounded to 10 decimals: that removes float noise
    (`0.1 * 640 = 64.00000000000001`) and nothing a pixel frame can show.
    """
    a, b, c, d = box
    if box_format == "xyxy":
        x1, y1, x2, y2 = a, b, c, d
    elif box_format == "xywh":
        x1, y1, x2, y2 = a, b, a + c, b + d
    elif box_format == "cxcywh":
        x1, y1, x2, y2 = a - c / 2, b - d / 2, a + c / 2, b + d / 2
    else:
        raise ValueError(f"unknown box format {box_format!r}")
    scale = {"pixels": 1, "norm1": 1, "norm1000": 1000}.get(units)
    if scale is None:
        raise ValueError(f"unknown box units {units!r}")
    if units == "pixels":
        width = height = 1
    # multiply first, then divide: 250 * 640 / 1000 is exactly 160.0
    xs = [round(v * width / scale, 10) for v in (x1, x2)]
    ys = [round(v * height / scale, 10) for v in (y1, y2)]
    return [xs[0], ys[0], xs[1], ys[1]]

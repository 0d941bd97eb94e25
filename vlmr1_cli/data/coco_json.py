"""Reading COCO-format files (COCO instances, refer's instances.json, OVDEval, D3's JSON).

One strict reader for all of them. Files are untrusted: every structural problem is a
one-line `UserError` naming the file and the record (`FILE: annotations[12] (id=34): ...`).
Segmentations are dropped while parsing (no importer needs them; a bbox evaluation ignores
them), which keeps peak memory near the size of the boxes, not of the polygons.
"""

from __future__ import annotations

import contextlib
import gc
import json
import math
import os
from dataclasses import dataclass, field
from typing import Any

from vlmr1_cli.data.paths import check_relpath
from vlmr1_cli.errors import UserError
from vlmr1_cli.geometry import is_number
from vlmr1_cli.io import json_problem


def _drop_segmentation(d: dict) -> dict:
    d.pop("segmentation", None)
    return d


@contextlib.contextmanager
def no_gc():
    """Pause the cyclic GC while a big parse builds millions of acyclic containers (it would
    rescan them again and again); restored afterwards."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def read_json_file(path: str | os.PathLike, drop_segmentation: bool = True) -> Any:
    """Parse a JSON file strictly: UTF-8 only, one-line errors with the line number."""
    if not os.path.isfile(path):
        raise UserError(f"{path}: file not found")
    with open(path, "rb") as fh:
        data = fh.read()
    if not data.strip():
        raise UserError(f"{path}: empty file (expected JSON)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise UserError(
            f"{path}:{line}: not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start})"
        ) from None
    del data
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        with no_gc():
            return json.loads(text, object_hook=_drop_segmentation if drop_segmentation else None)
    except json.JSONDecodeError as e:
        hint = " (file truncated?)" if e.pos >= len(text.rstrip()) else ""
        raise UserError(
            f"{path}:{e.lineno}: invalid JSON: {e.msg} at column {e.colno}{hint}"
        ) from None
    except RecursionError:
        raise UserError(f"{path}: JSON nests too deeply") from None
    except ValueError as e:  # an integer over 4,300 digits
        raise UserError(f"{path}: {json_problem(e)}") from None


def positive_int(v: Any) -> int | None:
    """`v` as a positive int (640 or 640.0), else None."""
    if not is_number(v):
        return None
    if v != int(v) or v <= 0:
        return None
    return int(v)


def is_id(v: Any) -> bool:
    return (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, str) and v != "")


@dataclass
class CocoFile:
    """A validated COCO-format file. Lists keep file order; `*_by_id` index them."""

    path: str
    images: list[dict]
    annotations: list[dict]
    categories: list[dict]
    images_by_id: dict[Any, dict] = field(default_factory=dict)
    categories_by_id: dict[Any, dict] = field(default_factory=dict)
    top: dict = field(default_factory=dict)

    def anns_by_image(self) -> dict[Any, list[dict]]:
        out: dict[Any, list[dict]] = {}
        for ann in self.annotations:
            out.setdefault(ann["image_id"], []).append(ann)
        return out


def _list(top: dict, key: str, path: str, required: bool) -> list:
    v = top.get(key)
    if v is None:
        if required:
            raise UserError(f"{path}: key '{key}' missing (not a COCO-format file?)")
        return []
    if not isinstance(v, list):
        raise UserError(f"{path}: key '{key}' must be a list, got {type(v).__name__}")
    return v


def check_image(img: Any, loc: str) -> None:
    if not isinstance(img, dict):
        raise UserError(f"{loc}: expected an object, got {type(img).__name__}")
    for key in ("id", "file_name", "width", "height"):
        if key not in img:
            raise UserError(f"{loc}: key '{key}' missing")
    if not is_id(img["id"]):
        raise UserError(f"{loc}: key 'id' must be an integer or string, got {img['id']!r}")
    for key in ("width", "height"):
        if positive_int(img[key]) is None:
            raise UserError(f"{loc}: key '{key}' must be a positive integer, got {img[key]!r}")
        img[key] = int(img[key])
    check_relpath(img["file_name"], loc)


_NUM = (int, float)


def bbox_xywh(v: Any, loc: str) -> list[float]:
    """A COCO `[x, y, w, h]`: 4 finite numbers, w and h not negative."""
    try:
        fast = (
            type(v) is list
            and len(v) == 4
            and type(v[0]) in _NUM
            and type(v[1]) in _NUM
            and type(v[2]) in _NUM
            and type(v[3]) in _NUM
            and math.isfinite(v[0] + v[1] + v[2] + v[3])
        )
    except OverflowError:  # integers too large for a float: the slow path words it
        fast = False
    if fast:
        pass  # the common case; exact types, so no bool
    elif not isinstance(v, (list, tuple)) or len(v) != 4 or not all(is_number(x) for x in v):
        raise UserError(f"{loc}: key 'bbox' must be [x, y, w, h] finite numbers, got {v!r}")
    if v[2] < 0 or v[3] < 0:
        raise UserError(f"{loc}: key 'bbox' has a negative size {list(v)!r}")
    return [float(x) for x in v]


def xyxy(b: list[float]) -> list[float]:
    """COCO `[x, y, w, h]` -> `[x, y, x+w, y+h]`; sums rounded to 10 decimals, which removes
    float noise (`293.16 + 35.98` -> `329.14`, not `329.14000000000004`) and nothing else."""
    return [b[0], b[1], round(b[0] + b[2], 10), round(b[1] + b[3], 10)]


def load_coco(
    path: str | os.PathLike, *, require_categories: bool = True, ann_ids: set | None = None
) -> CocoFile:
    """Read and validate a COCO-format detection file (images, annotations, categories).

    `ann_ids`: keep (and check) only these annotations (refer needs a fraction of them).
    """
    p = str(path)
    top = read_json_file(path)
    if not isinstance(top, dict):
        raise UserError(
            f"{p}: expected a JSON object with 'images' and 'annotations', got {type(top).__name__}"
        )
    images = _list(top, "images", p, True)
    anns = _list(top, "annotations", p, True)
    if ann_ids is not None:
        anns = [
            a for a in anns if isinstance(a, dict) and is_id(a.get("id")) and a["id"] in ann_ids
        ]
    cats = _list(top, "categories", p, require_categories)
    out = CocoFile(
        path=p,
        images=images,
        annotations=anns,
        categories=cats,
        top={k: v for k, v in top.items() if k not in ("images", "annotations", "categories")},
    )
    for i, cat in enumerate(cats):
        loc = f"{p}: categories[{i}]"
        if not isinstance(cat, dict) or "id" not in cat or "name" not in cat:
            raise UserError(f"{loc}: expected an object with 'id' and 'name'")
        if not is_id(cat["id"]) or not isinstance(cat["name"], str):
            raise UserError(f"{loc}: 'id' must be an integer and 'name' a string")
        if cat["id"] in out.categories_by_id:
            raise UserError(f"{loc}: duplicate category id {cat['id']!r}")
        out.categories_by_id[cat["id"]] = cat
    for i, img in enumerate(images):
        loc = f"{p}: images[{i}]" + (f" (id={img.get('id')!r})" if isinstance(img, dict) else "")
        check_image(img, loc)
        if img["id"] in out.images_by_id:
            raise UserError(f"{loc}: duplicate image id {img['id']!r}")
        out.images_by_id[img["id"]] = img
    seen: set = set()
    for i, ann in enumerate(anns):
        loc = f"{p}: annotations[{i}]" + (
            f" (id={ann.get('id')!r})" if isinstance(ann, dict) else ""
        )
        if not isinstance(ann, dict):
            raise UserError(f"{loc}: expected an object, got {type(ann).__name__}")
        for key in ("id", "image_id", "bbox"):
            if key not in ann:
                raise UserError(f"{loc}: key '{key}' missing")
        if not is_id(ann["id"]):
            raise UserError(f"{loc}: key 'id' must be an integer or string")
        if ann["id"] in seen:
            raise UserError(f"{loc}: duplicate annotation id {ann['id']!r}")
        seen.add(ann["id"])
        if not is_id(ann["image_id"]) or ann["image_id"] not in out.images_by_id:
            raise UserError(f"{loc}: image_id {ann['image_id']!r} is not in 'images'")
        if cats or require_categories:
            cid = ann.get("category_id")
            if not is_id(cid) or cid not in out.categories_by_id:
                raise UserError(
                    f"{loc}: category_id {ann.get('category_id')!r} is not in 'categories'"
                )
        ann["bbox"] = bbox_xywh(ann["bbox"], loc)
        if "area" in ann and not is_number(ann["area"]):
            raise UserError(f"{loc}: key 'area' must be a finite number, got {ann['area']!r}")
        crowd = ann.get("iscrowd", 0)
        if crowd not in (0, 1):
            raise UserError(f"{loc}: key 'iscrowd' must be 0 or 1, got {crowd!r}")
        ann["iscrowd"] = int(crowd)
    return out

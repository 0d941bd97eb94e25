"""Boxes, IoU and image-size arithmetic: the one geometry for rewards and evaluation.

Boxes are `(x1, y1, x2, y2)` floats (continuous xyxy) unless a name says `xywh`.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from typing import TypeGuard

import numpy as np

Box = tuple[float, float, float, float]

# The largest magnitude accepted for a number read from a file as a coordinate, box side,
# image side, area's factor or score: far beyond any image, yet small enough that products
# (areas up to 1e24) and IoUs stay finite in float64. Larger values, and integers too large
# for a float, are input errors. Model answers have a tighter bound (parsing.MAX_ANSWER_VALUE).
MAX_VALUE = 1e12
# Integer ids (COCO image, category and annotation ids) must fit a signed 64-bit integer,
# the type COCO tools store them in.
MAX_ID = 2**63 - 1


_FLOAT_MAX = sys.float_info.max


def is_number(v: object) -> TypeGuard[float]:
    """A finite int or float. Bools are not numbers (`True` in a box is a mistake, not 1), and
    an integer too large for a float is not one either (checked without raising:
    `math.isfinite(10**400)` would)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    return math.isfinite(v) if isinstance(v, float) else -_FLOAT_MAX <= v <= _FLOAT_MAX


def is_bounded_number(v: object, limit: float = MAX_VALUE) -> bool:
    """An int or float (not bool), finite, with |v| <= limit; never raises, even for huge ints."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    # int vs float comparison is exact in Python: no float conversion that could overflow.
    return (isinstance(v, int) or math.isfinite(v)) and -limit <= v <= limit


def is_int_id(v: object) -> TypeGuard[int]:
    """An integer (not bool) that fits a signed 64-bit integer."""
    return isinstance(v, int) and not isinstance(v, bool) and -MAX_ID - 1 <= v <= MAX_ID


def xywh_to_xyxy(b: Sequence[float]) -> Box:
    x, y, w, h = (float(v) for v in b)
    return (x, y, x + w, y + h)


def xyxy_to_xywh(b: Sequence[float]) -> Box:
    x1, y1, x2, y2 = (float(v) for v in b)
    return (x1, y1, x2 - x1, y2 - y1)


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Continuous IoU: overlap clipped at 0, 0 when the union is not positive or not finite
    (also for integers too large for a float)."""
    try:
        wx = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        wy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        inter = wx * wy
        union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
        if not union > 0 or not math.isfinite(union):
            return 0.0
        return float(inter / union)
    except OverflowError:
        return 0.0


def iou_discrete(a: Sequence[float], b: Sequence[float]) -> float:
    """VLM-R1's IoU: the overlap counts only when it exceeds 1 px on both axes.

    The union uses the plain (unclipped) areas, as VLM-R1's reward does. 0 where the union is
    not positive or not finite (also for integers too large for a float).
    """
    try:
        wx = min(a[2], b[2]) - max(a[0], b[0])
        wy = min(a[3], b[3]) - max(a[1], b[1])
        inter = wx * wy if (wx > 1 and wy > 1) else 0.0
        union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
        if not union > 0 or not math.isfinite(union):
            return 0.0
        return float(inter / union)
    except OverflowError:
        return 0.0


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise continuous IoU of xyxy arrays (N,4) x (M,4) -> (N,M)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    wx = np.clip(
        np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None
    )
    wy = np.clip(
        np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None
    )
    inter = wx * wy
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(union > 0, inter / union, 0.0)
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)


def scale_box(b: Sequence[float], sx: float, sy: float) -> Box:
    return (b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy)


# Qwen's image processors refuse images whose longer side exceeds 200 times the shorter one.
MAX_ASPECT_RATIO = 200


def smart_resize(
    height: int, width: int, factor: int, min_pixels: int, max_pixels: int
) -> tuple[int, int]:
    """The Qwen2-VL/2.5-VL/3-VL image processors' target size `(h, w)` (transformers' rule).

    Rounds each side to a multiple of `factor` (Python's round: halves to even), then scales
    down or up to fit `[min_pixels, max_pixels]`, keeping the aspect ratio. A side under half a
    factor rounds to 0, which always falls into the min-pixels branch and is upscaled with the
    other side. Raises ValueError for aspect ratios over 200 (as transformers does) and for a
    side left at 0 (only possible with `min_pixels <= 0`; the processor would fail on it).
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    # The same float division as transformers, so the boundary falls where it does there.
    ratio = max(height, width) / min(height, width)
    if ratio > MAX_ASPECT_RATIO:
        raise ValueError(
            f"aspect ratio {ratio:.1f} is over {MAX_ASPECT_RATIO}, which Qwen's resize refuses"
        )
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    if h_bar <= 0 or w_bar <= 0:
        raise ValueError(f"image {width}x{height} is too small for factor {factor}")
    return h_bar, w_bar


def iou_vlmr1(a: Sequence[float], b: Sequence[float]) -> float:
    """VLM-R1's reward IoU with its exact arithmetic, for bit parity with its rewards.

    `min(x2 - 1, x2' - 1) - max(x1, x1') + 1` per axis, overlap only when both spans exceed
    1 px, union from the plain areas. Equals `iou_discrete` up to floating-point rounding.
    Where VLM-R1 raises (zero union, overflow of huge integers) this returns 0.0, the value
    its reward's `except` gives, and so do non-finite results. A negative result (only -0.0
    is possible) is returned as 0.0; nothing else is clamped.
    """
    try:
        ix1 = max(a[0], b[0])
        iy1 = max(a[1], b[1])
        ix2 = min(a[2] - 1, b[2] - 1)
        iy2 = min(a[3] - 1, b[3] - 1)
        if ix1 < ix2 and iy1 < iy2:
            inter = (ix2 - ix1 + 1) * (iy2 - iy1 + 1)
        else:
            inter = 0
        union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
        value = float(inter) / union
    except (ZeroDivisionError, OverflowError, TypeError, IndexError, ValueError):
        return 0.0
    if not math.isfinite(value) or value <= 0.0:
        return 0.0
    return value

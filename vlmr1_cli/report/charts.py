"""Line charts as inline SVG: training curves, accuracy against the IoU threshold.

Standard library only, so a report needs neither matplotlib nor a network: the chart is a
few polylines with the axis ranges written at the ends. Non-finite values are left out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from vlmr1_cli.report.page import esc

WIDTH, HEIGHT = 360, 210
LEFT, RIGHT, TOP, BOTTOM = 52, 12, 26, 34  # margins: y labels left, x labels below


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1000 or abs(v) < 0.01:
        return f"{v:.3g}"
    return f"{v:.3f}".rstrip("0").rstrip(".")


def _span(values: list[float]) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    if hi == lo:  # a flat line sits in the middle
        pad = abs(lo) * 0.1 or 1.0
        return lo - pad, hi + pad
    return lo, hi


def line_chart(
    title: str,
    series: Sequence[tuple[str, str, Sequence[tuple[float, float]]]],
    x_label: str = "step",
    y_range: tuple[float, float] | None = None,
) -> str:
    """An SVG chart of `series`: (name, colour, [(x, y), ...]) each; a legend when several."""
    clean = [
        (
            name,
            color,
            [(float(x), float(y)) for x, y in pts if math.isfinite(x) and math.isfinite(y)],
        )
        for name, color, pts in series
    ]
    clean = [s for s in clean if s[2]]
    parts = [
        f'<svg class="chart" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-label="{esc(title)}">',
        f'<text x="{LEFT}" y="16" font-weight="600">{esc(title)}</text>',
    ]
    if not clean:
        parts.append(f'<text x="{LEFT}" y="{HEIGHT / 2}">no finite values</text></svg>')
        return "".join(parts)
    xs = [x for _, _, pts in clean for x, _ in pts]
    ys = [y for _, _, pts in clean for _, y in pts]
    x0, x1 = _span(xs)
    y0, y1 = y_range if y_range is not None else _span(ys)
    w, h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(x: float) -> float:
        return LEFT + (x - x0) / (x1 - x0) * w

    def py(y: float) -> float:
        return TOP + (1 - (y - y0) / (y1 - y0)) * h

    parts.append(f'<rect x="{LEFT}" y="{TOP}" width="{w}" height="{h}" fill="none" stroke="#bbb"/>')
    mid = (y0 + y1) / 2
    parts.append(
        f'<line x1="{LEFT}" x2="{LEFT + w}" y1="{py(mid):.1f}" y2="{py(mid):.1f}" stroke="#e3e3e3"/>'
    )
    for value in (y0, mid, y1):
        parts.append(
            f'<text x="{LEFT - 4}" y="{py(value) + 4:.1f}" text-anchor="end">{esc(_fmt(value))}</text>'
        )
    parts.append(f'<text x="{LEFT}" y="{TOP + h + 14}" text-anchor="start">{esc(_fmt(x0))}</text>')
    parts.append(
        f'<text x="{LEFT + w}" y="{TOP + h + 14}" text-anchor="end">{esc(_fmt(x1))}</text>'
    )
    parts.append(
        f'<text x="{LEFT + w / 2}" y="{TOP + h + 28}" text-anchor="middle">{esc(x_label)}</text>'
    )
    for name, color, pts in clean:
        coords = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in sorted(pts))
        parts.append(
            f'<polyline points="{coords}" fill="none" stroke="{esc(color)}" stroke-width="1.6">'
            f"<title>{esc(name)}</title></polyline>"
        )
        if len(pts) < 30:
            parts.extend(
                f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="2.2" fill="{esc(color)}"/>'
                for x, y in pts
            )
    if len(clean) > 1:
        for i, (name, color, _) in enumerate(clean):
            y = TOP + 12 + 13 * i
            parts.append(
                f'<rect x="{LEFT + 6}" y="{y - 8}" width="10" height="3" fill="{esc(color)}"/>'
                f'<text x="{LEFT + 20}" y="{y - 4}">{esc(name)}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)

"""The page every report shares: skeleton, styles, escaping, tables and embedded data.

Everything that comes from outside (completions, phrases, labels, paths, recipe text) is
either escaped with `html.escape` where Python writes HTML, or travels in the embedded JSON
and is put on the page by the script with `textContent`/`setAttribute`, never as HTML. The
JSON sits in a `<script type="application/json">` block with `<`, `>`, `&` and the JavaScript
line separators written as `\\uXXXX`, so no string can close the block.

The gallery's script, markup and data live in `report/gallery.py`.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vlmr1_cli.io import atomic_open
from vlmr1_cli.report.gallery import GALLERY_HTML, GALLERY_JS

REPORT_FILE = "report.html"

# No network, whatever is on the page: only inline styles and scripts, images from files or data:.
CSP = (
    "default-src 'none'; img-src 'self' file: data:; style-src 'unsafe-inline'; "
    "script-src 'unsafe-inline'"
)

CSS = """
* { box-sizing: border-box; }
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #1b1b1b;
       background: #f6f6f4; }
header { background: #20232a; color: #fff; padding: 14px 24px; }
header h1 { margin: 0; font-size: 20px; }
header p { margin: 4px 0 0; color: #c8ccd2; font-size: 13px; word-break: break-all; }
main { padding: 12px 24px 40px; }
section { margin: 18px 0; }
h2 { font-size: 16px; margin: 0 0 8px; }
table { border-collapse: collapse; background: #fff; margin: 0 0 12px; font-variant-numeric: tabular-nums; }
caption { text-align: left; font-weight: 600; padding: 4px 0; }
th, td { border: 1px solid #d9d9d6; padding: 3px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #eceae6; }
th.text, td.text { text-align: left; word-break: break-all; max-width: 60em; }
pre.file { background: #fff; border: 1px solid #d9d9d6; padding: 8px; overflow: auto; max-height: 30em; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
.chart { background: #fff; border: 1px solid #d9d9d6; }
.chart text { font: 11px system-ui, sans-serif; fill: #333; }
.note { color: #555; }
.controls { display: flex; flex-wrap: wrap; gap: 10px 16px; align-items: center; background: #fff;
            border: 1px solid #d9d9d6; padding: 8px 10px; position: sticky; top: 0; z-index: 2; }
.controls label { display: inline-flex; gap: 4px; align-items: center; }
.controls .hidden { display: none; }
.legend { display: inline-block; width: 12px; height: 12px; border: 3px solid; vertical-align: middle; }
#gallery { display: grid; grid-template-columns: repeat(auto-fill, minmax(320px, 1fr)); gap: 12px; margin-top: 12px; }
.card { background: #fff; border: 1px solid #d9d9d6; padding: 8px; min-width: 0; }
.card.ok { border-top: 4px solid #00a000; }
.card.bad { border-top: 4px solid #e4002b; }
.pic { background: #eee; }
.pic svg { display: block; width: 100%; height: auto; max-height: 420px; }
.pic rect { fill: none; stroke-width: 2.5; vector-effect: non-scaling-stroke; }
.pic rect.frame { stroke-width: 1; }
.noimg { padding: 30px; text-align: center; color: #777; background: #eee; }
.card h3 { font-size: 13px; margin: 6px 0 2px; word-break: break-all; }
.query { margin: 2px 0; font-weight: 600; }
.info { margin: 2px 0; color: #555; font-size: 12px; }
.pred { border-left: 4px solid; padding-left: 6px; margin-top: 6px; }
.pred .lines { font-size: 12px; }
pre.completion { white-space: pre-wrap; word-break: break-word; background: #f3f3f1; margin: 4px 0 0;
                 padding: 4px; max-height: 9em; overflow: auto; font-size: 12px; }
.pager { display: flex; gap: 10px; align-items: center; margin-top: 12px; }
"""


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def finite(obj: Any) -> Any:
    """`obj` with every NaN or infinite float replaced by None (JSON.parse rejects NaN)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    return obj


_JSON_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


def embed_json(obj: Any) -> str:
    """JSON that is safe inside a <script> block: no `</script>`, no `<!--`, whatever it holds."""
    text = json.dumps(finite(obj), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return "".join(_JSON_ESCAPES.get(ch, ch) for ch in text)


def table_html(
    title: str | None,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    text_columns: Sequence[int] = (),
) -> str:
    """A table; cells are escaped; columns in `text_columns` are left-aligned and wrap."""
    head = "".join(
        f'<th class="text">{esc(c)}</th>' if i in text_columns else f"<th>{esc(c)}</th>"
        for i, c in enumerate(columns)
    )
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="text">{esc(v)}</td>' if i in text_columns else f"<td>{esc(_cell(v))}</td>"
            for i, v in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    caption = f"<caption>{esc(title)}</caption>" if title else ""
    return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _cell(v: Any) -> Any:
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 10 else f"{v:.2f}"
    return v


def kv_table(title: str, pairs: Sequence[tuple[str, Any]]) -> str:
    rows = [
        (k, json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else v)
        for k, v in pairs
        if v is not None
    ]
    return table_html(title, ["", "value"], rows, text_columns=(1,))


def write_page(out: Path, title: str, subtitle: str, body: str, data: dict | None = None) -> Path:
    """The page (see `page`) written whole or not at all as `out/report.html`; returns its path."""
    path = out / REPORT_FILE
    with atomic_open(path) as fh:
        fh.write(page(title, subtitle, body, data))
    return path


def page(title: str, subtitle: str, body: str, data: dict | None = None) -> str:
    """A whole page: header, the body's sections, then the gallery with `data` (if any)."""
    gallery = ""
    if data is not None:
        gallery = (
            GALLERY_HTML
            + f'<script type="application/json" id="report-data">{embed_json(data)}</script>\n'
            f"<script>{GALLERY_JS}</script>"
        )
    else:
        gallery = "<script>document.body.dataset.ready = '1';</script>"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{esc(CSP)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)}</title>
<style>{CSS}</style>
</head>
<body>
<header><h1>{esc(title)}</h1><p>{esc(subtitle)}</p></header>
<main>
{body}
{gallery}
</main>
</body>
</html>
"""

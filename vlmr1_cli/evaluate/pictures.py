"""PNG pictures of predictions: ground truth in green, predictions in red, each box labelled.

Boxes are drawn in original-image pixels (where the predictions were mapped back to), on
the original image; small images are upscaled so labels stay readable. A caption strip
under the image gives the query and whether the answer could be read.
"""

from __future__ import annotations

from pathlib import Path

GT_COLOR = (0, 170, 0)
PRED_COLOR = (225, 0, 0)
MIN_SIDE = 480  # pictures smaller than this are upscaled (nearest neighbour)


def _items(task: str, value, tag: str) -> list[tuple[list[float], str]]:
    if task == "rec":
        return [(value, tag)] if value else []
    return [(o["bbox_2d"], f"{tag}: {o.get('label') or '?'}") for o in (value or [])]


def safe_name(index: int, rec_id: str) -> str:
    stem = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in rec_id)[:80]
    return f"{index:04d}-{stem}.png"


def draw_one(rec: dict, pred: dict, path: Path) -> None:
    from PIL import Image, ImageDraw, ImageFont

    from vlmr1_cli.images import load_rgb

    img = load_rgb(rec["_image_paths"][int(rec.get("box_image") or 0)])
    scale = max(1.0, MIN_SIDE / max(img.size))
    if scale > 1:
        img = img.resize(
            (round(img.width * scale), round(img.height * scale)), Image.Resampling.NEAREST
        )
    font_size = max(12, img.width // 45)
    # Without FreeType, Pillow falls back to a bitmap font that has no `size` (and is smaller).
    font = ImageFont.load_default(size=font_size)
    task = rec["task"]
    query = rec.get("problem") if task == "rec" else ", ".join(rec.get("labels") or [])
    status = "answer read" if pred.get("parsed") else "UNPARSEABLE answer (scored as a miss)"
    # `vlmr1 predict` draws queries that have no ground truth (solution None)
    legend = (
        "green = ground truth, red = prediction;"
        if rec["solution"] is not None
        else "red = prediction;"
    )
    caption = _wrap([f"{rec['id']}: {query or ''}"[:300], legend, status], font, img.width - 8)
    line_h = font_size + 4
    canvas = Image.new("RGB", (img.width, img.height + line_h * len(caption) + 6), "white")
    canvas.paste(img, (0, 0))
    draw = ImageDraw.Draw(canvas)
    pred_value = pred.get("box") if task == "rec" else pred.get("objects")
    for color, items in (
        (GT_COLOR, _items(task, rec["solution"], "GT")),
        (PRED_COLOR, _items(task, pred_value, "pred")),
    ):
        for box, label in items:
            x1, y1, x2, y2 = (v * scale for v in box)
            draw.rectangle(
                (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)),
                outline=color,
                width=max(2, round(scale / 2)),
            )
            tx, ty = min(x1, x2) + 2, max(0.0, min(y1, y2) - line_h)
            text_box = draw.textbbox((tx, ty), label, font=font)
            draw.rectangle(text_box, fill=color)
            draw.text((tx, ty), label, fill="white", font=font)
    for i, line in enumerate(caption):
        draw.text((4, img.height + 3 + i * line_h), line, fill="black", font=font)
    canvas.save(path)


def _wrap(lines: list[str], font, width: int) -> list[str]:
    """Lines broken at spaces so that each fits `width` pixels (a long word stays whole)."""
    out = []
    for line in lines:
        current = ""
        for word in line.split(" "):
            trial = f"{current} {word}" if current else word
            if current and font.getlength(trial) > width:
                out.append(current)
                current = word
            else:
                current = trial
        out.append(current)
    return out


def draw_predictions(records: list[dict], preds: list[dict], folder: Path, limit: int) -> list[str]:
    """Pictures of the first `limit` records that have an image; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    for i, (rec, pred) in enumerate(zip(records, preds, strict=True)):
        if len(written) >= limit:
            break
        if not rec["_image_paths"]:
            continue
        path = folder / safe_name(i, rec["id"])
        draw_one(rec, pred, path)
        written.append(str(path))
    return written

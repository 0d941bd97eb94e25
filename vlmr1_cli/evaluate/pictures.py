"""PNG pictures of predictions: ground truth in green, predictions in red, labelled."""

from __future__ import annotations

from pathlib import Path


def _boxes(task: str, value) -> list[tuple[list[float], str]]:
    if task == "rec":
        return [(value, "")] if value else []
    return [(o["bbox_2d"], o.get("label") or "") for o in (value or [])]


def draw_predictions(records: list[dict], preds: list[dict], folder: Path, limit: int) -> list[str]:
    from PIL import Image, ImageDraw

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for rec, pred in list(zip(records, preds, strict=True))[:limit]:
        if not rec["_image_paths"]:
            continue
        with Image.open(rec["_image_paths"][0]) as im:
            img = im.convert("RGB")
        # Small images are upscaled so the labels stay readable.
        scale = max(1, 320 // max(img.size))
        if scale > 1:
            img = img.resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST)
        draw = ImageDraw.Draw(img)
        task = rec["task"]
        pred_value = pred.get("box") if task == "rec" else pred.get("objects")
        for color, items in (("#00b000", _boxes(task, rec["solution"])), ("#e00000", _boxes(task, pred_value))):
            for box, label in items:
                b = [v * scale for v in box]
                draw.rectangle(b, outline=color, width=2)
                if label:
                    draw.text((b[0] + 2, b[1] + 1), label[:40], fill=color)
        draw.text((3, img.height - 12), (rec.get("problem") or "")[:60], fill="#000000")
        name = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in rec["id"])[:80] + ".png"
        img.save(folder / name)
        written.append(str(folder / name))
    return written

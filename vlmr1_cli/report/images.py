"""Downscaled copies of the images a report shows, in `report_files/` beside `report.html`.

Each source image is written once, whatever the number of samples or models showing it,
under a name derived from its path, size and modification time, so writing the report again
reuses the copies of unchanged images. Boxes are not drawn into the copies: the page draws
them in SVG over the image, in original-image pixels, whatever the copy's size.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from vlmr1_cli.errors import UserError

FILES_DIR = "report_files"
MAX_SIDE = 640  # longest side of a copy, pixels: sharp in a gallery card, small on disk


class ImageStore:
    def __init__(self, out_dir: Path):
        self.out_dir = Path(out_dir)
        self.urls: list[str] = []  # what the page's `img` indices point at
        self._index: dict[str, int | None] = {}

    def add(self, source: str | os.PathLike) -> int | None:
        """The index of the copy of `source` in `urls`; None when it cannot be read (the
        card then says "no image" instead of the page failing)."""
        key = str(source)
        if key not in self._index:
            name = self._write(Path(source))
            if name is None:
                self._index[key] = None
            else:
                self.urls.append(f"{FILES_DIR}/{name}")
                self._index[key] = len(self.urls) - 1
        return self._index[key]

    def _write(self, source: Path) -> str | None:
        from PIL import Image

        from vlmr1_cli.images import open_image
        from vlmr1_cli.io import atomic_open

        try:
            stat = source.stat()
        except OSError:
            return None
        stamp = f"{source.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{MAX_SIDE}"
        digest = hashlib.sha256(stamp.encode("utf-8", "surrogateescape")).hexdigest()[:20]
        for ext in ("png", "jpg"):
            if (self.out_dir / FILES_DIR / f"{digest}.{ext}").is_file():
                return f"{digest}.{ext}"
        try:
            with open_image(
                source
            ) as im:  # the pixel limit: a bomb is not decoded, the card says no image
                # PNG stays lossless (synthetic images, sharp edges); photos become JPEG
                ext = "png" if im.format == "PNG" else "jpg"
                img = im.convert("RGB")
        except (UserError, OSError, ValueError, SyntaxError):
            return None
        img.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
        folder = self.out_dir / FILES_DIR
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_open(folder / f"{digest}.{ext}", "wb", encoding=None) as fh:
            if ext == "png":
                img.save(fh, format="PNG", optimize=False)
            else:
                img.save(fh, format="JPEG", quality=85)
        return f"{digest}.{ext}"

"""Images of `prepare-data hf`: cells (bytes, decoded images, paths) -> content-addressed files.

Each distinct image is written once under the image root, named by its content's sha256
(`ab/ab12...ef.jpg`), each atomically, so an interrupted run leaves only complete images, which
a rerun reuses. Sizes come from the image header, under vlmr1's pixel limit.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlmr1_cli.data.hf_layouts import RowSkip
from vlmr1_cli.data.paths import safe_join
from vlmr1_cli.data.report import Summary
from vlmr1_cli.errors import UserError
from vlmr1_cli.io import atomic_open

_EXTENSIONS = {
    "JPEG": ".jpg",
    "PNG": ".png",
    "WEBP": ".webp",
    "GIF": ".gif",
    "BMP": ".bmp",
    "TIFF": ".tif",
    "MPO": ".jpg",
}
_PROBE_CACHE = 4096  # images remembered by content hash (a bound, not a full index)


@dataclass(frozen=True)
class ProbedImage:
    data: bytes
    digest: str
    size: tuple[int, int]
    ext: str

    @property
    def relpath(self) -> str:
        return f"{self.digest[:2]}/{self.digest}{self.ext}"


class ImageStore:
    """Content-addressed images under `root`: each distinct image is written once."""

    def __init__(self, root: Path, base_dir: Path | None, summary: Summary):
        self.root, self.base_dir, self.summary = root, base_dir, summary
        self._seen: OrderedDict[str, tuple[tuple[int, int], str] | str] = OrderedDict()

    def probe(self, value: Any, loc: str) -> ProbedImage:
        """Bytes, size and format of one image cell; RowSkip if it is not a usable image."""
        data = self._bytes(value, loc)
        digest = hashlib.sha256(data).hexdigest()
        known = self._seen.get(digest)
        if known is None:
            known = probe_bytes(data)
            self._seen[digest] = known
            if len(self._seen) > _PROBE_CACHE:
                self._seen.popitem(last=False)
        else:
            self._seen.move_to_end(digest)
        if isinstance(known, str):
            raise RowSkip(known)
        size, ext = known
        return ProbedImage(data, digest, size, ext)

    def write(self, image: ProbedImage) -> str:
        rel = image.relpath
        full = self.root / rel
        if full.is_file() and full.stat().st_size == len(image.data):
            self.summary.note("image already under the image root (same content)")
        else:
            with atomic_open(full, "wb") as fh:
                fh.write(image.data)
            self.summary.note("images written")
        return rel

    def _bytes(self, value: Any, loc: str) -> bytes:
        if isinstance(value, dict):
            if value.get("bytes") is not None:
                return bytes(value["bytes"])
            if value.get("path"):
                return self._read(value["path"], loc)
            raise RowSkip("no image")
        if isinstance(value, (bytes, bytearray, memoryview)):
            return bytes(value)
        if isinstance(value, str):
            return self._read(value, loc)
        if _is_pil(value):
            buf = io.BytesIO()
            value.save(buf, format="PNG")  # decoded pixels: PNG keeps them exactly
            self.summary.note("decoded image re-encoded as PNG")
            return buf.getvalue()
        raise RowSkip("image cell is not bytes, a path or an image")

    def _read(self, rel: str, loc: str) -> bytes:
        if rel.startswith(("http://", "https://")):
            raise RowSkip("image is a URL (download the images, then pass --source-root)")
        if self.base_dir is None:
            raise UserError(
                f"{loc}: the row names an image path but the source has no folder; "
                "pass --source-root"
            )
        full = safe_join(self.base_dir, rel, loc)
        if not os.path.isfile(full):
            raise RowSkip("image file not found")
        with open(full, "rb") as fh:
            return fh.read()


def _is_pil(value: Any) -> bool:
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - pillow is a dependency
        return False
    return isinstance(value, Image.Image)


def probe_bytes(data: bytes) -> tuple[tuple[int, int], str] | str:
    """((width, height), extension) from the image header, or the reason it is unusable.

    vlmr1's pixel limit (vlmr1_cli.images) guards against decompression bombs: over it the
    row is skipped, never decoded.
    """
    from PIL import UnidentifiedImageError

    from vlmr1_cli.images import ImageTooLarge, open_image

    try:
        with open_image(io.BytesIO(data), name="image bytes") as im:
            size, fmt = im.size, im.format or ""
    except ImageTooLarge:
        return "image over the pixel limit (decompression bomb guard)"
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return "image not readable"
    if size[0] <= 0 or size[1] <= 0:
        return "image not readable"
    return size, _EXTENSIONS.get(fmt, "." + fmt.lower() if fmt else ".img")


def image_cells(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]

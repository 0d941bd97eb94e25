"""The one place vlmr1 opens image files: a pixel limit against decompression bombs.

A PNG of a few hundred bytes can declare 30000 x 30000 pixels and take gigabytes once
decoded. Every image is opened here, header first: one whose width x height is over the
limit is refused with one line naming the file, before a single pixel is decoded.

The limit is `DEFAULT_MAX_IMAGE_PIXELS`: 178,956,970 pixels (about 13,377 x 13,377), where
Pillow itself refuses an image outright (twice its `Image.MAX_IMAGE_PIXELS`). It is raised
or lowered with the environment variable `VLMR1_MAX_IMAGE_PIXELS` or, for one run,
`--max-image-pixels` (`prepare-data validate`, `evaluate`).
"""

from __future__ import annotations

import os
import re
import warnings
from typing import IO, Any

from vlmr1_cli.errors import UserError

DEFAULT_MAX_IMAGE_PIXELS = 178_956_970  # 2 x Pillow's Image.MAX_IMAGE_PIXELS (its error threshold)
MAX_PIXELS_ENV = "VLMR1_MAX_IMAGE_PIXELS"
MAX_PIXELS_OPTION = "--max-image-pixels"


class ImageTooLarge(UserError):
    """An image over the pixel limit (a decompression bomb, or a genuinely huge image)."""

    def __init__(self, name: str, pixels: int, limit: int, size: tuple[int, int] | None = None):
        super().__init__(too_large_message(name, pixels, limit, size))
        self.pixels, self.limit, self.size = pixels, limit, size

    def detail(self) -> str:
        """The message without the file's name (for reports that name it their own way)."""
        dims = f"{self.size[0]}x{self.size[1]} = " if self.size else ""
        return (
            f"{dims}{self.pixels:,} pixels, over the limit of {self.limit:,} "
            f"(a decompression-bomb guard; raise it with {MAX_PIXELS_OPTION} if the image is genuine)"
        )


def max_image_pixels(override: int | None = None) -> int:
    """The pixel limit: `override` if given, else $VLMR1_MAX_IMAGE_PIXELS, else the default."""
    if override is not None:
        if override < 1:
            raise UserError(f"{MAX_PIXELS_OPTION}: must be >= 1, got {override}")
        return int(override)
    raw = os.environ.get(MAX_PIXELS_ENV, "").strip().replace("_", "")
    if not raw:
        return DEFAULT_MAX_IMAGE_PIXELS
    if not raw.isdigit() or int(raw) < 1:
        raise UserError(
            f"environment variable {MAX_PIXELS_ENV}: must be a whole number of pixels "
            f">= 1, got {os.environ[MAX_PIXELS_ENV]!r}"
        )
    return int(raw)


def use_max_image_pixels(limit: int) -> None:
    """Set the limit for this process and the processes it starts (an option's value)."""
    os.environ[MAX_PIXELS_ENV] = str(max_image_pixels(limit))


def too_large_message(
    name: str, pixels: int, limit: int, size: tuple[int, int] | None = None
) -> str:
    dims = f"{size[0]}x{size[1]} = " if size else ""
    return (
        f"{name}: image of {dims}{pixels:,} pixels is over the limit of {limit:,} pixels "
        f"(a decompression-bomb guard); if the image is genuine, raise the limit with "
        f"{MAX_PIXELS_OPTION} or {MAX_PIXELS_ENV}"
    )


def open_image(
    source: str | os.PathLike | IO[bytes], max_pixels: int | None = None, name: str | None = None
) -> Any:
    """`PIL.Image.open(source)` with vlmr1's pixel limit; use it as a context manager.

    Only the header is read: the size is checked before anything is decoded. Over the
    limit, `ImageTooLarge` (a UserError) names the file (`name`, default the path). Other
    failures are PIL's own (UnidentifiedImageError, OSError...) for the caller to word.
    """
    from PIL import Image

    limit = max_image_pixels(max_pixels)
    label = name if name is not None else str(source)
    # Pillow warns above its MAX_IMAGE_PIXELS and refuses above twice it, inside `open`: its
    # refusal must not come below ours (only a limit raised past the default moves it).
    if Image.MAX_IMAGE_PIXELS is not None and 2 * Image.MAX_IMAGE_PIXELS < limit:
        Image.MAX_IMAGE_PIXELS = (limit + 1) // 2
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(source)
    except Image.DecompressionBombError as e:
        found = re.search(r"\((\d+) pixels\)", str(e))  # Pillow names the count, not the sides
        pixels = int(found.group(1)) if found else limit + 1
        raise ImageTooLarge(label, pixels, limit) from None
    width, height = im.size
    if max(1, width) * max(1, height) > limit:
        im.close()
        raise ImageTooLarge(label, width * height, limit, (width, height))
    return im


def image_size(path: str | os.PathLike, max_pixels: int | None = None) -> tuple[int, int]:
    """(width, height) from the header, with the pixel limit applied."""
    with open_image(path, max_pixels) as im:
        return im.size


def size_mismatch(name: str, actual: tuple[int, int], stated: Any) -> str | None:
    """Why an image of `actual` (width, height) is not the one a record's `image_sizes` entry
    `stated` describes (its boxes would be read in the wrong frame), or None."""
    if tuple(int(v) for v in stated) == tuple(actual):
        return None
    return (
        f"image {name} is {actual[0]}x{actual[1]} but the record's image_sizes says "
        f"{stated[0]}x{stated[1]}"
    )


def load_rgb(
    path: str | os.PathLike,
    size: tuple[int, int] | list[int] | None = None,
    max_pixels: int | None = None,
    original: tuple[int, int] | list[int] | None = None,
) -> Any:
    """The image as RGB, resized to exactly `size` (width, height) when given: the model-input
    size. `original`: the size its record states, checked against the file's header before
    anything is decoded. Any failure is one line naming the file."""
    from PIL import Image

    try:
        with open_image(path, max_pixels) as im:
            why = size_mismatch(str(path), im.size, original) if original is not None else None
            if why:
                raise UserError(why)
            img = im.convert("RGB")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise UserError(f"{path}: unreadable image ({e})") from None
    if size is not None:
        target = (int(size[0]), int(size[1]))
        if img.size != target:
            img = img.resize(target, Image.Resampling.BICUBIC)
    return img

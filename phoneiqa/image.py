"""Decoding image files into upright RGB PIL images, with errors that name the file and the reason."""

from __future__ import annotations

import os
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from phoneiqa.errors import ImageError

DEFAULT_MAX_PIXELS = 120_000_000


def load_image(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Read an image file as an upright (EXIF orientation applied) 8-bit RGB image.

    Raises :class:`ImageError` naming the file for anything unreadable: missing, empty,
    not an image, truncated, or more than ``max_pixels`` pixels.
    """
    path = Path(path)
    try:
        if path.is_dir():
            raise ImageError(f"{path}: is a directory, not an image file")
        if path.stat().st_size == 0:
            raise ImageError(f"{path}: empty file")
        with Image.open(path) as im:
            if im.width * im.height > max_pixels:
                raise ImageError(f"{path}: {im.width}x{im.height} exceeds the limit of {max_pixels} pixels")
            im = ImageOps.exif_transpose(im)
            return im.convert("RGB")
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not a recognised image format") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise ImageError(f"{path}: cannot decode ({reason})") from None

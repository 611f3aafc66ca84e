"""Image sizes from file headers, without decoding pixels.

Export must list every image with its width and height, annotated or not;
decoding thousands of photos for two numbers would take minutes. PIL reads the
header lazily. The EXIF orientation is applied because ``engine.images.load_rgb``
(the one pixel loader) applies it, and annotations live in that rotated frame.
"""

from __future__ import annotations

import os
import struct

from PIL import Image, UnidentifiedImageError

_TRANSPOSED = {5, 6, 7, 8}  # EXIF orientations that swap width and height
_ORIENTATION_TAG = 0x0112


def _png_trailing_orientation(fp) -> int:
    """The EXIF orientation of an eXIf chunk anywhere in a PNG (1 when there is none)."""
    fp.seek(8)
    while True:
        head = fp.read(8)
        if len(head) < 8:
            return 1
        length, kind = struct.unpack(">I4s", head)
        if kind == b"eXIf":
            exif = Image.Exif()
            exif.load(b"Exif\x00\x00" + fp.read(length))
            return exif.get(_ORIENTATION_TAG, 1)
        if kind == b"IEND":
            return 1
        fp.seek(length + 4, os.SEEK_CUR)  # the data and its CRC


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) as ``load_rgb`` will return it; ImageReadError names the file."""
    from engine.images import ImageReadError  # deferred: `engine` imports torch

    try:
        with Image.open(path) as img:
            width, height = img.size
            if img.format == "PNG" and "exif" not in img.info:
                # PIL's PNG getexif() decodes every pixel looking for an eXIf chunk after the
                # image data (where load_rgb, decoding anyway, finds and applies it); the chunk
                # headers are walked instead, skipping the data: a few reads, no decoding.
                orientation = _png_trailing_orientation(img.fp)
            else:
                orientation = img.getexif().get(_ORIENTATION_TAG, 1)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageReadError(f"Cannot read image '{os.fspath(path)}': {exc.__class__.__name__}: {exc}") from exc
    if orientation in _TRANSPOSED:
        width, height = height, width
    return width, height

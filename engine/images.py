"""Reading images of any common mode into RGB uint8, and the model's input tensor.

One loader for the whole application (engine, CLI, GUI): EXIF orientation is
applied, palette / grey / alpha / CMYK / 16-bit and float modes become RGB, and a
file that cannot be decoded raises ``ImageReadError`` naming the file and why.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

ImageInput = Union[str, os.PathLike, Image.Image, np.ndarray]

# PIL refuses files above 2 * Image.MAX_IMAGE_PIXELS (~179 MP) as decompression
# bombs; arrays and PIL images given directly are held to the same limit so that
# an oversized input fails with a clear message, not a MemoryError in numpy.
MAX_PIXELS = 2 * Image.MAX_IMAGE_PIXELS


class ImageReadError(ValueError):
    """An image could not be read or converted; the message names it and says why."""


def _describe(source) -> str:
    if isinstance(source, (str, os.PathLike)):
        return f"'{os.fspath(source)}'"
    return f"the given {type(source).__name__}"


def _to_rgb(img: Image.Image) -> Image.Image:
    mode = img.mode
    if mode == "RGB":
        return img
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        # High bit-depth grey: stretch the used range to 0..255 (a 12-bit sensor
        # image scaled by 1/256 would be almost black).
        arr = np.asarray(img, dtype=np.float64)
        finite = arr[np.isfinite(arr)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
        if hi > lo:
            arr = (arr - lo) * (255.0 / (hi - lo))
        else:
            arr = np.zeros_like(arr)
        grey = np.nan_to_num(arr).clip(0, 255).astype(np.uint8)
        return Image.fromarray(np.repeat(grey[..., None], 3, axis=2), "RGB")
    if mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    # RGBA/LA: alpha is dropped (the colour underneath is what the model sees);
    # CMYK, YCbCr, LAB, 1, L, P convert with PIL's own conversions.
    return img.convert("RGB")


def load_rgb(source: ImageInput, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Return the image as a C-contiguous, writable uint8 array [H, W, 3] (RGB)."""
    if isinstance(source, np.ndarray):
        return _array_to_rgb(source)
    if isinstance(source, Image.Image):
        img = source
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise ImageReadError(f"Cannot read image {_describe(source)}: no such file")
        try:
            with warnings.catch_warnings():
                # 90-180 MP photos are legitimate here; only the hard limit matters.
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                img = Image.open(path)
                _check_size(img.size, max_pixels, source)
                img.load()
        except ImageReadError:
            raise
        except Image.DecompressionBombError as exc:
            raise ImageReadError(
                f"Image {_describe(source)} is too large to decode safely ({exc}); downscale it first"
            ) from exc
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise ImageReadError(f"Cannot read image {_describe(source)}: {_plain_reason(path, exc)}") from exc
    else:
        raise ImageReadError(
            f"Unsupported image input of type {type(source).__name__}: "
            "pass a file path, a PIL.Image or a uint8 numpy array [H, W, 3]"
        )
    _check_size(img.size, max_pixels, source)
    try:
        img = ImageOps.exif_transpose(img)
        rgb = np.array(_to_rgb(img), dtype=np.uint8)  # np.array: always a writable copy
    except (OSError, ValueError) as exc:
        raise ImageReadError(f"Cannot convert image {_describe(source)} to RGB: {exc}") from exc
    return np.ascontiguousarray(rgb)


def _plain_reason(path: Path, exc: BaseException) -> str:
    """Why PIL could not decode *path*, in words for someone at the window (no exception names)."""
    text = str(exc)
    if isinstance(exc, UnidentifiedImageError):
        if path.stat().st_size == 0:
            return "the file is empty"
        return ("the file is not an image in a format this program reads (its content is not "
                "JPEG, PNG, TIFF, BMP, WebP...; it may be another kind of file renamed)")
    if "truncated" in text.lower():
        return "the file is cut short (truncated): part of the image data is missing, e.g. an unfinished copy"
    return f"the file is damaged ({text.rstrip('.') or 'the decoder gave no reason'})"


def _check_size(size: tuple[int, int], max_pixels: int, source) -> None:
    w, h = size
    if w < 1 or h < 1:
        raise ImageReadError(f"Image {_describe(source)} is empty ({w}x{h} pixels)")
    if w * h > max_pixels:
        raise ImageReadError(
            f"Image {_describe(source)} is {w}x{h} = {w * h / 1e6:.0f} MP, above the "
            f"{max_pixels / 1e6:.0f} MP limit; downscale it first"
        )


def _array_to_rgb(arr: np.ndarray) -> np.ndarray:
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4) or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ImageReadError(f"Expected an image array [H, W, 3] (or [H, W], [H, W, 4]), got shape {arr.shape}")
    if arr.dtype != np.uint8:
        if np.issubdtype(arr.dtype, np.floating) and arr.size and np.nanmax(arr) <= 1.0:
            arr = arr * 255.0  # float images in [0, 1]
        arr = np.nan_to_num(arr.astype(np.float64)).clip(0, 255).astype(np.uint8)
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    elif arr.shape[2] == 4:
        arr = arr[..., :3]
    return np.ascontiguousarray(arr, dtype=np.uint8).copy()


_RESAMPLE = {"bicubic": Image.BICUBIC, "bilinear": Image.BILINEAR}


def model_input(rgb: np.ndarray, size: int, mean, std, resample: str = "bicubic") -> np.ndarray:
    """Squash to size x size (aspect ratio not kept, as the released code) and normalise.

    Returns float32 [3, size, size]. Matches torchvision's Resize on a PIL image
    (which is PIL's resize with the same filter) followed by ToTensor + Normalize.
    """
    img = Image.fromarray(rgb).resize((size, size), _RESAMPLE[resample])
    x = np.asarray(img, dtype=np.float32).transpose(2, 0, 1) / 255.0  # [3, S, S]
    mean = np.asarray(mean, dtype=np.float32)[:, None, None]
    std = np.asarray(std, dtype=np.float32)[:, None, None]
    return (x - mean) / std

"""Every kind of image input turned into one thing: an upright, 8-bit, sRGB ``PIL.Image`` in mode ``"RGB"``.

Inputs (:data:`ImageInput`):

* a path (``str`` or ``os.PathLike``), ``bytes`` / ``bytearray`` / ``memoryview`` holding an encoded
  file, or a binary file object (anything with ``.read()``; read from its current position).
  JPEG, PNG, WebP, TIFF, BMP, GIF (first frame) and HEIC/HEIF (via pillow-heif) are read, and
  whatever else Pillow recognises;
* a ``PIL.Image`` (never modified; an ``Image.open()``-ed one still carrying an EXIF orientation
  is turned upright too);
* a numpy array in **H×W×C** layout (RGB order): H×W or H×W×1 grey, H×W×3 RGB or H×W×4 RGBA, of
  dtype uint8 (0..255), uint16 (0..65535) or float16/32/64 (0..1);
* a torch tensor in the torchvision **C×H×W** layout (C = 1, 3 or 4), optionally with a leading
  batch dimension of 1, of dtype uint8 or floating point (0..1), on any device.

What is done to the pixels:

* the EXIF orientation is applied exactly once (pillow-heif already applies a HEIC's rotation
  while decoding and resets its EXIF orientation to 1, so HEICs are not turned twice);
* an embedded ICC profile is converted to sRGB with the relative colorimetric intent (no black
  point compensation), and the profile is dropped.  Profiles that leave RGB pixels unchanged (sRGB
  ones) are skipped.  A profile that littleCMS cannot read or use is ignored with a warning: the
  pixels are taken to be sRGB already rather than the image failing.  Without a profile pixels are
  sRGB; CMYK without a profile uses Pillow's naive ``(1 - C)(1 - K)``;
* transparency (alpha, palette or ``tRNS`` transparency) is composited over **white**, as a
  browser shows the image on a default page;
* 16-bit values are scaled to 8 bits (``round(v * 255 / 65535)``), never clipped at 255; Pillow's
  32-bit integer mode ``I`` is read as 16-bit grey, and its float mode ``F`` as 0..1 like float
  arrays.

Every unusable input raises :class:`~phoneiqa.errors.ImageError` whose message starts with the
input's name (:func:`describe`, or the ``name`` given) and gives the reason.  :func:`load_image` is
safe to call from several threads at once.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import re
import struct
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, TypeAlias

import numpy as np
from PIL import ExifTags, Image, ImageCms, ImageOps, UnidentifiedImageError

from phoneiqa.errors import ImageError

if TYPE_CHECKING:
    import torch

ImageInput: TypeAlias = (
    "str | os.PathLike[str] | bytes | bytearray | memoryview | BinaryIO | Image.Image | np.ndarray | torch.Tensor"
)
"""Anything :func:`load_image` accepts."""

DEFAULT_MAX_PIXELS = 120_000_000

# Anything Pillow or pillow-heif can raise on a damaged file, while parsing it or decoding its pixels.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error, RuntimeError)
_WHITE = (255, 255, 255)
_FLOAT_TOLERANCE = 1e-6
_warnings_lock = threading.Lock()


@dataclass(frozen=True)
class _Request:
    """What one :func:`load_image` call asks for."""

    label: str
    max_pixels: int
    min_short_side: int | None


def load_image(
    source: ImageInput,
    *,
    name: str | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    min_short_side: int | None = None,
) -> Image.Image:
    """``source`` as an upright 8-bit sRGB ``PIL.Image`` in mode ``"RGB"`` (see the module docstring).

    Transparent pixels are composited over white.  Numpy arrays are H×W×C, torch tensors C×H×W.
    The result never shares pixel memory with ``source``, and ``source`` is never modified.

    ``name`` replaces :func:`describe` in error messages.  Images of more than ``max_pixels``
    pixels are refused from their header, before any pixel is decoded (Pillow's own
    decompression-bomb warning is silenced; its hard limit of ``2 * PIL.Image.MAX_IMAGE_PIXELS``,
    about 179 million pixels, still applies when ``max_pixels`` is set higher).  With
    ``min_short_side``, a JPEG at least twice as large as needed is decoded at 1/2, 1/4 or 1/8 scale
    (libjpeg's fast DCT scaling), its short side still at least ``min_short_side``; other inputs
    keep their size.

    Raises :class:`ImageError` naming the input for anything unusable: missing, unreadable, empty,
    not an image, truncated or corrupt, too many pixels, unsupported type, shape, dtype or values.
    """
    if min_short_side is not None and min_short_side < 1:
        raise ValueError(f"min_short_side must be at least 1, got {min_short_side}")
    kind = _kind_of(source)
    label = name if name is not None else kind.describe(source)
    image = kind.load(source, _Request(label, max_pixels, min_short_side))
    if image is source:
        image = image.copy()
    image.info.pop("icc_profile", None)
    return image


def describe(source: Any) -> str:
    """How ``source`` is named in error messages: the path as given, ``"<bytes>"``, a file
    object's ``.name`` (else ``"<file object>"``), ``"<PIL image>"``, ``"<array>"`` or ``"<tensor>"``."""
    return _kind_of(source).describe(source)


# --- input kinds --------------------------------------------------------------------------------


def _load_path(path: str | os.PathLike[str], request: _Request) -> Image.Image:
    try:
        with open(path, "rb") as file:
            if os.fstat(file.fileno()).st_size == 0:
                raise ImageError(f"{request.label}: empty file")
            return _decode(file, request)
    except OSError as exc:  # opening or reading; decoding errors are already ImageErrors
        raise ImageError(f"{request.label}: {_os_reason(exc)}") from None


def _load_bytes(data: bytes | bytearray | memoryview, request: _Request) -> Image.Image:
    if not data:
        raise ImageError(f"{request.label}: empty (0 bytes)")
    return _decode(io.BytesIO(data), request)


def _load_file_object(file: BinaryIO, request: _Request) -> Image.Image:
    try:
        data = file.read()
    except OSError as exc:
        raise ImageError(f"{request.label}: {_os_reason(exc)}") from None
    if not isinstance(data, (bytes, bytearray)):
        raise ImageError(f"{request.label}: file object gave {type(data).__name__}, not bytes; open it in 'rb' mode")
    return _load_bytes(data, request)


def _load_pil(image: Image.Image, request: _Request) -> Image.Image:
    _check_pixels(image.width, image.height, request)
    return _finish(image, request)


def _load_array(array: np.ndarray, request: _Request) -> Image.Image:
    if array.size == 0:
        raise ImageError(f"{request.label}: zero-size array of shape {array.shape}")
    pixels = array[..., np.newaxis] if array.ndim == 2 else array
    if pixels.ndim != 3 or pixels.shape[2] not in (1, 3, 4):
        raise ImageError(f"{request.label}: unsupported array shape {array.shape}; expected H×W, H×W×1, H×W×3 or H×W×4")
    _check_pixels(pixels.shape[1], pixels.shape[0], request)
    converter = _DTYPE_CONVERTERS.get((pixels.dtype.kind, pixels.dtype.itemsize))
    if converter is None:
        raise ImageError(f"{request.label}: unsupported dtype {array.dtype}; expected uint8, uint16 or float (0..1)")
    values = converter(pixels, request.label)
    return _to_srgb(Image.fromarray(values[..., 0] if values.shape[2] == 1 else values), request.label)


def _load_tensor(tensor: torch.Tensor, request: _Request) -> Image.Image:
    torch = sys.modules["torch"]
    chw = tensor.detach()
    if chw.ndim == 4 and chw.shape[0] == 1:
        chw = chw[0]
    if chw.ndim != 3 or chw.shape[0] not in (1, 3, 4):
        raise ImageError(
            f"{request.label}: unsupported tensor shape {tuple(tensor.shape)}; "
            "expected C×H×W or 1×C×H×W with C = 1, 3 or 4 (tensors are channels-first)"
        )
    if chw.dtype == torch.bfloat16:  # numpy has no bfloat16
        chw = chw.float()
    return _load_array(chw.permute(1, 2, 0).cpu().numpy(), request)


def _is_tensor(source: object) -> bool:
    # A tensor can only exist once torch is imported, so torch need not be imported to check.
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(source, torch.Tensor)


def _file_object_name(file: object) -> str:
    name = getattr(file, "name", None)
    return name if isinstance(name, str) else "<file object>"


@dataclass(frozen=True)
class _Kind:
    """How one kind of input is recognised, named in errors, and loaded."""

    matches: Callable[[object], bool]
    describe: Callable[[Any], str]
    load: Callable[[Any, _Request], Image.Image]


# First match wins: file objects last, since only their duck type (``.read``) identifies them.
_KINDS = (
    _Kind(lambda s: isinstance(s, (str, os.PathLike)), os.fsdecode, _load_path),
    _Kind(lambda s: isinstance(s, (bytes, bytearray, memoryview)), lambda _: "<bytes>", _load_bytes),
    _Kind(lambda s: isinstance(s, Image.Image), lambda _: "<PIL image>", _load_pil),
    _Kind(lambda s: isinstance(s, np.ndarray), lambda _: "<array>", _load_array),
    _Kind(_is_tensor, lambda _: "<tensor>", _load_tensor),
    _Kind(lambda s: callable(getattr(s, "read", None)), _file_object_name, _load_file_object),
)


def _unsupported_type(source: Any, request: _Request) -> Image.Image:
    raise ImageError(
        f"{request.label}: unsupported input type {type(source).__name__}; expected a path, bytes, "
        "a binary file object, a PIL image, a numpy array or a torch tensor"
    )


_UNSUPPORTED = _Kind(lambda _: True, lambda s: f"<{type(s).__name__}>", _unsupported_type)


def _kind_of(source: object) -> _Kind:
    return next((kind for kind in _KINDS if kind.matches(source)), _UNSUPPORTED)


# --- decoding files -----------------------------------------------------------------------------


def _decode(file: BinaryIO, request: _Request) -> Image.Image:
    """Decode an encoded image, refusing it from its header size before any pixel is decoded."""
    _register_heif()
    try:
        with _pil_bomb_warning_silenced():
            image = Image.open(file)
    except UnidentifiedImageError:
        raise ImageError(f"{request.label}: not a recognised image format") from None
    except Image.DecompressionBombError as exc:
        raise _pil_limit_error(exc, request) from None
    except _DECODE_ERRORS as exc:
        raise ImageError(f"{request.label}: {_damage('image', exc)}") from None
    _check_pixels(image.width, image.height, request)
    if request.min_short_side is not None:
        _draft(image, request.min_short_side)
    return _finish(image, request)


@functools.cache
def _register_heif() -> None:
    """Let Pillow open HEIC/HEIF; done on first use, since importing pillow-heif takes a while."""
    from pillow_heif import register_heif_opener

    register_heif_opener()


@contextlib.contextmanager
def _pil_bomb_warning_silenced() -> Iterator[None]:
    """Hide Pillow's DecompressionBombWarning (``max_pixels`` decides instead).

    ``warnings.catch_warnings`` saves and restores the process-wide filter list, so the lock stops
    concurrent calls from restoring each other's filters; it is held only while headers are parsed.
    """
    with _warnings_lock, warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        yield


def _pil_limit_error(exc: Image.DecompressionBombError, request: _Request) -> ImageError:
    found = re.search(r"\((\d+) pixels\)", str(exc))
    if found and int(found[1]) > request.max_pixels:
        return ImageError(f"{request.label}: {found[1]} pixels exceeds the limit of {request.max_pixels} pixels")
    return ImageError(
        f"{request.label}: too many pixels for Pillow ({exc}); raise PIL.Image.MAX_IMAGE_PIXELS to read it"
    )


def _draft(image: Image.Image, min_short_side: int) -> None:
    """Let a JPEG decode at 1/2, 1/4 or 1/8 scale while its short side stays ≥ ``min_short_side``.

    A no-op for other formats.  For a requested ``w × h`` Pillow picks the largest scale in 8, 4, 2, 1
    not above ``min(width // w, height // h)``, so asking for the size scaled by
    ``min_short_side / short_side`` (rounded up) keeps the short side at least ``min_short_side``.
    """
    width, height = image.size
    short = min(width, height)
    if short >= 2 * min_short_side:
        image.draft(None, (-(-width * min_short_side // short), -(-height * min_short_side // short)))


def _os_reason(exc: OSError) -> str:
    return next((reason for kind, reason in _OS_REASONS.items() if isinstance(exc, kind)), f"cannot read ({exc})")


def _damage(what: str, exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, EOFError) or "truncated" in text.lower():
        return f"truncated {what} data"
    return f"corrupt {what} data ({text})"


def _check_pixels(width: int, height: int, request: _Request) -> None:
    if width * height > request.max_pixels:
        raise ImageError(
            f"{request.label}: {width}×{height} = {width * height} pixels exceeds the limit of "
            f"{request.max_pixels} pixels"
        )
    if width == 0 or height == 0:
        raise ImageError(f"{request.label}: image has no pixels ({width}×{height})")


# --- from any PIL image to RGB sRGB -------------------------------------------------------------


def _finish(image: Image.Image, request: _Request) -> Image.Image:
    """Decode (if still lazy), turn upright and convert to RGB sRGB."""
    try:
        image.load()
        orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
        upright = ImageOps.exif_transpose(image) if orientation in range(2, 9) else image
    except _DECODE_ERRORS as exc:
        raise ImageError(f"{request.label}: {_damage(image.format or 'image', exc)}") from None
    return _to_srgb(upright, request.label)


def _to_srgb(image: Image.Image, label: str) -> Image.Image:
    """A loaded image as RGB sRGB, alpha composited over white (the image itself when it already is one)."""
    profile = image.info.get("icc_profile")
    image = _eight_bit(image, label)
    alpha = image.getchannel("A") if image.mode in ("LA", "RGBA") else None
    colour = image.convert(image.mode[:-1]) if alpha is not None else image
    return _over_white(_profile_to_srgb(colour, profile, label), alpha)


def _eight_bit(image: Image.Image, label: str) -> Image.Image:
    """``image`` in one of the 8-bit modes L, LA, RGB, RGBA or CMYK, any transparency as an alpha band."""
    if image.mode in _HIGH_DEPTH_MODES:
        return Image.fromarray(_HIGH_DEPTH_MODES[image.mode](np.asarray(image), label))
    if "transparency" in image.info and image.mode in _WITH_TRANSPARENCY:
        return image.convert(_WITH_TRANSPARENCY[image.mode])
    if image.mode in ("L", "LA", "RGB", "RGBA", "CMYK"):
        return image
    try:
        return image.convert(_EIGHT_BIT_EQUIVALENT.get(image.mode, "RGB"))
    except ValueError:
        raise ImageError(f"{label}: unsupported image mode {image.mode}") from None


def _profile_to_srgb(image: Image.Image, profile: bytes | None, label: str) -> Image.Image:
    """An L, RGB or CMYK image as RGB sRGB, through its ICC ``profile`` if it has one."""
    transform = None
    if profile:
        try:
            transform = _srgb_transform(profile, image.mode)
        except (ImageCms.PyCMSError, OSError, ValueError) as exc:
            warnings.warn(f"{label}: ignoring unusable ICC profile ({exc}); pixels taken as sRGB", stacklevel=2)
    if transform is not None:
        return ImageCms.applyTransform(image, transform)
    return image if image.mode == "RGB" else image.convert("RGB")


@functools.lru_cache(maxsize=16)
def _srgb_transform(profile: bytes, mode: str) -> ImageCms.ImageCmsTransform | None:
    """Relative colorimetric transform from ``profile`` to sRGB, ``None`` if it leaves RGB pixels as they are.

    Cached: photos from one camera share a profile, and building a transform takes milliseconds.
    """
    transform = ImageCms.buildTransform(
        ImageCms.ImageCmsProfile(io.BytesIO(profile)),
        _srgb_profile(),
        mode,
        "RGB",
        ImageCms.Intent.RELATIVE_COLORIMETRIC,
    )
    return None if mode == "RGB" and _is_near_identity(transform) else transform


@functools.cache
def _srgb_profile() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _is_near_identity(transform: ImageCms.ImageCmsTransform) -> bool:
    """Whether ``transform`` moves no colour of a 16×16×16 RGB grid by more than one code value."""
    levels = np.linspace(0, 255, 16).round().astype(np.uint8)
    grid = np.stack(np.meshgrid(levels, levels, levels), axis=-1).reshape(1, -1, 3)
    out = np.asarray(ImageCms.applyTransform(Image.fromarray(grid), transform))
    return int(np.abs(out.astype(np.int16) - grid).max()) <= 1


def _over_white(rgb: Image.Image, alpha: Image.Image | None) -> Image.Image:
    if alpha is None or alpha.getextrema() == (255, 255):
        return rgb
    out = Image.new("RGB", rgb.size, _WHITE)
    out.paste(rgb, mask=alpha)
    return out


# --- pixel values -------------------------------------------------------------------------------


def _from_uint8(pixels: np.ndarray, label: str) -> np.ndarray:
    # No copy: Pillow copies RGB arrays, and the L and RGBA images it maps onto arrays are always converted.
    return pixels


def _from_uint16(pixels: np.ndarray, label: str) -> np.ndarray:
    """``round(v * 255 / 65535)`` in integers: 65535 → 255, 32768 → 128, ``v * 257`` → ``v``."""
    return ((pixels.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)


def _from_int32(pixels: np.ndarray, label: str) -> np.ndarray:
    return _from_uint16(np.clip(pixels, 0, 65535), label)


def _from_float(pixels: np.ndarray, label: str) -> np.ndarray:
    if not np.isfinite(pixels).all():
        raise ImageError(f"{label}: pixel values contain NaN or infinity")
    low, high = float(pixels.min()), float(pixels.max())
    if low < -_FLOAT_TOLERANCE or high > 1 + _FLOAT_TOLERANCE:
        raise ImageError(f"{label}: float pixel values must lie in 0..1, found {low:.6g}..{high:.6g}")
    return np.rint(np.clip(pixels.astype(np.float32), 0, 1) * 255).astype(np.uint8)


_DTYPE_CONVERTERS: dict[tuple[str, int], Callable[[np.ndarray, str], np.ndarray]] = {
    ("u", 1): _from_uint8,
    ("u", 2): _from_uint16,
    ("f", 2): _from_float,
    ("f", 4): _from_float,
    ("f", 8): _from_float,
}
_HIGH_DEPTH_MODES: dict[str, Callable[[np.ndarray, str], np.ndarray]] = {
    "I;16": _from_uint16,
    "I;16L": _from_uint16,
    "I;16B": _from_uint16,
    "I;16N": _from_uint16,
    "I": _from_int32,
    "F": _from_float,
}
_OS_REASONS = {
    FileNotFoundError: "no such file",
    IsADirectoryError: "is a directory, not an image file",
    NotADirectoryError: "no such file (a parent folder is a file)",
    PermissionError: "permission denied",
}
_WITH_TRANSPARENCY = {"L": "LA", "P": "RGBA", "RGB": "RGBA"}
_EIGHT_BIT_EQUIVALENT = {"1": "L", "P": "RGB", "PA": "RGBA", "La": "LA", "RGBa": "RGBA"}

"""phoneiqa.image.load_image: every input kind gives the same upright 8-bit sRGB RGB pixels, and every
unusable input an ImageError naming it.  Expected pixels come from independent numpy computations
on real photos (scikit-learn's sample images)."""

from __future__ import annotations

import io
import struct
import threading
import time
import warnings
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pillow_heif
import pytest
import torch
from PIL import ExifTags, Image, ImageCms
from sklearn.datasets import load_sample_image

from phoneiqa.errors import ImageError
from phoneiqa.image import DEFAULT_MAX_PIXELS, describe, load_image


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A 96×128 crop of a real photo, uint8 RGB."""
    return np.ascontiguousarray(load_sample_image("china.jpg")[150:246, 200:328])


@pytest.fixture(scope="module")
def flower() -> np.ndarray:
    """An 80×120 crop of another real photo, uint8 RGB."""
    return np.ascontiguousarray(load_sample_image("flower.jpg")[100:180, 300:420])


def pixels(source, **kwargs) -> np.ndarray:
    image = load_image(source, **kwargs)
    assert image.mode == "RGB"
    return np.asarray(image)


def encode(array_or_image, fmt: str, **params) -> bytes:
    image = array_or_image if isinstance(array_or_image, Image.Image) else Image.fromarray(array_or_image)
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def raw_decode(data: bytes) -> np.ndarray:
    """Plain Pillow decode: no EXIF orientation, no colour management."""
    return np.asarray(Image.open(io.BytesIO(data)))


def rounded(values: np.ndarray) -> np.ndarray:
    return np.rint(values).astype(np.uint8)


def over_white(colour: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha.astype(float)[..., np.newaxis] / 255
    return rounded(colour.astype(float) * a + 255 * (1 - a))


def max_diff(a: np.ndarray, b: np.ndarray) -> int:
    assert a.shape == b.shape
    return int(np.abs(a.astype(int) - b.astype(int)).max())


def exif_bytes(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    return exif.tobytes()


def heic(array: np.ndarray, **params) -> bytes:
    buffer = io.BytesIO()
    pillow_heif.from_pillow(Image.fromarray(array)).save(buffer, quality=95, chroma=444, **params)
    return buffer.getvalue()


# --- every input kind, same pixels ------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "params"),
    [("PNG", {}), ("BMP", {}), ("TIFF", {}), ("TIFF", {"compression": "tiff_lzw"}), ("WEBP", {"lossless": True})],
)
def test_lossless_files_give_the_exact_pixels(tmp_path, photo, fmt, params):
    path = write(tmp_path / f"photo.{fmt.lower()}", encode(photo, fmt, **params))
    np.testing.assert_array_equal(pixels(str(path)), photo)
    np.testing.assert_array_equal(pixels(path), photo)


def test_gif_gives_its_palette_colours_and_only_the_first_frame(tmp_path, photo):
    first = Image.fromarray(photo).quantize(64)
    second = Image.fromarray(255 - photo).quantize(64)
    path = tmp_path / "anim.gif"
    first.save(path, save_all=True, append_images=[second])
    palette = np.array(first.getpalette()).reshape(-1, 3)
    np.testing.assert_array_equal(pixels(path), palette[np.asarray(first)])


def test_jpeg_matches_a_plain_decode(tmp_path, photo):
    data = encode(photo, "JPEG", quality=90)
    np.testing.assert_array_equal(pixels(write(tmp_path / "p.jpg", data)), raw_decode(data))


def _source(kind: str, photo: np.ndarray, tmp_path: Path):
    png = encode(photo, "PNG")
    wide = np.zeros((photo.shape[0] * 2, photo.shape[1] * 2, 3), np.uint8)
    wide[::2, ::2] = photo
    chw = torch.from_numpy(photo).permute(2, 0, 1)
    makers = {
        "bytes": lambda: png,
        "bytearray": lambda: bytearray(png),
        "memoryview": lambda: memoryview(png),
        "BytesIO": lambda: io.BytesIO(png),
        "open file": lambda: open(write(tmp_path / "p.png", png), "rb"),  # noqa: SIM115 - closed by the test
        "PIL image": lambda: Image.fromarray(photo),
        "opened PIL image": lambda: Image.open(io.BytesIO(png)),
        "uint8 array": lambda: photo,
        "non-contiguous array": lambda: wide[::2, ::2],
        "fortran array": lambda: np.asfortranarray(photo),
        "uint16 array": lambda: photo.astype(np.uint16) * 257,
        "big-endian uint16 array": lambda: (photo.astype(np.uint16) * 257).astype(">u2"),
        "float64 array": lambda: photo / 255.0,
        "float32 array": lambda: photo.astype(np.float32) / 255,
        "float16 array": lambda: (photo / 255.0).astype(np.float16),
        "uint8 tensor": lambda: chw,
        "batched tensor": lambda: chw[None],
        "non-contiguous tensor": lambda: torch.from_numpy(wide).permute(2, 0, 1)[:, ::2, ::2],
        "float tensor": lambda: chw.float() / 255,
        "float tensor requiring grad": lambda: (chw.float() / 255).requires_grad_(),
        "float64 tensor": lambda: chw.double() / 255,
    }
    return makers[kind]()


@pytest.mark.parametrize(
    "kind",
    [
        "bytes",
        "bytearray",
        "memoryview",
        "BytesIO",
        "open file",
        "PIL image",
        "opened PIL image",
        "uint8 array",
        "non-contiguous array",
        "fortran array",
        "uint16 array",
        "big-endian uint16 array",
        "float64 array",
        "float32 array",
        "float16 array",
        "uint8 tensor",
        "batched tensor",
        "non-contiguous tensor",
        "float tensor",
        "float tensor requiring grad",
        "float64 tensor",
    ],
)
def test_every_input_kind_gives_the_same_pixels(tmp_path, photo, kind):
    source = _source(kind, photo, tmp_path)
    try:
        np.testing.assert_array_equal(pixels(source), photo)
    finally:
        if kind == "open file":
            source.close()


def test_bfloat16_tensor_is_within_one_code_value(photo):
    tensor = (torch.from_numpy(photo).permute(2, 0, 1).float() / 255).bfloat16()
    assert max_diff(pixels(tensor), photo) <= 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_gpu_tensor(photo):
    np.testing.assert_array_equal(pixels(torch.from_numpy(photo).permute(2, 0, 1).cuda()), photo)


@pytest.mark.parametrize("shape", ["HW", "HW1", "CHW", "1CHW"])
def test_grey_arrays_and_tensors_become_equal_rgb_channels(photo, shape):
    grey = photo[..., 1]
    source = {
        "HW": grey,
        "HW1": grey[..., None],
        "CHW": torch.from_numpy(grey)[None],
        "1CHW": torch.from_numpy(grey)[None, None],
    }[shape]
    np.testing.assert_array_equal(pixels(source), np.repeat(grey[..., None], 3, axis=2))


def test_floats_within_tolerance_of_0_and_1_are_clipped():
    values = np.array([[-1e-7, 0.5, 1 + 1e-7]])
    np.testing.assert_array_equal(pixels(values)[0, :, 0], [0, 128, 255])


def test_inputs_are_not_modified_and_results_do_not_share_their_memory(photo):
    array = photo.copy()
    rgba = np.dstack([photo, np.full(photo.shape[:2], 255, np.uint8)])
    grey = photo[..., 0].copy()
    image = Image.fromarray(photo)
    results = [load_image(array), load_image(rgba), load_image(grey), load_image(image)]
    assert all(result is not image for result in results)
    before = [np.asarray(result).copy() for result in results]
    array[:] = 0
    rgba[:] = 0
    grey[:] = 0
    image.paste((0, 0, 0), (0, 0, *image.size))
    for result, expected in zip(results, before, strict=True):
        np.testing.assert_array_equal(np.asarray(result), expected)


# --- orientation ------------------------------------------------------------------------------


ORIENTED = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
    8: lambda a: np.rot90(a, 1),
}


@pytest.mark.parametrize("orientation", sorted(ORIENTED))
def test_jpeg_exif_orientation_is_applied(tmp_path, photo, orientation):
    data = encode(photo, "JPEG", quality=90, exif=exif_bytes(orientation))
    path = write(tmp_path / "o.jpg", data)
    np.testing.assert_array_equal(pixels(path), ORIENTED[orientation](raw_decode(data)))


def test_opened_pil_image_with_orientation_is_turned_upright_without_touching_it(photo):
    data = encode(photo, "JPEG", quality=90, exif=exif_bytes(6))
    opened = Image.open(io.BytesIO(data))
    np.testing.assert_array_equal(pixels(opened), np.rot90(raw_decode(data), -1))
    assert opened.size == (photo.shape[1], photo.shape[0])
    assert opened.getexif()[ExifTags.Base.Orientation] == 6


def test_heic_round_trip(tmp_path, photo):
    path = write(tmp_path / "p.heic", heic(photo))
    assert np.abs(pixels(path).astype(int) - photo).mean() < 2


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_heic_orientation_is_applied_exactly_once(tmp_path, photo, orientation):
    path = write(tmp_path / "o.heic", heic(photo, exif=exif_bytes(orientation)))
    result = pixels(path)
    expected = ORIENTED[orientation](photo)
    assert result.shape == expected.shape
    assert np.abs(result.astype(int) - expected).mean() < 2


# --- colour -----------------------------------------------------------------------------------

D50 = np.array([0.9642, 1.0, 0.8249])
D65_XY = (0.3127, 0.3290)
BRADFORD = np.array([[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]])
P3_PRIMARIES = [(0.680, 0.320), (0.265, 0.690), (0.150, 0.060)]
SRGB_PRIMARIES = [(0.64, 0.33), (0.30, 0.60), (0.15, 0.06)]
GAMMA_U8F8 = 563  # 2.2 as the u8Fixed8Number a one-entry ICC 'curv' holds: 563 / 256 = 2.199


def rgb_to_xyz(primaries) -> np.ndarray:
    """Linear RGB → XYZ (white Y = 1) for these xy primaries and a D65 white."""
    xy = np.array(primaries, float)
    columns = np.stack([xy[:, 0] / xy[:, 1], np.ones(3), (1 - xy.sum(1)) / xy[:, 1]])
    white = np.array([D65_XY[0] / D65_XY[1], 1.0, (1 - sum(D65_XY)) / D65_XY[1]])
    return columns * np.linalg.solve(columns, white)


def s15fixed16(values) -> bytes:
    return b"".join(struct.pack(">i", round(v * 65536)) for v in values)


def curve(gamma_u8f8: int) -> bytes:
    return b"curv" + bytes(4) + struct.pack(">IH", 1, gamma_u8f8)


def icc_v2(colour_space: bytes, tags: dict[bytes, bytes]) -> bytes:
    """An ICC v2 display profile (PCS XYZ, D50 white) with ``tags`` plus a description, copyright and white point."""
    description = b"phoneiqa test profile"
    tags = {
        b"desc": b"desc" + bytes(4) + struct.pack(">I", len(description) + 1) + description + bytes(1 + 8 + 3 + 67),
        b"cprt": b"text" + bytes(4) + b"public domain\0",
        b"wtpt": b"XYZ " + bytes(4) + s15fixed16(D50),
        **tags,
    }
    table, body = b"", b""
    start = 128 + 4 + 12 * len(tags)
    for signature, data in tags.items():
        table += signature + struct.pack(">II", start + len(body), len(data))
        body += data + bytes(-len(data) % 4)
    header = (
        struct.pack(">I4sI", start + len(body), bytes(4), 0x02100000)
        + b"mntr"
        + colour_space
        + b"XYZ "
        + struct.pack(">6H", 2024, 1, 1, 0, 0, 0)
        + b"acsp"
        + bytes(24 + 4)
        + s15fixed16(D50)
        + bytes(4 + 16 + 28)
    )
    return header + struct.pack(">I", len(tags)) + table + body


def icc_v2_rgb(primaries) -> bytes:
    """Matrix/TRC RGB profile: the D65 primaries Bradford-adapted to the D50 PCS, gamma 2.2."""
    to_xyz = rgb_to_xyz(primaries)
    cone_white, cone_d50 = BRADFORD @ to_xyz.sum(axis=1), BRADFORD @ D50
    colorants = np.linalg.inv(BRADFORD) @ np.diag(cone_d50 / cone_white) @ BRADFORD @ to_xyz
    xyz = {sig: b"XYZ " + bytes(4) + s15fixed16(colorants[:, i]) for i, sig in enumerate([b"rXYZ", b"gXYZ", b"bXYZ"])}
    return icc_v2(b"RGB ", {**xyz, **dict.fromkeys([b"rTRC", b"gTRC", b"bTRC"], curve(GAMMA_U8F8))})


def srgb_encode(linear: np.ndarray) -> np.ndarray:
    return rounded(255 * np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055))


def p3_to_srgb(values: np.ndarray) -> np.ndarray:
    """Independent reference: gamma-2.2 Display P3 codes → linear → XYZ → linear sRGB (clipped) → sRGB codes.

    Both profiles are adapted to D50 with the same Bradford matrix, so the adaptation cancels."""
    linear = (values / 255.0) ** (GAMMA_U8F8 / 256)
    return srgb_encode(np.clip(linear @ (np.linalg.inv(rgb_to_xyz(SRGB_PRIMARIES)) @ rgb_to_xyz(P3_PRIMARIES)).T, 0, 1))


@pytest.fixture(scope="module")
def p3_profile() -> bytes:
    return icc_v2_rgb(P3_PRIMARIES)


@pytest.fixture(scope="module")
def colour_grid() -> np.ndarray:
    """Every combination of 8 levels per channel (saturated primaries and greys included), 16×32."""
    levels = np.linspace(0, 255, 8).round()
    return np.stack(np.meshgrid(levels, levels, levels), axis=-1).reshape(16, 32, 3).astype(np.uint8)


@pytest.mark.parametrize("fmt", ["PNG", "TIFF", "WEBP", "JPEG", "HEIC"])
def test_display_p3_profile_is_converted_to_srgb(tmp_path, photo, colour_grid, p3_profile, fmt):
    content = np.concatenate([colour_grid, photo[:16, :32]])
    if fmt == "HEIC":
        data = heic(content, icc_profile=p3_profile)
        decoded = np.asarray(pillow_heif.open_heif(io.BytesIO(data)))
    else:
        data = encode(content, fmt, icc_profile=p3_profile, **({"lossless": True} if fmt == "WEBP" else {}))
        decoded = raw_decode(data)
    result = load_image(write(tmp_path / f"p3.{fmt.lower()}", data))
    assert "icc_profile" not in result.info
    assert max_diff(np.asarray(result), p3_to_srgb(decoded)) <= 1


def test_saturated_p3_red_clips_to_srgb_red_and_grey_stays_grey(p3_profile):
    data = encode(np.array([[[255, 0, 0], [128, 128, 128]]], np.uint8), "PNG", icc_profile=p3_profile)
    red, grey = pixels(data)[0]
    np.testing.assert_array_equal(red, [255, 0, 0])
    assert grey.max() - grey.min() == 0 and abs(int(grey[0]) - 129) <= 1


def test_grey_profile_is_converted_to_srgb():
    grey = np.arange(256, dtype=np.uint8).reshape(16, 16)
    gamma_22_grey = icc_v2(b"GRAY", {b"kTRC": curve(GAMMA_U8F8)})
    expected = srgb_encode((grey / 255.0) ** (GAMMA_U8F8 / 256))
    assert max_diff(pixels(encode(grey, "PNG", icc_profile=gamma_22_grey)), np.repeat(expected[..., None], 3, 2)) <= 1


def test_srgb_profile_leaves_pixels_untouched(photo):
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    np.testing.assert_array_equal(pixels(encode(photo, "PNG", icc_profile=srgb)), photo)


@pytest.mark.parametrize("case", ["garbage bytes", "RGB profile on a grey image"])
def test_unusable_profile_warns_and_keeps_pixels_as_srgb(photo, p3_profile, case):
    content, profile = (
        (photo, b"this is not an ICC profile") if case == "garbage bytes" else (photo[..., 0], p3_profile)
    )
    with pytest.warns(UserWarning, match="<bytes>: ignoring unusable ICC profile"):
        result = pixels(encode(content, "PNG", icc_profile=profile))
    np.testing.assert_array_equal(result[..., 0], content if content.ndim == 2 else content[..., 0])


def test_cmyk_jpeg_uses_the_naive_formula_without_profile(tmp_path, photo):
    cmy = 255 - photo
    cmyk = np.dstack([cmy, cmy.min(axis=2) // 2])
    data = encode(Image.frombytes("CMYK", photo.shape[1::-1], cmyk.tobytes()), "JPEG", quality=95)
    decoded = raw_decode(data).astype(float)
    expected = rounded((255 - decoded[..., :3]) * (255 - decoded[..., 3:]) / 255)
    assert max_diff(pixels(write(tmp_path / "cmyk.jpg", data)), expected) <= 1


# --- modes and transparency ---------------------------------------------------------------------


def test_rgba_is_composited_over_white(photo):
    alpha = np.random.default_rng(0).integers(0, 256, photo.shape[:2], dtype=np.uint8)
    alpha[0, :3] = [0, 128, 255]
    rgba = np.dstack([photo, alpha])
    expected = over_white(photo, alpha)
    np.testing.assert_array_equal(expected[0, 0], [255, 255, 255])
    np.testing.assert_array_equal(expected[0, 1], rounded(photo[0, 1].astype(float) * 128 / 255 + 255 * 127 / 255))
    for source in (encode(rgba, "PNG"), rgba, torch.from_numpy(rgba).permute(2, 0, 1), rgba / 255.0):
        assert max_diff(pixels(source), expected) <= 1


def test_la_is_composited_over_white(photo):
    grey, alpha = photo[..., 0], photo[..., 1]
    result = pixels(encode(Image.fromarray(np.dstack([grey, alpha])).convert("LA"), "PNG"))
    assert max_diff(result, over_white(np.repeat(grey[..., None], 3, 2), alpha)) <= 1


def test_palette_png_with_transparency(tmp_path):
    palette = np.array([[255, 0, 0], [0, 200, 0], [0, 0, 255], [10, 20, 30]], np.uint8)
    indices = np.random.default_rng(1).integers(0, 4, (12, 16)).astype(np.uint8)
    image = Image.frombytes("P", (16, 12), indices.tobytes())
    image.putpalette(palette.ravel().tolist())
    colours = palette[indices]

    single = pixels(write(tmp_path / "t1.png", encode(image, "PNG", transparency=3)))
    np.testing.assert_array_equal(single, np.where((indices == 3)[..., None], 255, colours))

    alphas = np.array([255, 128, 0, 64], np.uint8)
    graded = pixels(write(tmp_path / "t2.png", encode(image, "PNG", transparency=alphas.tobytes())))
    assert max_diff(graded, over_white(colours, alphas[indices])) <= 1


def test_grey_png_with_transparent_value(photo):
    grey = photo[..., 0]
    value = int(grey[0, 0])
    result = pixels(encode(grey, "PNG", transparency=value))
    np.testing.assert_array_equal(result[..., 0], np.where(grey == value, 255, grey))


SIXTEEN_BIT = np.array([[0, 1, 128, 129, 32767, 32768, 257 * 200, 65535]], np.uint16)
SIXTEEN_BIT_AS_EIGHT = np.array([[0, 0, 0, 1, 127, 128, 200, 255]], np.uint8)  # round(v * 255 / 65535)


def test_16_bit_grey_png_is_scaled_not_clipped():
    data = encode(SIXTEEN_BIT, "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    result = pixels(data)
    np.testing.assert_array_equal(result, np.repeat(SIXTEEN_BIT_AS_EIGHT[..., None], 3, axis=2))
    np.testing.assert_array_equal(pixels(SIXTEEN_BIT), result)


@pytest.mark.parametrize(
    ("mode", "image", "expected"),
    [
        ("I;16B", Image.fromarray(SIXTEEN_BIT.astype(">u2")), SIXTEEN_BIT_AS_EIGHT),
        ("I", Image.fromarray(SIXTEEN_BIT.astype(np.int32)), SIXTEEN_BIT_AS_EIGHT),
        ("F", Image.fromarray(np.array([[0, 0.25, 0.5, 1]], np.float32)), np.array([[0, 64, 128, 255]], np.uint8)),
        ("1", Image.fromarray(np.array([[0, 1, 1, 0]], bool)), np.array([[0, 255, 255, 0]], np.uint8)),
    ],
)
def test_pil_modes_become_grey_rgb(mode, image, expected):
    assert image.mode == mode
    np.testing.assert_array_equal(pixels(image), np.repeat(expected[..., None], 3, axis=2))


def test_pil_float_mode_outside_0_to_1_is_refused():
    with pytest.raises(ImageError, match=r"^<PIL image>: float pixel values must lie in 0\.\.1, found 0\.\.255"):
        load_image(Image.fromarray(np.array([[0, 255]], np.float32)))


# --- errors -----------------------------------------------------------------------------------


def _error(source, **kwargs) -> str:
    with pytest.raises(ImageError) as caught:
        load_image(source, **kwargs)
    return str(caught.value)


def test_missing_file(tmp_path):
    path = tmp_path / "nope.jpg"
    assert _error(path) == f"{path}: no such file"
    assert _error(str(tmp_path / "file.jpg" / "below.jpg")).endswith("no such file")


def test_directory(tmp_path):
    assert _error(tmp_path) == f"{tmp_path}: is a directory, not an image file"


def test_permission_denied(open_tmp_path, photo, unprivileged):
    path = write(open_tmp_path / "secret.png", encode(photo, "PNG"))
    path.chmod(0)
    assert unprivileged(_error, path) == f"{path}: permission denied"


def test_empty_inputs(tmp_path):
    assert _error(write(tmp_path / "empty.jpg", b"")) == f"{tmp_path / 'empty.jpg'}: empty file"
    assert _error(b"") == "<bytes>: empty (0 bytes)"
    assert _error(io.BytesIO()) == "<file object>: empty (0 bytes)"


def test_random_bytes_are_not_an_image(tmp_path):
    path = write(tmp_path / "noise.jpg", np.random.default_rng(2).bytes(5000))
    assert _error(path) == f"{path}: not a recognised image format"


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_files(tmp_path, fmt):
    data = encode(load_sample_image("flower.jpg"), fmt)
    path = write(tmp_path / f"cut.{fmt.lower()}", data[: len(data) // 2])
    assert _error(path) == f"{path}: truncated {fmt} data"
    assert _error(data[: len(data) // 2], name="input 3") == f"input 3: truncated {fmt} data"


def test_corrupt_jpeg_data(photo):
    data = bytearray(encode(photo, "JPEG"))
    data[len(data) // 2 : len(data) // 2 + 50] = b"\xff" * 50
    assert _error(bytes(data)) == "<bytes>: corrupt JPEG data (broken data stream when reading image file)"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (3, "<int>: unsupported input type int"),
        ([[1, 2]], "<list>: unsupported input type list"),
        (io.StringIO("text"), "<file object>: file object gave str, not bytes; open it in 'rb' mode"),
        (np.zeros((0, 4, 3), np.uint8), "<array>: zero-size array of shape (0, 4, 3)"),
        (np.zeros((4, 4, 2), np.uint8), "<array>: unsupported array shape (4, 4, 2)"),
        (np.zeros((1, 4, 4, 3), np.uint8), "<array>: unsupported array shape (1, 4, 4, 3)"),
        (np.zeros((4, 4, 3), bool), "<array>: unsupported dtype bool"),
        (np.zeros((4, 4, 3), np.int64), "<array>: unsupported dtype int64"),
        (np.full((4, 4), np.nan), "<array>: pixel values contain NaN or infinity"),
        (np.full((4, 4), np.inf, np.float32), "<array>: pixel values contain NaN or infinity"),
        (np.linspace(0, 255, 16).reshape(4, 4), "<array>: float pixel values must lie in 0..1, found 0..255"),
        (np.full((4, 4), -0.01), "<array>: float pixel values must lie in 0..1, found -0.01..-0.01"),
        (torch.zeros(8, 8, 3), "<tensor>: unsupported tensor shape (8, 8, 3)"),
        (torch.zeros(2, 3, 8, 8), "<tensor>: unsupported tensor shape (2, 3, 8, 8)"),
        (torch.zeros(3, 8, 8, dtype=torch.int32), "<tensor>: unsupported dtype int32"),
        (Image.new("RGB", (0, 5)), "<PIL image>: image has no pixels (0×5)"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_unusable_inputs(source, message):
    assert _error(source).startswith(message)


def test_name_replaces_the_description():
    assert _error(b"", name="input 3") == "input 3: empty (0 bytes)"


def test_too_many_pixels_on_a_real_photo(tmp_path, photo):
    path = write(tmp_path / "p.jpg", encode(photo, "JPEG"))
    assert _error(path, max_pixels=1000) == f"{path}: 128×96 = 12288 pixels exceeds the limit of 1000 pixels"
    assert _error(photo, max_pixels=12287).endswith("128×96 = 12288 pixels exceeds the limit of 12287 pixels")
    assert pixels(photo, max_pixels=12288).shape == photo.shape


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("photos/a.jpg", "photos/a.jpg"),
        (Path("photos/a.jpg"), "photos/a.jpg"),
        (b"\xff\xd8", "<bytes>"),
        (memoryview(b"x"), "<bytes>"),
        (io.BytesIO(), "<file object>"),
        (Image.new("RGB", (1, 1)), "<PIL image>"),
        (np.zeros((1, 1)), "<array>"),
        (torch.zeros(3, 1, 1), "<tensor>"),
        (1.5, "<float>"),
    ],
)
def test_describe(source, expected):
    assert describe(source) == expected


def test_describe_uses_a_file_objects_name(tmp_path):
    path = write(tmp_path / "x.bin", b"x")
    with open(path, "rb") as file:
        assert describe(file) == str(path)


def test_invalid_min_short_side_is_a_programming_error(photo):
    with pytest.raises(ValueError, match="min_short_side must be at least 1") as caught:
        load_image(photo, min_short_side=0)
    assert not isinstance(caught.value, ImageError)


# --- decompression bombs ----------------------------------------------------------------------


def png_claiming(width: int, height: int) -> bytes:
    """A real 1×1 PNG whose IHDR (CRC fixed up) claims ``width × height`` pixels."""
    data = bytearray(encode(np.zeros((1, 1), np.uint8), "PNG"))
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


@pytest.mark.parametrize(
    ("side", "message"),
    [
        (12_000, "12000×12000 = 144000000 pixels exceeds the limit of 120000000 pixels"),  # above Pillow's warning
        (100_000, "10000000000 pixels exceeds the limit of 120000000 pixels"),  # above Pillow's hard limit too
    ],
)
def test_bomb_is_refused_from_its_header_quickly_and_silently(tmp_path, side, message):
    assert DEFAULT_MAX_PIXELS == 120_000_000
    path = write(tmp_path / "bomb.png", png_claiming(side, side))
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _error(path) == f"{path}: {message}"
    assert time.perf_counter() - start < 1


def test_max_pixels_decides_instead_of_pillows_warning_limit(monkeypatch, photo):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)  # the 96×128 photo lies between 1× and 2× this
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        filters = list(warnings.filters)
        np.testing.assert_array_equal(pixels(encode(photo, "PNG")), photo)
        assert warnings.filters == filters
    assert Image.MAX_IMAGE_PIXELS == 10_000


def test_pillows_hard_limit_is_named_when_max_pixels_is_higher():
    message = _error(png_claiming(100_000, 100_000), max_pixels=10**11)
    assert message.startswith("<bytes>: too many pixels for Pillow (")
    assert message.endswith("raise PIL.Image.MAX_IMAGE_PIXELS to read it")


# --- reduced-scale JPEG decoding --------------------------------------------------------------


@pytest.fixture(scope="module")
def big_jpeg(tmp_path_factory) -> tuple[Path, Path]:
    """A 2000×1500 JPEG upscaled from a real photo, upright and with EXIF orientation 6."""
    image = Image.fromarray(load_sample_image("china.jpg")).resize((2000, 1500), Image.Resampling.BICUBIC)
    folder = tmp_path_factory.mktemp("big")
    image.save(folder / "big.jpg", quality=90)
    image.save(folder / "rotated.jpg", quality=90, exif=exif_bytes(6))
    return folder / "big.jpg", folder / "rotated.jpg"


@pytest.mark.parametrize(
    ("min_short_side", "size"),
    [(None, (2000, 1500)), (100, (250, 188)), (384, (1000, 750)), (375, (500, 375)), (751, (2000, 1500))],
)
def test_draft_keeps_the_short_side_at_least_min_short_side(big_jpeg, min_short_side, size):
    upright, rotated = big_jpeg
    image = load_image(upright, min_short_side=min_short_side)
    assert image.size == size
    assert load_image(rotated, min_short_side=min_short_side).size == size[::-1]
    if min_short_side is not None:
        assert min(image.size) >= min_short_side


def test_draft_decodes_the_same_picture(big_jpeg):
    reduced = pixels(big_jpeg[0], min_short_side=384)
    full = np.asarray(load_image(big_jpeg[0]).reduce(2))
    assert np.abs(reduced.astype(int) - full).mean() < 2


def test_min_short_side_does_not_resize_other_inputs(photo):
    assert pixels(encode(photo, "PNG"), min_short_side=8).shape == photo.shape
    assert pixels(photo, min_short_side=8).shape == photo.shape


# --- threads ----------------------------------------------------------------------------------


def test_concurrent_loads_match_sequential_ones(tmp_path, photo, flower, p3_profile, big_jpeg):
    rgba = np.dstack([flower, photo[: flower.shape[0], : flower.shape[1], 0]])
    jobs = [
        (write(tmp_path / "a.png", encode(photo, "PNG")), {}),
        (encode(flower, "JPEG", exif=exif_bytes(6)), {}),
        (write(tmp_path / "p3.png", encode(flower, "PNG", icc_profile=p3_profile)), {}),
        (write(tmp_path / "p3b.png", encode(photo, "PNG", icc_profile=p3_profile)), {}),
        (write(tmp_path / "h.heic", heic(photo)), {}),
        (rgba, {}),
        (torch.from_numpy(flower).permute(2, 0, 1).float() / 255, {}),
        (big_jpeg[1], {"min_short_side": 384}),
    ]
    expected = [pixels(source, **kwargs) for source, kwargs in jobs]
    barrier = threading.Barrier(len(jobs), timeout=60)
    filters = list(warnings.filters)

    def run(job):
        barrier.wait()
        source, kwargs = job
        return [pixels(source, **kwargs) for _ in range(3)]

    with ThreadPoolExecutor(len(jobs)) as pool:
        results = list(pool.map(run, jobs))
    assert warnings.filters == filters
    for repeats, reference in zip(results, expected, strict=True):
        for result in repeats:
            np.testing.assert_array_equal(result, reference)

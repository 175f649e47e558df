"""The exposure maps, on images whose answer is known by construction."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from sklearn.datasets import load_sample_image

import phoneiqa
from phoneiqa.explain import ALPHA, MAPS, explain
from phoneiqa.exposure import blown_share, large_regions


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def srgb_to_linear(codes: np.ndarray) -> np.ndarray:
    """IEC 61966-2-1, written out here independently of phoneiqa.photometric."""
    c = codes / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


@pytest.fixture(scope="module")
def scene() -> np.ndarray:
    """A real photo (427×640) darkened so that nothing in it is blown or crushed."""
    return (40 + load_sample_image("china.jpg").astype(np.float64) * 0.6).astype(np.uint8)


def test_a_painted_clipped_rectangle_is_the_clipped_map(scene):
    photo = scene.copy()
    photo[100:220, 200:420] = 255
    e = explain(photo)
    assert e.pixels.shape == (214, 320, 3)  # the working copy: 640 > 512, so reduced by 2
    truth = np.zeros(photo.shape[:2], dtype=bool)
    truth[100:220, 200:420] = True
    truth = np.asarray(Image.fromarray(truth).resize(e.masks["clipped_highlights"].shape[::-1])) > 0
    assert iou(e.masks["clipped_highlights"], truth) >= 0.9
    assert e.shares["clipped_highlights"] == pytest.approx(120 * 220 / (427 * 640), rel=0.05)
    assert e.shares["clipped_highlights"] == pytest.approx(blown_share(photo), abs=1e-12)  # what overexposed reads


def test_a_black_band_is_the_crushed_map(scene):
    photo = scene.copy()
    photo[300:340] = 0
    e = explain(photo)
    h = e.masks["crushed_shadows"].shape[0]
    truth = np.zeros(e.masks["crushed_shadows"].shape, dtype=bool)
    truth[round(300 * h / 427) : round(340 * h / 427)] = True
    assert iou(e.masks["crushed_shadows"], truth) >= 0.9
    assert not (e.masks["too_dark"] & e.masks["crushed_shadows"]).any()  # crushed is not counted twice


def test_a_grey_ramp_is_dark_and_bright_where_its_luminance_says():
    codes = np.repeat(np.arange(256, dtype=np.uint8)[None, :], 64, axis=0)
    e = explain(np.stack([codes] * 3, axis=-1))
    y = srgb_to_linear(np.arange(256))
    stops = np.log2(y + 0.002) - np.log2(0.18)
    np.testing.assert_allclose(e.stops[0], stops, atol=1e-4)
    expected_dark = (stops <= -3) & (np.arange(256) > 5)  # codes 0..5 are crushed instead
    expected_bright = (stops >= 2) & (np.arange(256) < 250)  # from 250 blown instead
    assert np.array_equal(e.masks["too_dark"][0], expected_dark)
    assert np.array_equal(e.masks["too_bright"][0], expected_bright)
    assert e.masks["crushed_shadows"][0].sum() == 6 and e.masks["clipped_highlights"][0].sum() == 6


def test_small_light_sources_and_glints_are_not_marked(scene):
    photo = scene.copy()
    for y, x in [(30, 40), (200, 500), (400, 100), (250, 320)]:
        photo[y : y + 4, x : x + 4] = 255  # glints of 16 pixels, far below 0.1 % of the frame
    assert not explain(photo).masks["clipped_highlights"].any()


def test_exif_rotation_turns_the_map(tmp_path, scene):
    photo = scene.copy()
    photo[:100, :150] = 255  # top left of the stored pixels
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated 90° clockwise: the stored top left becomes the top right
    path = tmp_path / "rotated.jpg"
    Image.fromarray(photo).save(path, quality=95, exif=exif)
    mask = phoneiqa.assess(str(path), explain=True).explanation.masks["clipped_highlights"]
    h, w = mask.shape
    assert h > w  # upright: portrait
    top_right = np.zeros_like(mask)
    top_right[: round(150 * h / 640), w - round(100 * w / 427) :] = True
    assert iou(mask, top_right) >= 0.9


def test_highlights_pressed_below_white_are_marked_only_when_they_can_be_over_suppressed(scene):
    dull = (scene.astype(np.float64) * 0.55).astype(np.uint8)  # whites at most code 140: far below white
    e = explain(dull)
    assert e.headroom > 1.0 and 0.1 <= e.shares["compressed_highlights"] <= 0.2  # the brightest tenth, ties kept
    bright = scene.copy()
    bright[:50] = 240
    assert explain(bright).masks["compressed_highlights"].sum() == 0


def test_the_overlay_draws_the_flagged_maps_in_their_colours(scene):
    photo = scene.copy()
    photo[100:220, 200:420] = 255
    a = phoneiqa.assess(photo, explain=True)
    e = a.explanation
    plain = np.asarray(e.overlay({"dark": 0}, legend=False), dtype=np.float64)
    y, x = np.argwhere(e.masks["clipped_highlights"])[0]
    base = 0.35 * 255 + 0.65 * 255  # a white pixel, greyed: still white
    expected = (1 - ALPHA) * base + ALPHA * np.array(MAPS["clipped_highlights"][0])
    np.testing.assert_allclose(plain[y, x], expected, atol=1)
    dark = np.argwhere(e.masks["too_dark"])
    if len(dark):  # too_dark is drawn only when dark is flagged
        dy, dx = dark[0]
        assert not np.allclose(plain[dy, dx], MAPS["too_dark"][0], atol=40)
    framed = a.overlay()
    assert framed.width == e.pixels.shape[1] and framed.height > e.pixels.shape[0]  # the legend strip below


def test_explain_is_opt_in_and_reported_in_the_dict(scene):
    plain, explained = phoneiqa.assess(scene), phoneiqa.assess(scene, explain=True)
    assert plain.explanation is None and "exposure_shares" not in plain.to_dict()
    assert explained == plain  # the same assessment, with maps added
    assert set(explained.to_dict()["exposure_shares"]) == set(MAPS)
    with pytest.raises(ValueError, match="explain=True"):
        plain.overlay()


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 30), st.integers(1, 30), st.floats(0.05, 0.95), st.integers(1, 25), st.integers(0, 2**31))
def test_large_regions_agrees_with_scipy_labelling(height, width, density, min_pixels, seed):
    ndimage = pytest.importorskip("scipy.ndimage")
    mask = np.random.default_rng(seed).random((height, width)) < density
    regions, count = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    sizes = np.bincount(regions.ravel(), minlength=count + 1)
    keep = sizes >= min_pixels
    keep[0] = False
    assert np.array_equal(large_regions(mask, min_pixels), keep[regions])


def test_cli_assess_explain_writes_the_overlay_and_lists_the_shares(tmp_path, capsys, scene):
    """`phoneiqa assess FILE --explain DIR`: DIR/<file name>.explain.png is the assessment's overlay, the
    table gains one column per map and the JSON line the same shares as the API."""
    from phoneiqa.cli import main

    photo = scene.copy()
    photo[100:220, 200:420] = 255
    path = tmp_path / "blown.png"  # lossless, so the file decodes to these very pixels
    Image.fromarray(photo).save(path)
    assert main(["assess", str(path), "--explain", str(tmp_path / "maps")]) == 0
    header, row = capsys.readouterr().out.splitlines()
    expected = phoneiqa.assess(str(path), explain=True)
    assert header.split()[-2 * len(MAPS) :: 2] == list(MAPS)
    shown = [float(v) for v in row.split()[-len(MAPS) :]]
    assert shown == pytest.approx([100 * expected.explanation.shares[m] for m in MAPS], abs=0.051)
    with Image.open(tmp_path / "maps" / "blown.png.explain.png") as written:
        assert np.array_equal(np.asarray(written.convert("RGB")), np.asarray(expected.overlay()))
    assert main(["assess", str(path), "--json", "--explain", str(tmp_path / "maps")]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["exposure_shares"] == pytest.approx(expected.explanation.shares)

"""The issue definitions (data_specs/issue_definitions.md) on images whose answer is known by construction.

Expected values are computed here from the definitions' formulas (own sRGB and L* code), not read
back from phoneiqa.exposure.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from phoneiqa.encoders import create_encoder
from phoneiqa.exposure import (
    BOUNDARIES,
    FEATURE_NAMES,
    Measurement,
    blown_mask,
    blown_share,
    exposure_features,
    exposure_statistics,
    issue_levels,
    level_of,
    measure,
)
from phoneiqa.preprocess import resize_image


def to_linear(codes: np.ndarray) -> np.ndarray:
    v = codes / 255.0
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def to_codes(lin: np.ndarray) -> np.ndarray:
    lin = np.clip(lin, 0, 1)
    v = np.where(lin <= 0.0031308, lin * 12.92, 1.055 * lin ** (1 / 2.4) - 0.055)
    return np.round(v * 255).astype(np.uint8)


def lightness_of(y: np.ndarray) -> np.ndarray:
    return np.where(y > (6 / 29) ** 3, 116 * np.cbrt(y) - 16, y * (29 / 3) ** 3)


def luminance_of_lightness(light: np.ndarray) -> np.ndarray:
    f = (light + 16) / 116
    return np.where(f > 6 / 29, f**3, 3 * (6 / 29) ** 2 * (f - 4 / 29))


def textured(seed: int = 0, shape: tuple[int, int] = (240, 320)) -> np.ndarray:
    """A photo-like grey-green texture with codes in 30..200 (no clipping anywhere)."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(30, 200, (shape[0] // 8, shape[1] // 8))
    grey = np.kron(base, np.ones((8, 8))) + rng.normal(0, 4, shape)
    return np.clip(np.stack([grey, grey * 0.95 + 5, grey * 0.8], axis=2), 0, 255).astype(np.uint8)


def test_a_painted_white_rectangle_is_blown_and_measured_as_its_share():
    image = np.full((200, 300, 3), 120, np.uint8)
    image[20:80, 30:150] = 255  # 60 x 120 = 7200 px = 12 % of the frame
    image[150, 250] = 255  # a glint of one pixel
    assert blown_share(image) == pytest.approx(0.12)
    assert issue_levels(Measurement(0.0, 1.0, blown_share(image), 0.0))["overexposed"] == 1  # 5 % <= 12 % < 15 %
    image[100:200, :150] = 255  # + 100 x 150 = 25 % more (touching the first: one region)
    assert blown_share(image) == pytest.approx(0.37)
    assert level_of("overexposed", blown_share(image)) == 3


def test_glints_and_one_clipped_channel_are_not_blown():
    image = np.full((200, 300, 3), 90, np.uint8)
    for top in range(5, 195, 12):  # 16 x 25 = 400 glints of 3 x 3 px: 6 % of the frame, each 0.015 %
        for left in range(5, 295, 12):
            image[top : top + 3, left : left + 3] = 255
    assert (image >= 250).all(axis=2).mean() == pytest.approx(0.06)
    assert blown_share(image) == 0.0
    red = np.full((200, 300, 3), 90, np.uint8)
    red[:100, :, 0] = 255  # a saturated red half: one channel clipped, luminance detail kept
    assert blown_share(red) == 0.0
    yellow = red.copy()
    yellow[:100, :, 1] = 252  # two channels clipped: blown
    assert blown_share(yellow) == pytest.approx(0.5)


def test_blown_mask_of_a_large_photo_is_measured_on_the_working_copy():
    image = np.full((1200, 1600, 3), 100, np.uint8)
    image[:300, :800] = 255  # 12.5 %
    assert blown_share(image) == pytest.approx(0.125, abs=0.002)
    assert blown_mask(image).shape == (1200, 1600)


def test_one_stop_darker_reads_as_minus_one_ev_and_dark_severe():
    ref = textured()
    lin = to_linear(ref)
    darker = to_codes(lin / 2)
    y = lambda c: to_linear(c) @ [0.2126, 0.7152, 0.0722]  # noqa: E731
    expected = np.mean(np.log2(y(darker) + 0.002)) - np.mean(np.log2(y(ref) + 0.002))
    m = measure(darker, ref)
    assert m.exposure_ev == pytest.approx(expected, abs=1e-3)
    assert m.exposure_ev == pytest.approx(-1.0, abs=0.05)
    assert m.contrast_ratio == pytest.approx(1.0, abs=0.02)  # a pure gain changes no contrast
    assert m.highlight_drop_ev == pytest.approx(0.0, abs=0.05)  # whites fell with the mid-tones
    assert issue_levels(m) == {**dict.fromkeys(BOUNDARIES, 0), "dark": 2}
    brighter = to_codes(lin * 2**0.6)
    assert issue_levels(measure(brighter, ref))["bright"] == 1


def test_halving_lightness_deviations_reads_as_contrast_ratio_one_half():
    rng = np.random.default_rng(1)
    light = np.clip(50 + 18 * rng.standard_normal((200, 300)), 5, 95)
    flat = 50 + 0.6 * (light - 50)
    grey = lambda lstar: to_codes(np.repeat(luminance_of_lightness(lstar)[..., None], 3, axis=2))  # noqa: E731
    ref, result = grey(light), grey(flat)
    m = measure(result, ref)
    expected = lightness_of(to_linear(result[..., 0])).std() / lightness_of(to_linear(ref[..., 0])).std()
    assert m.contrast_ratio == pytest.approx(expected, abs=0.03)
    assert m.contrast_ratio == pytest.approx(0.6, abs=0.03)
    assert issue_levels(m)["low_contrast"] == 2  # 0.5 < 0.6 <= 0.7
    assert issue_levels(measure(ref, result))["high_contrast"] == 3  # the other way round: 1/0.6 = 1.67 >= 1.6


def test_highlights_pressed_down_one_stop_with_mid_tones_kept_is_over_suppressed_severe():
    ref = textured() // 2 + 20  # codes 35..120
    ref[:60, :] = 240  # a bright, unclipped quarter: the highlights
    pressed = ref.copy()
    pressed[:60, :] = to_codes(to_linear(np.array(240)) / 2)
    m = measure(pressed, ref)
    assert m.highlight_drop_ev == pytest.approx(1.0, abs=0.05)
    assert issue_levels(m)["over_suppressed"] == 2  # 0.75 <= 1.0 < 1.15
    assert issue_levels(m)["dark"] == 0


def test_levels_count_boundaries_reached_from_either_side():
    for label, (_, edges) in BOUNDARIES.items():
        assert [level_of(label, edge) for edge in edges] == [1, 2, 3]
        assert level_of(label, 0.0 if edges[0] > 0 and edges[0] < edges[1] else 1.0) == 0


def test_measure_rejects_what_it_cannot_compare():
    with pytest.raises(ValueError, match="differ in size"):
        measure(np.zeros((10, 10, 3), np.uint8), np.zeros((10, 12, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        measure(np.zeros((10, 10, 3)), np.zeros((10, 10, 3)))


def test_single_photo_features_read_the_definitions_quantities():
    image = np.full((200, 300, 3), 120, np.uint8)
    image[:40, :] = 255  # 20 % blown
    image[150:, :] = 0  # 25 % crushed
    image[100, 100] = 255  # a glint: blown pixels, but not blown share
    stats = exposure_statistics(image)
    assert stats["blown_share"] == pytest.approx(0.2)
    assert stats["blown_pixels"] == pytest.approx(0.2 + 1 / 60000)
    assert stats["crushed_share"] == pytest.approx(0.25)
    assert stats["highlight_stops"] == 0.0  # more than 0.5 % of the frame is white
    y = to_linear(np.array([255.0, 120.0, 0.0]))  # luminance of a grey is its linear value
    expected_key = 0.2 * np.log2(y[0] + 0.002) + 0.55 * np.log2(y[1] + 0.002) + 0.25 * np.log2(y[2] + 0.002)
    assert stats["key_stops"] == pytest.approx(expected_key, abs=1e-3)
    assert stats["median_stops"] == pytest.approx(np.log2(y[1] + 0.002), abs=1e-4)
    assert exposure_features(image[None]).tolist() == [[pytest.approx(stats[n], abs=1e-5) for n in FEATURE_NAMES]]


def test_the_exposure_encoder_is_the_features_of_its_resized_input():
    photo = Image.fromarray(textured(), "RGB").resize((640, 480))
    encoder = create_encoder("exposure")
    resized = np.asarray(resize_image(photo, encoder.preprocess))
    assert resized.shape == (192, 256, 3)
    got = encoder.encode([photo]).numpy()
    np.testing.assert_allclose(got, exposure_features(resized[None]), atol=1e-6)
    assert got.shape == (1, len(FEATURE_NAMES))

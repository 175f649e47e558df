"""The issue definitions (data_specs/issue_definitions.md) on images whose answer is known by construction.

Expected values are computed here from the definitions' formulas (own sRGB and L* code), not read
back from phoneiqa.exposure.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from phoneiqa.encoders import create_encoder
from phoneiqa.exposure import (
    BOUNDARIES,
    FEATURE_NAMES,
    Measurement,
    blown_mask,
    blown_share,
    draw_viewer_noise,
    exposure_features,
    exposure_statistics,
    exposure_stops,
    issue_levels,
    level_of,
    measure,
    viewer_levels,
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
    assert issue_levels(Measurement(0.0, 1.0, blown_share(image), 0.0))["overexposed"] == 0  # 12 % < 16 %
    image[80:100, 30:150] = 255  # + 20 x 120 = 4 % more, joined to the first: 16 %
    assert level_of("overexposed", blown_share(image)) == 1  # 16 % <= 16 % < 30 %
    image[100:200, :150] = 255  # + 100 x 150 = 25 % more (touching the first: one region)
    assert blown_share(image) == pytest.approx(0.41)
    assert level_of("overexposed", blown_share(image)) == 2  # 30 % <= 41 % < 42 %


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


def test_one_stop_darker_reads_as_minus_one_ev_which_viewers_mostly_let_pass():
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
    assert issue_levels(m) == dict.fromkeys(BOUNDARIES, 0)  # -1 stop: a third of viewers call it dim (-1.5 needed)
    brighter = to_codes(lin * 2**1.2)
    assert issue_levels(measure(brighter, ref))["bright"] == 1  # +1.2 stops: 0.95 <= 1.2 < 2.05


def test_squeezed_lightness_deviations_read_as_their_contrast_ratio():
    rng = np.random.default_rng(1)
    light = np.clip(50 + 18 * rng.standard_normal((200, 300)), 5, 95)
    flat = 50 + 0.45 * (light - 50)
    grey = lambda lstar: to_codes(np.repeat(luminance_of_lightness(lstar)[..., None], 3, axis=2))  # noqa: E731
    ref, result = grey(light), grey(flat)
    m = measure(result, ref)
    expected = lightness_of(to_linear(result[..., 0])).std() / lightness_of(to_linear(ref[..., 0])).std()
    assert m.contrast_ratio == pytest.approx(expected, abs=0.03)
    assert m.contrast_ratio == pytest.approx(0.45, abs=0.03)
    assert issue_levels(m)["low_contrast"] == 1  # 0.40 < 0.45 <= 0.56
    assert issue_levels(measure(ref, result))["high_contrast"] == 2  # the other way round: 2.16 <= 1/0.45 < 3.19


def test_highlights_pressed_down_two_stops_with_mid_tones_kept_is_over_suppressed():
    ref = textured() // 2 + 20  # codes 35..120
    ref[:60, :] = 240  # a bright, unclipped quarter: the highlights
    pressed = ref.copy()
    pressed[:60, :] = to_codes(to_linear(np.array(240)) / 4)
    m = measure(pressed, ref)
    assert m.highlight_drop_ev == pytest.approx(2.0, abs=0.05)
    assert issue_levels(m)["over_suppressed"] == 1  # 1.67 <= 2.0 < 3.35: viewers rarely notice less
    assert issue_levels(m)["dark"] == 0


def test_levels_count_boundaries_reached_from_either_side():
    for label, (_, edges) in BOUNDARIES.items():
        assert [level_of(label, edge) for edge in edges] == [1, 2, 3]
        assert level_of(label, 0.0 if edges[0] > 0 and edges[0] < edges[1] else 1.0) == 0


CALIBRATED_DARK = (-1.5, -2.7, -3.9)
"""Where viewers' ``dark`` levels begin, in measured stops (data_specs/issue_definitions.md, Levels)."""
JUDGED_FINE = Path(__file__).resolve().parents[2] / "shared" / "data" / "bsds500" / "test_103078.jpg"
"""A photo judged fine and sure (a base of judged/calibration.csv)."""


@pytest.mark.parametrize("stops, level", [(-1.0, 0), (-2.0, 1), (-5.0, 3)])
def test_a_judged_fine_photo_darkened_by_known_stops_gets_the_viewers_level(stops, level):
    if not JUDGED_FINE.exists():
        pytest.skip(f"{JUDGED_FINE} is not here (../shared/data)")
    ref = np.asarray(Image.open(JUDGED_FINE).convert("RGB"))
    darker = to_codes(to_linear(ref) * 2.0**stops)
    y = lambda c: to_linear(c) @ [0.2126, 0.7152, 0.0722]  # noqa: E731
    ev = np.mean(np.log2(y(darker) + 0.002)) - np.mean(np.log2(y(ref) + 0.002))
    m = measure(darker, ref)
    assert m.exposure_ev == pytest.approx(ev, abs=1e-3)
    assert issue_levels(m)["dark"] == sum(ev <= edge for edge in CALIBRATED_DARK) == level
    assert issue_levels(m)["bright"] == 0


@pytest.mark.parametrize("ev, label, k", [(-1.0, "dark", 1), (-1.5, "dark", 1), (1.4, "bright", 1), (-3.0, "dark", 2)])
def test_viewer_levels_reach_a_level_as_often_as_the_fitted_curve_says(ev, label, k):
    edges = {"dark": (-1.5, -2.7), "bright": (0.95, 2.05)}[label]
    spread = {"dark": 0.47, "bright": 0.42}[label]
    distance = (ev - edges[k - 1]) * (1 if label == "bright" else -1)
    expected = 1 / (1 + np.exp(-distance / spread))  # P(level >= k) = sigmoid((x - t_k) / s)
    rng = np.random.default_rng(5)
    m = Measurement(ev, 1.0, 0.0, 0.0)
    drawn = [viewer_levels(m, draw_viewer_noise(rng))[label] >= k for _ in range(20000)]
    assert np.mean(drawn) == pytest.approx(expected, abs=0.012)


@settings(max_examples=200, deadline=None)
@given(
    ev=st.floats(-8, 6),
    ratio=st.floats(0.1, 5),
    blown=st.floats(0, 1),
    drop=st.floats(0, 6),
    seed=st.integers(0, 2**32 - 1),
)
def test_viewer_levels_are_always_a_legal_combination(ev, ratio, blown, drop, seed):
    levels = viewer_levels(Measurement(ev, ratio, blown, drop), draw_viewer_noise(np.random.default_rng(seed)))
    for a, b in (("bright", "dark"), ("low_contrast", "high_contrast"), ("overexposed", "over_suppressed")):
        assert not (levels[a] and levels[b])


@pytest.mark.parametrize("ev", [-4.2, -2.0, -0.7, 0.0, 0.5, 1.3, 2.8])
def test_exposure_stops_reads_back_the_change_whose_viewer_levels_it_is_given(ev):
    """Level probabilities that viewers give a change of ``ev`` stops (the fitted curves, written out here:
    P(level >= k) = sigmoid(distance past boundary k / spread)) read back as ``ev``."""
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    bright_at_least = [sig((ev - t) / 0.42) for t in (0.95, 2.05, 3.2)] + [0.0]
    dark_at_least = [sig((t - ev) / 0.47) for t in (-1.5, -2.7, -3.9)] + [0.0]
    bright = [bright_at_least[k] - bright_at_least[k + 1] for k in range(3)]
    dark = [dark_at_least[k] - dark_at_least[k + 1] for k in range(3)]
    bright_p = np.array([[1 - sum(bright), *bright]])
    dark_p = np.array([[1 - sum(dark), *dark]])
    assert exposure_stops(bright_p, dark_p)[0] == pytest.approx(ev, abs=0.011)


def test_exposure_stops_of_a_photo_sure_to_be_fine_is_between_the_normal_boundaries():
    stops = exposure_stops(np.array([[1.0, 0, 0, 0]]), np.array([[1.0, 0, 0, 0]]))[0]
    assert -1.5 < stops < 0.95


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

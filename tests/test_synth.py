"""The graded synthetic-issue generator, checked with statistics computed here, independently of phoneiqa.synth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.datasets import load_sample_image

from phoneiqa.labels import LABELS, load_graph, read_labels_csv, validate_labels
from phoneiqa.synth import (
    ISSUES,
    STAGES,
    apply_issues,
    clip_highlights,
    compress_highlights,
    expose,
    generate_dataset,
    sample_levels,
    select_well_exposed,
    synthesize,
    to_linear,
)


@pytest.fixture(scope="module")
def photos() -> list[Image.Image]:
    """Two real photos that scikit-learn ships (a temple under a bright sky, a flower), at half size."""
    return [Image.fromarray(load_sample_image(name)).reduce(2) for name in ("china.jpg", "flower.jpg")]


# ------------------------------------------------------------------ statistics, written from their definitions
def linear(image: Image.Image) -> np.ndarray:
    v = np.asarray(image, dtype=np.float64) / 255.0
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def mean_luminance(image: Image.Image) -> float:
    return float((linear(image) @ [0.2126, 0.7152, 0.0722]).mean())


def median_log_luminance(image: Image.Image) -> float:
    return float(np.log2(np.median(linear(image) @ [0.2126, 0.7152, 0.0722])))


def luma(image: Image.Image) -> np.ndarray:
    """Rec. 709 luma of the encoded values, 0..1: the perceptual brightness the eye compares."""
    return np.asarray(image, dtype=np.float64) @ [0.2126, 0.7152, 0.0722] / 255.0


def luma_std(image: Image.Image) -> float:
    return float(luma(image).std())


def clipped_fraction(image: Image.Image) -> float:
    return float((np.asarray(image).max(axis=2) >= 254).mean())


def p99_luma(image: Image.Image) -> float:
    return float(np.percentile(luma(image), 99))


def highlight_spread(image: Image.Image) -> float:
    top = np.percentile(luma(image), [90, 99.5])
    return float(top[1] - top[0])


# (label, statistic, +1 if it grows with the level else -1)
MOVES = [
    ("bright", mean_luminance, +1),
    ("dark", mean_luminance, -1),
    ("high_contrast", luma_std, +1),
    ("low_contrast", luma_std, -1),
    ("overexposed", clipped_fraction, +1),
    ("over_suppressed", p99_luma, -1),
    ("over_suppressed", highlight_spread, -1),
]


@pytest.mark.parametrize(("label", "statistic", "sign"), MOVES, ids=[f"{m[0]}-{m[1].__name__}" for m in MOVES])
def test_each_issue_moves_its_statistic_monotonically_with_level(photos, label, statistic, sign):
    for photo in photos:
        for seed in range(3):
            base = statistic(photo)
            values = [
                sign * (statistic(apply_issues(photo, {label: k}, np.random.default_rng(seed))) - base)
                for k in (1, 2, 3)
            ]
            none = sign * (statistic(apply_issues(photo, {label: 0}, np.random.default_rng(seed))) - base)
            assert none < values[0] < values[1] < values[2], (label, seed, none, values)
            assert values[0] > 0


def test_level_zero_jitter_keeps_statistics_close_to_the_base(photos):
    for photo in photos:
        for seed in range(8):
            out = apply_issues(photo, {}, np.random.default_rng(seed))
            assert abs(median_log_luminance(out) - median_log_luminance(photo)) < 0.25
            assert 0.9 < luma_std(out) / luma_std(photo) < 1.1
            # the three jitters can stack: -0.2 EV, contrast 0.95 and a 0.08 EV highlight drop take a clipped
            # white sky from 255 to about 230
            assert abs(p99_luma(out) - p99_luma(photo)) < 0.12
            assert clipped_fraction(out) - clipped_fraction(photo) < 0.03  # +0.2 EV whitens a near-white sky


def test_operation_parameters_mean_what_the_spec_says(photos):
    rng = np.random.default_rng(0)
    lin = to_linear(photos[0])
    y = lin @ np.float32([0.2126, 0.7152, 0.0722])

    darker = expose(lin, -1.5, rng)
    shift = np.log2(np.median(darker @ np.float32([0.2126, 0.7152, 0.0722])) / np.median(y))
    assert shift == pytest.approx(-1.5, abs=0.05)

    peak = lin.max(axis=2)
    newly = clip_highlights(lin, 0.1, rng).max(axis=2)[peak < 0.99] >= 0.999
    assert newly.mean() == pytest.approx(0.1, abs=0.01)  # 8-bit input: ties at the threshold clip together

    drop = np.log2(np.quantile(peak, 0.995) / np.quantile(compress_highlights(lin, 0.9, rng).max(axis=2), 0.995))
    assert drop == pytest.approx(0.9, abs=0.05)
    low = lin < np.quantile(peak, 0.995) / 8  # the knee is at most 2.5 stops down, softened by 0.25 stop
    assert np.abs(compress_highlights(lin, 0.9, rng)[low] - lin[low]).max() < 1e-4


def test_apply_issues_is_a_pure_function_of_image_levels_and_rng(photos):
    photo = photos[1]
    before = np.asarray(photo).copy()
    a = apply_issues(photo, {"dark": 2, "high_contrast": 1}, np.random.default_rng(7))
    b = apply_issues(photo, {"dark": 2, "high_contrast": 1}, np.random.default_rng(7))
    assert np.array_equal(np.asarray(a), np.asarray(b))
    assert np.array_equal(np.asarray(photo), before)
    assert a.size == photo.size and a.mode == "RGB"
    _, params = synthesize(photo, {"over_suppressed": 3}, np.random.default_rng(7))
    assert 1.15 <= params["highlight_drop_ev"] <= 1.7


@pytest.mark.parametrize(
    ("levels", "message"),
    [
        ({"bright": 1, "dark": 2}, "exclude each other"),
        ({"low_contrast": 3, "high_contrast": 3}, "exclude each other"),
        ({"overexposed": 1, "over_suppressed": 1}, "exclude each other"),
        ({"brigth": 1}, "unknown issue label"),
        ({"dark": 4}, "not an integer level"),
        ({"dark": 1.5}, "not an integer level"),
    ],
)
def test_apply_issues_rejects_illegal_levels(photos, levels, message):
    with pytest.raises(ValueError, match=message):
        apply_issues(photos[0], levels, np.random.default_rng(0))


def test_stages_are_the_exclusive_pairs_of_the_spec():
    graph = load_graph()
    pairs = {frozenset(node.split(">=")[0] for node in edge) for edge in graph.exclusions}
    assert pairs == {frozenset(pair) for pair in STAGES}
    assert set(ISSUES) == set(LABELS)


def test_sample_levels_is_legal_and_covers_every_label_and_level():
    rng = np.random.default_rng(0)
    draws = pd.DataFrame([sample_levels(rng) for _ in range(5000)])
    validate_labels(draws.astype(str).assign(filename=[f"{i}.jpg" for i in range(len(draws))]))  # raises if illegal
    for a, b in STAGES:
        assert not ((draws[a] > 0) & (draws[b] > 0)).any()
    for label in LABELS:
        assert set(draws[label]) == {0, 1, 2, 3}
    assert (draws == 0).all(axis=1).mean() == pytest.approx(0.35, abs=0.03)


# ------------------------------------------------------------------ dataset generation
@pytest.fixture(scope="module")
def bases(tmp_path_factory, photos) -> list[Path]:
    """Three small scenes, plus a resized copy of the first (a near-duplicate that must share its split)."""
    folder = tmp_path_factory.mktemp("bases")
    ramp = np.linspace(0, 255, 160)[None, :, None] * np.linspace(0.4, 1.0, 120)[:, None, None] * [1.0, 0.9, 0.7]
    images = {
        "china": photos[0].reduce(2),
        "flower": photos[1].reduce(2),
        "gradient": Image.fromarray(ramp.astype(np.uint8)),
        "china_copy": photos[0].reduce(2).resize((150, 100)),
    }
    for name, image in images.items():
        image.save(folder / f"{name}.png")
    return sorted(folder.glob("*.png"))


@pytest.mark.slow
def test_generate_dataset_writes_valid_scene_disjoint_deterministic_output(tmp_path, bases):
    frame = generate_dataset(bases, tmp_path / "a", per_image=3, seed=5, holdout_fraction=0.34)
    train = read_labels_csv(tmp_path / "a" / "labels_train.csv")
    val = read_labels_csv(tmp_path / "a" / "labels_val.csv")
    assert list(train.columns) == ["filename", *LABELS] and len(train) + len(val) == 4 * 3 == len(frame)
    assert len(val) > 0 and len(train) > 0
    scene_of = dict(zip(frame["filename"], frame["scene"], strict=True))
    assert not {scene_of[f] for f in train["filename"]} & {scene_of[f] for f in val["filename"]}
    assert scene_of["china__v00.jpg"] == scene_of["china_copy__v00.jpg"]
    originals = frame[frame["variant"] == 0]
    assert (originals[list(LABELS)] == 0).all(axis=None)
    for name in frame["filename"]:
        with Image.open(tmp_path / "a" / name) as image:
            assert image.format == "JPEG" and min(image.size) >= 384

    again = generate_dataset(
        list(reversed(bases)), tmp_path / "b", per_image=3, seed=5, holdout_fraction=0.34, workers=2
    )
    pd.testing.assert_frame_equal(frame, again)
    for name in ("labels_train.csv", "labels_val.csv", "manifest.csv", *frame["filename"]):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name

    other = generate_dataset(bases, tmp_path / "c", per_image=3, seed=6, holdout_fraction=0.34)
    assert not other[list(LABELS)].equals(frame[list(LABELS)])


def test_select_well_exposed_needs_high_mos_and_sane_exposure(tmp_path, photos):
    (tmp_path / "images").mkdir()
    photo = photos[0].crop((0, 80, 320, 214))  # below the temple's clipped white sky
    darkened = apply_issues(photo, {"dark": 3}, np.random.default_rng(0))
    for name, image in {"good.png": photo, "dark.png": darkened, "unloved.png": photo}.items():
        image.save(tmp_path / "images" / name)
    (tmp_path / "mos.csv").write_text("image,mos,mos_std\ngood.png,80,10\ndark.png,80,10\nunloved.png,30,10\n")
    assert select_well_exposed(tmp_path) == [tmp_path / "images" / "good.png"]

"""The graded synthetic-issue generator, checked with statistics computed here, independently of phoneiqa.synth."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.datasets import load_sample_image

from phoneiqa.exposure import BOUNDARIES, SPREADS, Measurement, level_of, viewer_levels
from phoneiqa.judged import collect_bases
from phoneiqa.labels import LABELS, load_graph, read_labels_csv
from phoneiqa.synth import (
    OPERATORS,
    STAGES,
    clip_highlights,
    compress_highlights,
    crush_blacks,
    gain,
    gamma_ev,
    generate_dataset,
    is_well_exposed,
    ladder,
    measured_levels,
    photometric_stats,
    relabel,
    sample_recipe,
    scene_splits,
    synthesize,
    to_image,
    to_linear,
    veil,
)


@pytest.fixture(scope="module")
def photos() -> list[Image.Image]:
    """Two real photos that scikit-learn ships (a temple under a bright sky, a flower), at half size."""
    return [Image.fromarray(load_sample_image(name)).reduce(2) for name in ("china.jpg", "flower.jpg")]


def test_operation_parameters_mean_what_their_docstrings_say(photos):
    rng = np.random.default_rng(0)
    lin = to_linear(photos[0])
    y = lin @ np.float32([0.2126, 0.7152, 0.0722])

    # exact for the gain; about right for the per-channel gamma (anchored at the median, here within 0.02..0.5)
    for operation, tolerance in ((gain, 1e-4), (gamma_ev, 0.1)):
        darker = operation(lin, -1.5, rng) @ np.float32([0.2126, 0.7152, 0.0722])
        assert np.log2(np.median(darker) / np.median(y)) == pytest.approx(-1.5, abs=tolerance)
    assert gamma_ev(lin, -1.5, rng).max() == pytest.approx(lin.max(), abs=1e-3)  # gamma holds the whites

    peak = lin.max(axis=2)
    newly = clip_highlights(lin, 0.1, rng).max(axis=2)[peak < 0.99] >= 0.999
    assert newly.mean() == pytest.approx(0.1, abs=0.01)  # 8-bit input: ties at the threshold clip together

    drop = np.log2(np.quantile(peak, 0.995) / np.quantile(compress_highlights(lin, 0.9, rng).max(axis=2), 0.995))
    assert drop == pytest.approx(0.9, abs=0.05)
    low = lin < np.quantile(peak, 0.995) / 8  # the knee is at most 2.5 stops down, softened by 0.25 stop
    assert np.abs(compress_highlights(lin, 0.9, rng)[low] - lin[low]).max() < 1e-4

    lifted = veil(lin, 0.1, rng)
    assert lifted.min() >= 0.09 / 1.11 and lifted.max() <= 1.0
    assert crush_blacks(lin, 0.05, rng)[lin < 0.05].max() == 0.0


@pytest.mark.parametrize("label", LABELS)
def test_every_label_has_operators_whose_strongest_setting_viewers_would_call_severe(photos, label):
    """The definitions' measurement of each operator's strongest setting: every operator is noticed on some photo,
    and some operator is severe or worse on some photo.  Viewers put ``over_suppressed`` severe at 3.35 stops of
    pressed highlights, more than an 8-bit photo's whites can lose without its mid-tones moving (local tone mapping
    this strong darkens these two photos' mid-tones too, and reads as ``dark``): normal there, for one operator."""
    levels = np.zeros((len(photos), len(OPERATORS[label])), dtype=int)
    for i, photo in enumerate(photos):
        assert measured_levels(photo, photo)[0][label] == 0
        for j, operator in enumerate(OPERATORS[label]):
            strongest = operator.operation(to_linear(photo), operator.strength[1], np.random.default_rng(0))
            levels[i, j] = measured_levels(to_image(strongest), photo)[0][label]
    if label == "over_suppressed":
        assert levels.max() >= 1, levels
    else:
        assert (levels.max(axis=0) >= 1).all() and levels.max() >= 2, levels


def test_ladder_strength_grows_and_step_zero_is_the_photo(photos):
    for label in LABELS:
        steps = ladder(photos[1], label, np.random.default_rng(3), steps=4)
        assert len(steps) == 4 and np.array_equal(np.asarray(steps[0]), np.asarray(photos[1]))
        levels = [measured_levels(image, photos[1])[0][label] for image in steps]
        assert levels[-1] >= levels[1] >= levels[0], (label, levels)


def test_synthesize_is_a_pure_function_of_image_and_rng(photos):
    photo = photos[1]
    before = np.asarray(photo).copy()
    a, drawn_a = synthesize(photo, np.random.default_rng(7))
    b, drawn_b = synthesize(photo, np.random.default_rng(7))
    assert np.array_equal(np.asarray(a), np.asarray(b)) and drawn_a == drawn_b
    assert np.array_equal(np.asarray(photo), before)
    assert a.size == photo.size and a.mode == "RGB"


def test_recipes_target_distinct_pairs_and_cover_every_label():
    rng = np.random.default_rng(0)
    recipes = [sample_recipe(rng) for _ in range(3000)]
    for recipe in recipes:
        stages = [next(i for i, pair in enumerate(STAGES) if label in pair) for label, _, _ in recipe]
        assert stages == sorted(set(stages))  # distinct pairs, in pipeline order
    targeted = Counter(label for recipe in recipes for label, _, _ in recipe)
    assert set(targeted) == set(LABELS)
    assert sum(not recipe for recipe in recipes) / len(recipes) == pytest.approx(0.2, abs=0.03)


def test_stages_are_the_exclusive_pairs_of_the_spec():
    graph = load_graph()
    pairs = {frozenset(node.split(">=")[0] for node in edge) for edge in graph.exclusions}
    assert pairs == {frozenset(pair) for pair in STAGES}
    assert set(OPERATORS) == set(LABELS)


# ------------------------------------------------------------------ dataset generation
@pytest.fixture(scope="module")
def bases(tmp_path_factory, photos) -> list[Path]:
    """Four small scenes, one with a blown-out quarter, plus a resized copy of the first (a near-duplicate)."""
    folder = tmp_path_factory.mktemp("bases")
    ramp = np.linspace(0, 255, 160)[None, :, None] * np.linspace(0.4, 1.0, 120)[:, None, None] * [1.0, 0.9, 0.7]
    wall = np.asarray(photos[1].reduce(2)).copy()
    wall[: wall.shape[0] // 2, : wall.shape[1] // 2] = 255
    images = {
        "china": photos[0].reduce(2),
        "flower": photos[1].reduce(2),
        "gradient": Image.fromarray(ramp.astype(np.uint8)),
        "wall": Image.fromarray(wall),
        "china_copy": photos[0].reduce(2).resize((150, 100)),
    }
    for name, image in images.items():
        image.save(folder / f"{name}.png")
    return sorted(folder.glob("*.png"))


@pytest.mark.slow
def test_generate_dataset_writes_measured_scene_disjoint_deterministic_output(tmp_path, bases):
    frame = generate_dataset(bases, tmp_path / "a", per_image=3, seed=5, fractions=(0.5, 0.25, 0.25))
    parts = {split: read_labels_csv(tmp_path / "a" / f"labels_{split}.csv") for split in ("train", "val", "test")}
    assert all(list(part.columns) == ["filename", *LABELS] and len(part) for part in parts.values())
    assert sum(map(len, parts.values())) == 5 * 3 == len(frame)
    scene_of = dict(zip(frame["filename"], frame["scene"], strict=True))
    scenes = {split: {scene_of[f] for f in part["filename"]} for split, part in parts.items()}
    assert not scenes["train"] & scenes["val"] and not scenes["train"] & scenes["test"]
    assert not scenes["val"] & scenes["test"]
    assert scene_of["china__v00.jpg"] == scene_of["china_copy__v00.jpg"]
    # labels are one viewer's levels at the measurements, whatever made the image: the median viewer's level
    # wherever the measurement is far (8 spreads; a logistic draw beyond that has p = 0.0007) from every boundary
    names = list(Measurement.__dataclass_fields__)
    for _, row in frame.iterrows():
        noise = {n: row[f"viewer_{n}"] for n in names}
        assert viewer_levels(Measurement(*row[names]), noise) == {label: row[label] for label in LABELS}
    for label, (name, edges) in BOUNDARIES.items():
        x = frame[name].to_numpy(float)
        x, scaled = (np.log2(x), np.log2(edges)) if name == "contrast_ratio" else (x, np.array(edges))
        far = np.abs(x[:, None] - scaled[None]).min(1) > 8 * SPREADS[label]
        assert frame.loc[far, label].tolist() == [level_of(label, v) for v in frame.loc[far, name]], label
    assert relabel(tmp_path / "a")[list(LABELS)].equals(frame[list(LABELS)])
    wall = frame[frame["base"] == "wall.png"].set_index("variant")
    assert wall.loc[0, "blown_share"] >= BOUNDARIES["overexposed"][1][0]  # the clean photo has a blown quarter
    clean = frame[frame["variant"] == 0]
    assert clean["exposure_ev"].abs().max() < 0.1 and (clean["contrast_ratio"] - 1).abs().max() < 0.1
    for name in frame["filename"]:
        with Image.open(tmp_path / "a" / name) as image:
            assert image.format == "JPEG" and min(image.size) >= 120

    again = generate_dataset(
        list(reversed(bases)), tmp_path / "b", per_image=3, seed=5, fractions=(0.5, 0.25, 0.25), workers=2
    )
    pd.testing.assert_frame_equal(frame, again)
    for name in ("labels_train.csv", "labels_val.csv", "manifest.csv", *frame["filename"]):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_scene_splits_keep_near_duplicates_together_and_check_fractions(bases):
    splits = scene_splits(bases, (0.6, 0.2, 0.2), seed=0)
    by_stem = {path.stem: split for path, split in splits.items()}
    assert by_stem["china"] == by_stem["china_copy"]
    assert set(splits.values()) == {"train", "val", "test"}
    with pytest.raises(ValueError, match="summing to 1"):
        scene_splits(bases, (0.6, 0.6), seed=0)


def test_bases_are_the_photos_a_viewer_judged_fine_and_was_sure_of(tmp_path, photos):
    data = tmp_path / "data"
    for folder in ("photos", "bsds500", "clive", "mefb", "judged"):
        (data / folder).mkdir(parents=True)
    photo = photos[0].crop((0, 80, 320, 214))  # below the temple's clipped white sky
    darkened = to_image(gain(to_linear(photo), -3.0, np.random.default_rng(0)))
    files = {
        "photos/a.png": photo,
        "bsds500/a_copy.png": photo,  # the same pixels as photos/a.png: one base
        "bsds500/b.png": photos[1],
        "clive/dark.png": darkened,
        "clive/unsure.png": photos[1].rotate(90, expand=True),
        "mefb/x_under.png": photo,
    }
    for name, image in files.items():
        image.save(data / name)
    rows = [
        "path,exposure,contrast,blown,grey,sure,scene,judge",
        "photos/a.png,0,0,0,0,1,day,j1",
        "bsds500/a_copy.png,0,0,0,0,1,day,j2",
        "bsds500/b.png,0,0,0,0,1,day,j3",
        "clive/dark.png,-2,0,0,0,1,indoor,j4",
        "clive/unsure.png,0,0,0,0,0,day,j1",
        "mefb/x_under.png,0,0,0,0,1,day,j2",
    ]
    (data / "judged" / "labels.csv").write_text("\n".join(rows) + "\n")
    bases, counts = collect_bases(data)
    assert bases == [data / "bsds500" / "b.png", data / "photos" / "a.png"]
    assert counts["duplicates"] == 1 and counts["not_fine_or_unsure"] == 2
    assert is_well_exposed(photometric_stats(photo)) and not is_well_exposed(photometric_stats(darkened))

"""Bursts and near-repeats: grouped by capture time and picture, ranked, the best shot marked."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter
from sklearn.datasets import load_sample_image

import phoneiqa
from phoneiqa.audit import audit, summarize
from phoneiqa.cli import main
from phoneiqa.groups import (
    DATE_TIME_ORIGINAL,
    EXIF_IFD,
    SUBSEC_TIME_ORIGINAL,
    Group,
    capture_time,
    detail_similarity,
    find_groups,
    layout_similarity,
    same_scene,
    signature,
    similarity_matrices,
)

PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "photos"
START = dt.datetime(2026, 7, 1, 12, 0, 0)


def srgb_gain(codes: np.ndarray, stops: float) -> np.ndarray:
    """Exposure changed by ``stops`` in linear light, clipped at white (written out independently)."""
    c = codes / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4) * 2.0**stops
    linear = np.clip(linear, 0, 1)
    return np.round(255 * np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)).astype(
        np.uint8
    )


def burst(scene: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Four shots of one scene, each framed a few pixels apart: clean, one stop over, blurred, noisy."""
    h, w = scene.shape[0] - 12, scene.shape[1] - 12
    frame = lambda dy, dx: scene[dy : dy + h, dx : dx + w]  # noqa: E731
    return {
        "a_clean": frame(6, 6),
        "b_over": srgb_gain(frame(2, 10), 1.0),
        "c_blur": np.asarray(Image.fromarray(frame(10, 2)).filter(ImageFilter.GaussianBlur(2.5))),
        "d_noise": np.clip(frame(4, 8) + rng.normal(0, 18, (h, w, 3)), 0, 255).astype(np.uint8),
    }


def landscape(seed: int) -> np.ndarray:
    """A made-up 320×240 landscape: a smooth sky above a ragged horizon near the middle, textured ground below
    (its own horizon and texture for each seed, the same layout of tones for all)."""
    rng = np.random.default_rng(seed)
    h, w = 240, 320
    y = np.arange(h)[:, None] / h
    horizon = 0.45 + rng.uniform(-0.05, 0.05) + np.cumsum(rng.normal(0, 0.006, w))
    noise = Image.fromarray(rng.uniform(0, 255, (h // 6, w // 6)).astype(np.uint8))
    texture = np.asarray(noise.resize((w, h), Image.Resampling.BILINEAR), dtype=float) - 128
    grey = np.where(y < horizon, 215 - 70 * y, 60 + 30 * y + 0.35 * texture)
    return np.clip(grey[..., None] * [0.9, 1.0, 1.1], 0, 255).astype(np.uint8)


def exposure_series(scene: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """Five shots of one scene from 2 stops under to 2 over, each framed up to 16 pixels apart, the last noisy."""
    h, w = scene.shape[0] - 16, scene.shape[1] - 16
    frames = [(0, 0), (8, 4), (4, 8), (12, 12), (16, 6)]
    shots = [
        srgb_gain(scene[dy : dy + h, dx : dx + w], ev) for ev, (dy, dx) in zip((-2, -1, 0, 1, 2), frames, strict=True)
    ]
    shots[-1] = np.clip(shots[-1] + rng.normal(0, 12, shots[-1].shape), 0, 255).astype(np.uint8)
    return shots


def signatures_of(images: list[np.ndarray]) -> np.ndarray:
    return np.stack([signature(Image.fromarray(pixels)) for pixels in images])


def save(path: Path, pixels: np.ndarray, taken: dt.datetime | None) -> None:
    exif = Image.Exif()
    if taken is not None:
        exif.get_ifd(EXIF_IFD)[DATE_TIME_ORIGINAL] = taken.strftime("%Y:%m:%d %H:%M:%S")
        exif.get_ifd(EXIF_IFD)[SUBSEC_TIME_ORIGINAL] = f"{taken.microsecond // 10000:02d}"
    Image.fromarray(pixels).save(path, quality=92, exif=exif)


def pair_scores(truth: dict[str, int], found: dict[str, int | None]) -> tuple[float, float]:
    """Precision and recall of "these two photos are one group", over all pairs of photos."""
    same_truth = {frozenset(p) for p in itertools.combinations(truth, 2) if truth[p[0]] == truth[p[1]]}
    same_found = {
        frozenset(p) for p in itertools.combinations(found, 2) if found[p[0]] is not None and found[p[0]] == found[p[1]]
    }
    hits = len(same_truth & same_found)
    return hits / max(1, len(same_found)), hits / max(1, len(same_truth))


def test_signatures_ignore_changes_of_tone_and_tell_scenes_apart():
    china, flower = (Image.fromarray(load_sample_image(n)) for n in ("china.jpg", "flower.jpg"))
    base = signature(china)
    assert base.dtype == np.uint8 and base.shape == (1024,)
    darker = Image.fromarray(srgb_gain(np.asarray(china), -1.5))
    gamma = china.point(lambda v: round(255 * (v / 255) ** 0.6))
    for changed in (darker, gamma, china.filter(ImageFilter.GaussianBlur(3))):
        assert layout_similarity(base, signature(changed)) > 0.98 and same_scene(base, signature(changed))
    assert layout_similarity(base, base) == pytest.approx(1.0) and detail_similarity(base, base) == pytest.approx(1.0)
    assert layout_similarity(base, signature(flower)) < 0.5 and not same_scene(base, signature(flower))


def test_unrelated_photos_of_one_layout_are_never_grouped_without_capture_times():
    """Sky above, ground below: the layouts agree as well as a burst's (the old rule, 16×16 ranks >= 0.75,
    linked such photos), the fine structure does not."""
    signatures = signatures_of([landscape(seed) for seed in range(8)])
    pairs = list(itertools.combinations(signatures, 2))
    assert max(layout_similarity(a, b) for a, b in pairs) >= 0.85
    assert not any(same_scene(a, b) for a, b in pairs) and max(detail_similarity(a, b) for a, b in pairs) < 0.3
    assert find_groups([f"IMG_{i}.jpg" for i in range(8)], [None] * 8, signatures) == []
    layout, detail = similarity_matrices(signatures)  # the whole-collection path agrees with the pairwise one
    for i, j in itertools.combinations(range(8), 2):
        assert layout[i, j] == pytest.approx(layout_similarity(signatures[i], signatures[j]), abs=1e-9)
        assert detail[i, j] == pytest.approx(detail_similarity(signatures[i], signatures[j]), abs=1e-5)


@pytest.mark.parametrize("name", ["china.jpg", "flower.jpg"])
def test_an_exposure_series_reframed_and_noisy_is_one_sure_group(name):
    """-2 to +2 stops, framed up to 5 % apart, one shot noisy: every two shots show the same scene."""
    shots = signatures_of(exposure_series(load_sample_image(name), np.random.default_rng(2)))
    other = signature(Image.fromarray(load_sample_image("flower.jpg" if name == "china.jpg" else "china.jpg")))
    paths = [f"IMG_{i}.jpg" for i in range(6)]
    assert find_groups(paths, [None] * 6, np.vstack([shots, other])) == [Group([0, 1, 2, 3, 4], sure=True)]


def test_a_chain_of_links_makes_a_group_of_similar_photos_not_a_sure_one():
    """A ~ B ~ C but A ≁ C (B is A's scene on its left and C's on its right): one group, not sure; with capture
    times a second apart (linked by their layouts as well), still not sure."""
    a, c = landscape(1), landscape(2)
    b = np.concatenate([a[:, :160], c[:, 160:]], axis=1)
    signatures = signatures_of([a, b, c])
    assert same_scene(signatures[0], signatures[1]) and same_scene(signatures[1], signatures[2])
    assert not same_scene(signatures[0], signatures[2])
    paths = ["IMG_1.jpg", "IMG_2.jpg", "IMG_3.jpg"]
    assert find_groups(paths, [None] * 3, signatures) == [Group([0, 1, 2], sure=False)]
    assert find_groups(paths, [0.0, 1.0, 2.0], signatures) == [Group([0, 1, 2], sure=False)]
    assert find_groups(paths, [0.0, 100.0, 200.0], signatures) == []  # too far apart in time


def test_capture_time_comes_from_exif(tmp_path):
    pixels = np.full((32, 48, 3), 128, dtype=np.uint8)
    save(tmp_path / "a.jpg", pixels, START + dt.timedelta(microseconds=250000))
    save(tmp_path / "b.jpg", pixels, None)
    expected = START.replace(tzinfo=dt.timezone.utc).timestamp() + 0.25
    assert capture_time(str(tmp_path / "a.jpg")) == pytest.approx(expected)
    assert capture_time(str(tmp_path / "b.jpg")) is None and capture_time(str(tmp_path / "missing.jpg")) is None


@pytest.mark.slow
@pytest.mark.parametrize("timed", [True, False], ids=["exif-times", "no-times"])
def test_bursts_are_grouped_and_their_clean_shot_ranked_first(tmp_path, timed):
    """Twenty scenes shot four times (clean, over-exposed, blurred, noisy, each framed a little apart) and ten
    unrelated photos: groups found with pairwise precision and recall >= 0.95; the clean shot ranked first in
    >= 95 % of the groups."""
    if not PHOTOS.is_dir():
        pytest.skip(f"{PHOTOS} is missing")
    rng = np.random.default_rng(0)
    photos = sorted(PHOTOS.glob("*.webp"))
    folder = tmp_path / "lib"
    folder.mkdir()
    truth, clock = {}, START
    for k, source in enumerate(photos[:30]):
        with Image.open(source) as image:
            scene = np.asarray(image.convert("RGB").resize((330, 250)))
        shots = burst(scene, rng) if k < 20 else {"a_single": scene[6:-6, 6:-6]}
        for name, pixels in shots.items():
            path = folder / f"{k:03d}_{name}.jpg"
            save(path, pixels, clock if timed else None)
            truth[str(path)] = k
            clock += dt.timedelta(seconds=0.4)
        clock += dt.timedelta(minutes=3)
    table = audit(folder, workers=0, cache=tmp_path / "cache.sqlite3", groups=True)
    rows = table.rows()
    precision, recall = pair_scores(truth, {r["path"]: r["group"] for r in rows})
    assert precision >= 0.95 and recall >= 0.95, (precision, recall)
    best = [r for r in rows if r["rank_in_group"] == 1]
    place = {Path(r["path"]).name: r["rank_in_group"] for r in rows}
    clean_first = [place[f"{k:03d}_a_clean.jpg"] == 1 for k in range(20)]
    # above the blurred and noisy shots by the score and the issues, above the one stop over by its key too
    assert sum(clean_first) / len(clean_first) >= 0.95
    removable = sum(r["group"] is not None for r in rows) - len(best)
    assert table.attrs["groups"] == len(best) and table.attrs["removable"] == removable
    assert "photos could be removed" in summarize(table)
    again = audit(folder, workers=0, cache=tmp_path / "cache.sqlite3", groups=True)
    assert again.attrs["from_cache"] == len(rows) and again["group"] == table["group"]
    assert again["rank_in_group"] == table["rank_in_group"]


def test_only_sure_groups_are_collapsed_and_counted_as_removable(tmp_path, capsys):
    """A burst (sure) and two unrelated landscapes taken a second apart (linked by capture time and layout: only
    similar photos): the summary and the report count the burst's three other shots as removable, the report
    collapses the burst and shows both landscapes."""
    import json
    import re

    china = load_sample_image("china.jpg")
    rng = np.random.default_rng(1)
    folder = tmp_path / "lib"
    folder.mkdir()
    for i, (name, pixels) in enumerate(burst(china, rng).items()):
        save(folder / f"{name}.jpg", pixels, START + dt.timedelta(seconds=i))
    for i, seed in enumerate((0, 2)):
        save(folder / f"y_land_{seed}.jpg", landscape(seed), START + dt.timedelta(hours=1, seconds=i))
    save(folder / "z_other.jpg", load_sample_image("flower.jpg"), START + dt.timedelta(hours=2))
    page, out = tmp_path / "report.html", tmp_path / "report.csv"
    assert main(["audit", str(folder), "--groups", "--html", str(page), "--out", str(out), "--no-cache"]) == 0
    assert "1 groups of one scene, 1 of similar photos; 3 photos could be removed" in capsys.readouterr().out
    text = page.read_text(encoding="utf-8")
    assert '<span id="n-removable">3</span> could be removed' in text and 'id="collapse" checked' in text
    data = json.loads(re.search(r'<script type="application/json" id="data">(.*?)</script>', text, re.DOTALL)[1])
    marks = {Path(r["path"]).stem: r.get("group") for r in data["rows"]}
    assert sorted(m[1:] for k, m in marks.items() if k.startswith("y_land")) == [[1, 2, False], [2, 2, False]]
    assert all(marks[k][2:] == [4, True] for k in ("a_clean", "b_over", "c_blur", "d_noise"))
    assert marks["z_other"] is None
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0].split(",")[-3:] == ["group", "group_sure", "rank_in_group"]
    assert sorted(line.split(",")[-2] for line in lines[1:]) == [""] + ["False"] * 2 + ["True"] * 4


def test_a_signature_of_the_earlier_format_counts_as_missing(tmp_path):
    """A cached row whose signature is the earlier 256 ranks is not read as a thumbnail: the photos are grouped
    as from fresh signatures."""
    import sqlite3

    rng = np.random.default_rng(3)
    (tmp_path / "lib").mkdir()
    for i, pixels in enumerate([*exposure_series(load_sample_image("china.jpg"), rng)[:3], landscape(0)]):
        save(tmp_path / "lib" / f"IMG_{i}.jpg", pixels, None)
    cache = tmp_path / "cache.sqlite3"
    first = audit(tmp_path / "lib", workers=0, cache=cache, groups=True)
    assert first["group"] == [1, 1, 1, None] and first["group_sure"] == [True, True, True, None]
    with sqlite3.connect(cache) as db:
        db.execute("UPDATE results SET signature = substr(signature, 1, 256)")
    again = audit(tmp_path / "lib", workers=0, cache=cache, groups=True)
    assert again["group"] == first["group"] and again["group_sure"] == first["group_sure"]
    with sqlite3.connect(cache) as db:
        assert [len(row[0]) for row in db.execute("SELECT signature FROM results")] == [1024] * 4


def test_bursts_are_found_whole_across_the_blocks_signatures_are_prepared_in(monkeypatch):
    """Signatures are prepared a block of photos at a time (bounded memory at any library size): bursts that
    straddle a block's edge are found whole, and nothing else is.  Planted: bursts of 2 to 4 shots of one random
    32×32 scene (lightly disturbed, each with its own tone curve) among unrelated scenes, with no capture times."""
    from phoneiqa import groups

    monkeypatch.setattr(groups, "BLOCK", 5)
    rng = np.random.default_rng(4)
    signatures, planted = [], []
    while len(signatures) < 60:
        scene = rng.uniform(0, 1, 1024)
        shots = int(rng.choice([1, 1, 2, 3, 4]))
        if shots > 1:
            planted.append(Group(list(range(len(signatures), len(signatures) + shots)), sure=True))
        for _ in range(shots):
            shot = np.clip(scene + rng.normal(0, 0.03, 1024), 0, 1) ** rng.uniform(0.5, 2)
            signatures.append(np.round(255 * shot).astype(np.uint8))
    paths = [f"lib/IMG_{i:04d}.jpg" for i in range(len(signatures))]
    assert any(g.members[0] // 5 != g.members[-1] // 5 for g in planted)  # some bursts straddle a block's edge
    assert groups.find_groups(paths, [None] * len(paths), np.stack(signatures)) == planted


def test_a_cache_of_the_last_round_without_keys_is_used_and_its_bursts_ranked_without_them(tmp_path):
    """Rows stored before the shots' keys were: read from the cache (not assessed again), grouped as before,
    and each group ranked by score and issues alone; new rows store their key."""
    import sqlite3

    from phoneiqa.rank import rank_order

    china = np.asarray(Image.fromarray(load_sample_image("china.jpg")).resize((330, 250)))
    shots = burst(china, np.random.default_rng(0))
    (tmp_path / "lib").mkdir()
    for name, pixels in shots.items():
        save(tmp_path / "lib" / f"{name}.jpg", pixels, None)
    cache = tmp_path / "cache.sqlite3"
    first = audit(tmp_path / "lib", workers=0, cache=cache, groups=True)
    with sqlite3.connect(cache) as db:
        keys = [row[0] for row in db.execute("SELECT exposure FROM results")]
        assert len(keys) == 4 and all(isinstance(k, float) for k in keys)
        db.execute("UPDATE results SET exposure = NULL")
    again = audit(tmp_path / "lib", workers=0, cache=cache, groups=True)
    assert again.attrs["from_cache"] == 4 and again["group"] == first["group"] == [1, 1, 1, 1]
    assessments = phoneiqa.assess(again["path"])

    def places(order: list[int]) -> list[int]:
        out = [0] * len(order)
        for place, i in enumerate(order, 1):
            out[i] = place
        return out

    assert again["rank_in_group"] == places(rank_order(assessments))
    with_keys = [shot.index for shot in phoneiqa.rank(again["path"])]  # rank's keys: from the same decode
    assert first["rank_in_group"] == places(with_keys) and with_keys[0] == 0  # the clean shot

"""Best-shot selection: ``phoneiqa.rank`` and ``phoneiqa rank``."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_sample_image

import phoneiqa
from phoneiqa.assessment import Assessment
from phoneiqa.cli import main
from phoneiqa.loading import pretrained_path
from phoneiqa.rank import EXPOSURE_COST, ISSUE_COST, issue_burden, keep_value, rank_order
from phoneiqa.synth import gain, to_image, to_linear

LADDER_EV = (-2.0, -1.0, 0.0, 1.0, 2.0)


def shot(score: float | None, **levels: int) -> Assessment:
    issues = dict.fromkeys(phoneiqa.LABELS, 0) | levels
    probabilities = {k: [1.0 if j == v else 0.0 for j in range(4)] for k, v in issues.items()}
    return Assessment(score=score, issues=issues, probabilities=probabilities)


def test_order_is_by_score_less_ten_points_per_issue_level_then_fewer_and_lighter_issues_then_input_order():
    assert ISSUE_COST == 10.0  # the hand-worked values below
    shots = [
        shot(60.0, dark=1),  # 0: 60 - 10 = 50
        shot(72.5),  # 1: best
        shot(60.04),  # 2: 60.0
        shot(70.0, dark=2),  # 3: 70 - 20 = 50, ties with 0; a higher sum of levels -> after 0
        shot(60.0, bright=1),  # 4: 50 as 0, the same burden -> after 0 in input order
        shot(51.0),  # 5: a clean 51 above a 70 with a severe issue
        shot(55.04, high_contrast=1),  # 6: 45.04 -> 45.0
        shot(45.0),  # 7: ties with 6 at one decimal, no issues -> before it
    ]
    assert [keep_value(s) for s in shots[:3]] == [50.0, 72.5, 60.04]
    assert rank_order(shots) == [1, 2, 5, 0, 4, 3, 7, 6]


def test_the_issue_cost_reads_the_expected_levels():
    probabilities = {k: [0.7, 0.3, 0.0, 0.0] if k == "dark" else [1.0, 0.0, 0.0, 0.0] for k in phoneiqa.LABELS}
    unsure = Assessment(score=60.0, issues=dict.fromkeys(phoneiqa.LABELS, 0), probabilities=probabilities)
    assert keep_value(unsure) == pytest.approx(60.0 - ISSUE_COST * 0.3)
    assert rank_order([unsure, shot(56.0)]) == [0, 1]  # 60 - 3 = 57
    assert rank_order([unsure, shot(58.0)]) == [1, 0]


def test_a_shot_away_from_the_bursts_median_key_costs_ten_points_a_stop():
    assert EXPOSURE_COST == 10.0
    shots = [shot(60.0), shot(62.0), shot(58.0), shot(59.5)]
    keys = [-2.0, -1.0, -2.0, -2.25]  # median -2.0: departures 0, 1, 0, 0.25 -> 60, 52, 58, 57
    assert rank_order(shots, keys) == [0, 2, 3, 1]
    assert rank_order(shots) == [1, 0, 3, 2]  # without keys: the score alone
    with pytest.raises(ValueError, match="3 exposures for 4 shots"):
        rank_order(shots, keys[:3])


def test_without_a_score_the_issues_decide():
    shots = [shot(None, dark=2, high_contrast=1), shot(None), shot(None, overexposed=1)]
    assert rank_order(shots) == [1, 2, 0]
    assert issue_burden(shots[0]) == (3, 2, 3.0)


@pytest.fixture(scope="module")
def ladder(tmp_path_factory) -> list[str]:
    """A real photo at five exposures (linear gain with a hard clip), written as JPEG files."""
    lin = to_linear(Image.fromarray(load_sample_image("china.jpg")))
    folder = tmp_path_factory.mktemp("ladder")
    paths = []
    for ev in LADDER_EV:
        path = folder / f"china_{ev:+.0f}ev.jpg"
        to_image(gain(lin, ev, np.random.default_rng(0))).save(path, quality=92)
        paths.append(str(path))
    return paths


@pytest.mark.skipif(not pretrained_path("default").exists(), reason="default model not built")
def test_rank_of_a_ladder_puts_the_original_exposure_first_and_reads_the_keys_of_the_shots(ladder):
    ranked = phoneiqa.rank(list(reversed(ladder)))
    assert sorted(r.index for r in ranked) == list(range(len(ladder)))
    for r in ranked:
        assert r.name == ladder[len(ladder) - 1 - r.index]
        assert r.assessment.score == pytest.approx(phoneiqa.assess(r.name).score, abs=1e-4)
    # the shots' keys, written out independently: log2 of the mean linear luminance of a 32x32 box thumbnail
    keys = []
    for r in ranked:
        with Image.open(r.name) as image:
            c = np.asarray(image.convert("RGB").resize((32, 32), Image.Resampling.BOX)) / 255.0
        linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
        keys.append(np.mean(np.log2(linear @ [0.2126, 0.7152, 0.0722] + 0.002)))
    middle = np.median(keys)
    values = [keep_value(r.assessment, abs(k - middle)) for r, k in zip(ranked, keys, strict=True)]
    assert [round(v, 1) for v in values] == sorted((round(v, 1) for v in values), reverse=True)
    assert ranked[0].name == ladder[2]  # the original exposure, the burst's middle key


@pytest.mark.skipif(not pretrained_path("default").exists(), reason="default model not built")
def test_rank_takes_a_loaded_model(ladder):
    model = phoneiqa.load("default", backend="torch")
    by_model = [(r.index, r.assessment.score) for r in phoneiqa.rank(ladder, model=model)]
    by_path = [(r.index, r.assessment.score) for r in phoneiqa.rank(ladder, model=str(pretrained_path("default")))]
    assert [i for i, _ in by_model] == [i for i, _ in by_path]
    assert [s for _, s in by_model] == pytest.approx([s for _, s in by_path], abs=1e-3)


def test_rank_wants_a_list(ladder):
    with pytest.raises(TypeError, match="list of shots"):
        phoneiqa.rank(ladder[0])


@pytest.mark.skipif(not pretrained_path("default").exists(), reason="default model not built")
def test_cli_rank_prints_best_first_and_reports_unreadable_files(ladder, tmp_path, capsys):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    assert main(["rank", *ladder, str(broken), "--json"]) == 1
    out = capsys.readouterr()
    rows = [json.loads(line) for line in out.out.splitlines()]
    assert [r["rank"] for r in rows] == [1, 2, 3, 4, 5, None]
    assert rows[-1]["file"] == str(broken) and "broken.jpg" in rows[-1]["error"]
    expected = [r.name for r in phoneiqa.rank(ladder)]
    assert [r["file"] for r in rows[:-1]] == expected
    assert main(["rank", *ladder]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["rank", "file", "score", "issues"]
    assert [line.split()[1] for line in table[1:]] == expected

"""The label spec and the training CSV format."""

from __future__ import annotations

import json

import numpy as np
import pytest

import phoneiqa
from phoneiqa.labels import level_names, load_graph, load_spec_dict, read_labels_csv, specs_dir

SEED_HEADER = "filename,bright,dark,low_contrast,high_contrast,overexposed,over_suppressed"


def write(tmp_path, text: str):
    path = tmp_path / "labels.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_public_constants():
    assert phoneiqa.LABELS == ("bright", "dark", "low_contrast", "high_contrast", "overexposed", "over_suppressed")
    assert set(level_names(load_graph("smartphone6")).values()) == {("none", "normal", "severe", "blocking")}


def test_spec_keeps_seed_label_names():
    spec = load_spec_dict("smartphone6")
    names = {n["key"]: n["label"] for n in spec["Nodes"]}
    assert names["bright"] == "整体偏亮" and names["over_suppressed"] == "高光压制过度"
    # the seed's exclusions are at 1-based levels 2..4 of each opposite pair
    assert all(ex["a_levels"] == [2, 3, 4] == ex["b_levels"] for ex in spec["Exclusions"])


def test_schema_matches_spec():
    schema = json.loads((specs_dir() / "labels_csv.schema.json").read_text(encoding="utf-8"))
    fields = [f["name"] for f in schema["fields"]]
    assert fields == ["filename", *phoneiqa.LABELS, "mos", "rater"]


def test_a_rater_column_is_read_as_names(tmp_path):
    frame = read_labels_csv(write(tmp_path, f"{SEED_HEADER},rater\na.jpg,0,2,0,0,0,0, j1\nb.jpg,0,0,0,0,0,0,\n"))
    assert frame["rater"].tolist() == ["j1", ""]


def test_seed_csv_loads_unchanged(tmp_path):
    path = write(tmp_path, f"{SEED_HEADER}\nimg_001.jpg,0,2,0,1,0,0\nimg_002.jpg,3,0,1,0,0,2\n")
    frame = read_labels_csv(path)
    assert list(frame.columns) == ["filename", *phoneiqa.LABELS]
    assert frame.loc[1, "bright"] == 3 and frame.loc[1, "over_suppressed"] == 2
    assert str(frame["dark"].dtype) == "int64"


def test_score_only_csv_and_column_order(tmp_path):
    frame = read_labels_csv(write(tmp_path, "mos,filename\n55.5,a.jpg\n,b.jpg\n"))
    assert frame["mos"].iloc[0] == 55.5 and frame["mos"].isna().iloc[1]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"{SEED_HEADER},brigth\na.jpg,0,0,0,0,0,0,1\n", r"unknown column\(s\) \['brigth'\]"),
        (
            f"{SEED_HEADER}\na.jpg,0,0,0,0,0,0\nb.jpg,0,4,0,0,0,0\n",
            r"row 2: dark='4' is not an integer level in 0\.\.3",
        ),
        (f"{SEED_HEADER}\na.jpg,0,0,0,0,0,-1\n", r"row 1: over_suppressed='-1'"),
        (f"{SEED_HEADER}\na.jpg,0,0,1.5,0,0,0\n", r"row 1: low_contrast='1\.5'"),
        (f"{SEED_HEADER}\na.jpg,0,0,0,0,0,0\nb.jpg,1,2,0,0,0,0\n", r"row 2: illegal combination bright=1, dark=2"),
        (f"{SEED_HEADER}\na.jpg,0,0,1,3,0,0\n", r"row 1: illegal combination low_contrast=1, high_contrast=3"),
        (
            f"{SEED_HEADER}\na.jpg,0,0,0,0,0,0\nb.jpg,0,0,0,0,0,0\na.jpg,0,0,0,0,0,0\n",
            r"row 3: duplicate .*'a\.jpg'.*row 1",
        ),
        ("filename,bright,dark\na.jpg,0,0\n", "all present or all absent"),
        ("filename\na.jpg\n", "needs label columns"),
        ("bright,dark\n", "filename"),
        ("filename,mos\na.jpg,high\n", r"row 1: mos='high'"),
    ],
)
def test_invalid_csv_names_row_and_reason(tmp_path, text, message):
    with pytest.raises(phoneiqa.DataFormatError, match=message) as info:
        read_labels_csv(write(tmp_path, text))
    assert "labels.csv" in str(info.value)


def test_custom_spec_columns(tmp_path):
    header = SEED_HEADER + ",too_red,too_blue,too_yellow"
    ok = read_labels_csv(write(tmp_path, f"{header}\na.jpg,0,0,0,0,0,0,2,0,0\n"), spec="smartphone6_wb")
    assert ok.loc[0, "too_red"] == 2
    with pytest.raises(phoneiqa.DataFormatError, match="too_red=1, too_blue=1"):
        read_labels_csv(write(tmp_path, f"{header}\na.jpg,0,0,0,0,0,0,1,1,0\n"), spec="smartphone6_wb")


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(phoneiqa.DataFormatError, match=r"nope\.csv"):
        read_labels_csv(tmp_path / "nope.csv")


def test_every_bad_row_is_reported_in_file_order(tmp_path, capsys):
    from phoneiqa.cli import main

    header = "filename,bright,dark,low_contrast,high_contrast,overexposed,over_suppressed,mos"
    rows = [
        "a.jpg,0,0,0,0,0,0,50",  # row 1: fine
        "b.jpg,1,2,0,0,0,0,50",  # row 2: bright and dark at once
        "c.jpg,0,7,0,0,0,0,50",  # row 3: no level 7
        "a.jpg,0,0,0,0,0,0,x",  # row 4: duplicate, and a mos that is no number
        ",0,0,0,0,0,0,50",  # row 5: no filename
    ]
    path = tmp_path / "labels.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    assert main(["validate", str(path)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    reported = [int(line.split(": row ")[1].split(":")[0]) for line in lines]
    assert reported == [2, 3, 4, 4, 5]
    assert "illegal combination bright=1, dark=2" in lines[0] and "dark='7' is not an integer level" in lines[1]
    assert {"duplicate filename 'a.jpg' (first at row 1)", "mos='x' is not a finite number"} == {
        line.split(": ", 2)[-1].split(": ", 1)[-1] for line in lines[2:4]
    }


def test_levels_encode_to_node_states_worked_by_hand(tmp_path):
    """Node k of a label is on when its level exceeds k; the nodes run bright>=1..3, dark>=1..3, ... ."""
    frame = read_labels_csv(
        write(tmp_path, f"{SEED_HEADER}\na.jpg,0,0,0,0,0,0\nb.jpg,0,2,1,0,0,3\nc.jpg,3,0,0,1,2,0\n")
    )
    graph = load_graph()
    assert graph.names[:4] == ("bright>=1", "bright>=2", "bright>=3", "dark>=1")
    #          bright   dark     low_c    high_c   overexp  over_supp
    expected = [
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1],
        [1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 1, 0, 0, 0, 0],
    ]  # fmt: skip
    states = graph.encode_levels_numpy(frame[list(phoneiqa.LABELS)].to_numpy())
    assert states.dtype == bool and states.tolist() == np.array(expected, dtype=bool).tolist()
    assert graph.is_legal(states).all()
    with pytest.raises(ValueError, match=r"levels of 'dark' must lie in 0\.\.3"):
        graph.encode_levels_numpy(np.array([[0, 4, 0, 0, 0, 0]]))
    with pytest.raises(ValueError, match=r"shape \[B, 6\]"):
        graph.encode_levels_numpy(np.zeros((2, 5), dtype=np.int64))

    torch = pytest.importorskip("torch")  # the training targets: the same states, bit for bit
    for dtype in (torch.float32, torch.float64):
        targets = graph.encode_levels(torch.from_numpy(frame[list(phoneiqa.LABELS)].to_numpy()), dtype=dtype)
        assert torch.equal(targets, torch.from_numpy(states).to(dtype))


def test_encoding_matches_the_torch_one_on_every_legal_combination():
    torch = pytest.importorskip("torch")
    for spec in ("smartphone6", "smartphone6_wb"):
        graph = load_graph(spec)
        legal = graph.legal_states()
        levels = np.stack([legal[:, list(lab.nodes)].sum(axis=1) for lab in graph.labels], axis=1)
        states = graph.encode_levels_numpy(levels)
        assert (states == legal).all()
        assert torch.equal(graph.encode_levels(torch.from_numpy(levels)), torch.from_numpy(states).float())

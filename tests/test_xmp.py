"""XMP sidecars (``phoneiqa.xmp``, ``phoneiqa audit --xmp``), read back by an independent reader, exiftool."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import phoneiqa
from phoneiqa.audit.table import AuditTable
from phoneiqa.cli import main
from phoneiqa.xmp import PHONEIQA_NS, keywords, label, rating, sidecar_path, write_sidecars

LEVELS = ["none", "normal", "severe", "blocking"]
EXIFTOOL = shutil.which("exiftool")


@pytest.fixture
def exiftool():
    """Read a file's XMP with exiftool: tag (``Group:Name``, as ``-G1``) -> value (a list for arrays)."""
    if EXIFTOOL is None:
        pytest.skip("exiftool is not installed (Debian: apt-get install libimage-exiftool-perl; .ci/run does)")

    def read(path: Path) -> dict:
        out = subprocess.run([EXIFTOOL, "-j", "-a", "-G1", "-XMP:all", str(path)], capture_output=True, check=True)
        return {k: v for k, v in json.loads(out.stdout)[0].items() if k != "SourceFile"}

    return read


def table(paths, scores, levels, *, groups=None, errors=None) -> AuditTable:
    """An audit table of ``paths`` with ``scores`` and ``levels`` (dicts of issue -> level) and optional bursts."""
    issues = ["bright", "dark", "low_contrast"]
    data = {"path": [str(p) for p in paths], "score": list(scores)}
    data |= {issue: [row.get(issue, 0) for row in levels] for issue in issues}
    data["error"] = errors or [""] * len(data["path"])
    if groups is not None:
        data |= dict(zip(("group", "group_sure", "rank_in_group"), map(list, zip(*groups, strict=True)), strict=True))
    return AuditTable(data, {"model": "0123abcd-0.1.0", "level_names": dict.fromkeys(issues, LEVELS)})


def photo(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((24, 32, 3), 120, np.uint8)).save(path)
    return path


def digest(folder: Path) -> dict[str, tuple[str, int]]:
    """Every file under ``folder``: its bytes' hash and modification time."""
    return {
        str(p): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize(
    ("score", "levels", "stars"),
    [
        (85.0, [0, 0, 0], 5),  # 80 and over: 5 stars
        (80.0, [0], 5),  # a band starts at its score
        (79.99, [0], 4),
        (85.0, [1, 0], 4),  # a normal issue: at most 4
        (72.0, [0, 2], 2),  # severe: at most 2
        (95.0, [3, 1], 1),  # blocking: 1
        (30.0, [2], 2),  # a cap above the score's stars changes nothing
        (15.0, [], 1),
        (0.0, [0], 1),
        (None, [2], None),  # no score (a model without a score head): no rating
    ],
)
def test_the_rating_mapping_by_hand(score, levels, stars):
    assert rating(score, levels) == stars
    assert rating(score, levels, reject=True) == -1


def test_labels_and_keywords():
    assert [label(v) for v in ([0, 0], [1, 0], [0, 2, 1], [3])] == [None, "Blue", "Yellow", "Red"]
    assert keywords({"dark": 2, "bright": 0, "low_contrast": 1}, LEVELS, "best") == [
        "phoneiqa|dark|severe",
        "phoneiqa|low_contrast|normal",
        "phoneiqa|burst|best",
    ]


def test_a_new_sidecar_as_exiftool_reads_it(tmp_path, exiftool):
    shot = photo(tmp_path / "IMG_0001.jpg")
    report = write_sidecars(table([shot], [72.5], [{"dark": 2}]), model="default")
    assert report.written == [tmp_path / "IMG_0001.xmp"] and not report.problems
    tags = exiftool(tmp_path / "IMG_0001.xmp")
    assert tags["XMP-xmp:Rating"] == 2 and tags["XMP-xmp:Label"] == "Yellow"
    assert tags["XMP-lr:HierarchicalSubject"] == "phoneiqa|dark|severe"
    assert tags["XMP-dc:Subject"] == ["phoneiqa", "dark", "severe"]
    assert tags["XMP-phoneiqa:Score"] == 72.5
    assert (tags["XMP-phoneiqa:Dark"], tags["XMP-phoneiqa:Bright"], tags["XMP-phoneiqa:Low_contrast"]) == (2, 0, 0)
    assert tags["XMP-phoneiqa:Model"] == "default" and tags["XMP-phoneiqa:ModelId"] == "0123abcd-0.1.0"
    assert tags["XMP-phoneiqa:Version"] == phoneiqa.__version__
    assert PHONEIQA_NS in (tmp_path / "IMG_0001.xmp").read_text()


def test_an_exiftool_sidecar_keeps_every_field_and_gains_phoneiqas(tmp_path, exiftool):
    shot = photo(tmp_path / "IMG_0002.jpg")
    sidecar = tmp_path / "IMG_0002.xmp"
    tags = ["-XMP-dc:Creator=Ann Example", "-XMP-xmp:Rating=5", "-XMP-dc:Subject=holiday", "-XMP-dc:Subject=dark"]
    tags += ["-XMP-lr:HierarchicalSubject=places|beach", "-XMP-dc:Title=Dusk"]
    subprocess.run([EXIFTOOL, "-q", *tags, str(sidecar)], check=True)
    before = exiftool(sidecar)
    report = write_sidecars(table([shot], [90.0], [{"dark": 1}]))
    assert report.written == [sidecar]
    after = exiftool(sidecar)
    for tag in ("XMP-dc:Creator", "XMP-dc:Title", "XMP-x:XMPToolkit"):
        assert after[tag] == before[tag]
    assert after["XMP-xmp:Rating"] == 5  # the user's rating stays
    assert after["XMP-xmp:Label"] == "Blue"  # there was none
    assert after["XMP-dc:Subject"] == ["holiday", "dark", "phoneiqa", "normal"]  # the user's "dark" is not repeated
    assert after["XMP-lr:HierarchicalSubject"] == ["places|beach", "phoneiqa|dark|normal"]
    assert after["XMP-phoneiqa:Rating"] == 4  # what phoneiqa proposed
    # --xmp-overwrite replaces the user's rating; a later run without it keeps phoneiqa's (now the sidecar's)
    write_sidecars(table([shot], [90.0], [{"dark": 1}]), overwrite=True)
    assert exiftool(sidecar)["XMP-xmp:Rating"] == 4
    # the results change: phoneiqa's keywords and fields are replaced, not added to; its own rating follows
    write_sidecars(table([shot], [65.0], [{"bright": 2}]))
    again = exiftool(sidecar)
    assert again["XMP-dc:Subject"] == ["holiday", "dark", "phoneiqa", "bright", "severe"]
    assert again["XMP-lr:HierarchicalSubject"] == ["places|beach", "phoneiqa|bright|severe"]
    assert again["XMP-xmp:Rating"] == 2 and again["XMP-xmp:Label"] == "Yellow"
    assert (again["XMP-phoneiqa:Dark"], again["XMP-phoneiqa:Bright"]) == (0, 2)
    assert sidecar.read_text().count("<phoneiqa:score>") == 1
    # no issue left: phoneiqa's label and keywords go, the user's stay
    write_sidecars(table([shot], [65.0], [{}]))
    last = exiftool(sidecar)
    assert "XMP-xmp:Label" not in last and last["XMP-dc:Subject"] == ["holiday", "dark"]
    assert last["XMP-lr:HierarchicalSubject"] == "places|beach" and last["XMP-dc:Creator"] == "Ann Example"


def test_a_label_the_user_set_stays_unless_overwritten(tmp_path, exiftool):
    shot = photo(tmp_path / "a.jpg")
    write_sidecars(table([shot], [50.0], [{"dark": 3}]))
    subprocess.run([EXIFTOOL, "-q", "-overwrite_original", "-XMP-xmp:Label=Green", str(tmp_path / "a.xmp")], check=True)
    write_sidecars(table([shot], [50.0], [{"dark": 2}]))
    assert exiftool(tmp_path / "a.xmp")["XMP-xmp:Label"] == "Green"
    write_sidecars(table([shot], [50.0], [{"dark": 2}]), overwrite=True)
    assert exiftool(tmp_path / "a.xmp")["XMP-xmp:Label"] == "Yellow"


def test_a_darktable_style_sidecar_keeps_its_attributes(tmp_path, exiftool):
    shot = photo(tmp_path / "b.jpg")
    sidecar = tmp_path / "b.jpg.xmp"
    sidecar.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 4.4.0-Exiv2">\n'
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        '  <rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/"\n'
        '    xmlns:darktable="http://darktable.sf.net/" xmp:Rating="3" darktable:xmp_version="5"\n'
        '    darktable:history_end="2"/>\n </rdf:RDF>\n</x:xmpmeta>\n'
    )
    report = write_sidecars(table([shot], [10.0], [{"dark": 3}]), naming="darktable")
    assert report.written == [sidecar]
    tags = exiftool(sidecar)
    assert tags["XMP-xmp:Rating"] == 3 and tags["XMP-darktable:Xmp_version"] == 5
    assert tags["XMP-darktable:History_end"] == 2 and tags["XMP-lr:HierarchicalSubject"] == "phoneiqa|dark|blocking"
    assert 'xmlns:darktable="http://darktable.sf.net/"' in sidecar.read_text()  # its prefix kept


def test_a_second_run_changes_no_file_and_photos_are_never_touched(tmp_path, exiftool):
    shots = [photo(tmp_path / "lib" / f"p{i}.jpg") for i in range(4)]
    levels = [{"dark": 2}, {}, {"low_contrast": 1}, {"bright": 3}]
    audit = table(
        shots, [81.0, 55.0, 33.0, None], levels, groups=[(1, True, 1), (1, True, 2), (None,) * 3, (None,) * 3]
    )
    photos_before = {str(p): p.read_bytes() for p in shots}
    first = write_sidecars(audit, reject_bursts=True)
    assert len(first.written) == 4
    state = digest(tmp_path)
    second = write_sidecars(audit, reject_bursts=True)
    assert second.written == [] and len(second.unchanged) == 4
    assert digest(tmp_path) == state  # byte for byte, not even rewritten
    assert {str(p): p.read_bytes() for p in shots} == photos_before
    assert sorted(p.name for p in (tmp_path / "lib").iterdir()) == sorted(
        [f"p{i}.{ext}" for i in range(4) for ext in ("jpg", "xmp")]
    )  # no temporary file left
    assert exiftool(tmp_path / "lib" / "p1.xmp")["XMP-xmp:Rating"] == -1
    assert exiftool(tmp_path / "lib" / "p1.xmp")["XMP-lr:HierarchicalSubject"] == "phoneiqa|burst|removable"
    assert exiftool(tmp_path / "lib" / "p0.xmp")["XMP-lr:HierarchicalSubject"] == [
        "phoneiqa|dark|severe",
        "phoneiqa|burst|best",
    ]
    assert "XMP-xmp:Rating" not in exiftool(tmp_path / "lib" / "p3.xmp")  # no score, no stars
    without = write_sidecars(audit)  # without reject_bursts: phoneiqa's -1 becomes stars again
    assert [p.name for p in without.written] == ["p1.xmp"]
    assert exiftool(tmp_path / "lib" / "p1.xmp")["XMP-xmp:Rating"] == 3


def test_a_corrupt_sidecar_is_reported_and_left_untouched(tmp_path):
    shots = [photo(tmp_path / "good.jpg"), photo(tmp_path / "bad.jpg"), photo(tmp_path / "html.jpg")]
    (tmp_path / "bad.xmp").write_bytes(b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF")
    (tmp_path / "html.xmp").write_bytes(b"<html><body>not XMP</body></html>")
    before = digest(tmp_path)
    report = write_sidecars(table(shots, [50.0] * 3, [{}] * 3))
    assert report.written == [tmp_path / "good.xmp"]
    assert set(report.problems) == {tmp_path / "bad.xmp", tmp_path / "html.xmp"}
    assert "cannot parse it (not well-formed XML" in report.problems[tmp_path / "bad.xmp"]
    assert "not an XMP packet" in report.problems[tmp_path / "html.xmp"]
    after = digest(tmp_path)
    for name in ("bad.xmp", "html.xmp"):
        assert after[str(tmp_path / name)] == before[str(tmp_path / name)]
    assert "2 sidecars left untouched" in str(report)


def test_names_with_spaces_and_non_ascii(tmp_path, exiftool):
    shot = photo(tmp_path / "Été à Kyōto" / "IMG 0003 – copie.jpg")
    write_sidecars(table([shot], [64.0], [{"dark": 1}]), model="präzise")
    sidecar = shot.with_suffix(".xmp")
    tags = exiftool(sidecar)
    assert tags["XMP-xmp:Rating"] == 4 and tags["XMP-phoneiqa:Model"] == "präzise"
    assert write_sidecars(table([shot], [64.0], [{"dark": 1}]), model="präzise").unchanged == [sidecar]


def test_photos_sharing_a_stem_get_full_names_and_never_clobber(tmp_path, exiftool):
    jpg, heic, alone = photo(tmp_path / "IMG_1.jpg"), tmp_path / "IMG_1.heic", photo(tmp_path / "IMG_2.JPG")
    shutil.copy(jpg, heic)
    raw = tmp_path / "IMG_2.cr2"  # a raw the audit does not read; its Lightroom sidecar is IMG_2.xmp
    raw.write_bytes(b"raw")
    (tmp_path / "IMG_2.xmp").write_bytes(b"<lightroom's/>")
    assert sidecar_path(jpg) == tmp_path / "IMG_1.jpg.xmp"
    assert sidecar_path(tmp_path / "IMG_3.jpg") == tmp_path / "IMG_3.xmp"
    assert sidecar_path(heic, "darktable") == tmp_path / "IMG_1.heic.xmp"
    report = write_sidecars(table([heic, jpg, alone], [20.0, 90.0, 50.0], [{}, {}, {}]))
    assert sorted(p.name for p in report.written) == ["IMG_1.heic.xmp", "IMG_1.jpg.xmp", "IMG_2.JPG.xmp"]
    assert report.full_names == [heic, jpg, alone] and "3 share a stem" in str(report)
    assert (tmp_path / "IMG_2.xmp").read_bytes() == b"<lightroom's/>" and not (tmp_path / "IMG_1.xmp").exists()
    assert exiftool(tmp_path / "IMG_1.heic.xmp")["XMP-xmp:Rating"] == 2
    assert exiftool(tmp_path / "IMG_1.jpg.xmp")["XMP-xmp:Rating"] == 5


def test_failed_photos_get_no_sidecar_and_bad_options_are_refused(tmp_path):
    shot = photo(tmp_path / "x.jpg")
    report = write_sidecars(table([shot], [None], [{}], errors=["cannot decode"]))
    assert report.skipped == [str(shot)] and report.saved == 0 and not (tmp_path / "x.xmp").exists()
    with pytest.raises(ValueError, match="groups=True"):
        write_sidecars(table([shot], [50.0], [{}]), reject_bursts=True)
    with pytest.raises(ValueError, match="unknown sidecar naming 'lightroom'"):
        write_sidecars(table([shot], [50.0], [{}]), naming="lightroom")


def test_phoneiqa_audit_xmp(tmp_path_factory, capsys, exiftool):
    folder = tmp_path_factory.mktemp("library")
    photo(folder / "one photo.jpg")
    cache = tmp_path_factory.mktemp("cache") / "audit.sqlite3"
    argv = ["audit", str(folder), "--workers", "0", "--cache", str(cache), "--xmp"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "xmp: 1 sidecars written, 0 unchanged" in out and out.splitlines()[-1] == "report: 1 XMP sidecars"
    tags = exiftool(folder / "one photo.xmp")
    assert tags["XMP-phoneiqa:Model"] == "default" and "XMP-phoneiqa:Score" in tags
    assert main([*argv, "--xmp-name", "darktable"]) == 0
    assert (folder / "one photo.jpg.xmp").exists()
    assert main(argv) == 0 and "xmp: 0 sidecars written, 1 unchanged" in capsys.readouterr().out
    assert main([*argv, "--xmp-reject-bursts"]) == 2
    assert (
        "--xmp-reject-bursts rejects the shots of sure bursts but their best: give --groups" in capsys.readouterr().err
    )
    assert main([*argv[:-1], "--xmp-overwrite"]) == 2
    assert "--xmp-overwrite change the XMP sidecars: give --xmp too" in capsys.readouterr().err
    (folder / "one photo.xmp").write_bytes(b"<x:xmpmeta")  # corrupt: reported, left as it is, exit code 1
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert "xmp: 1 sidecars left untouched:" in out and "one photo.xmp: cannot parse it" in out
    assert (folder / "one photo.xmp").read_bytes() == b"<x:xmpmeta" and "report: none saved" in out


def test_a_bare_rdf_packet_with_a_plain_keyword(tmp_path, exiftool):
    shot = photo(tmp_path / "c.jpg")
    (tmp_path / "c.xmp").write_text(
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><!-- kept -->'
        '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:subject>solo</dc:subject>'
        "</rdf:Description></rdf:RDF>"
    )
    write_sidecars(table([shot], [50.0], [{"dark": 1}]))
    tags = exiftool(tmp_path / "c.xmp")
    assert tags["XMP-dc:Subject"] == ["solo", "phoneiqa", "dark", "normal"]
    assert "<!-- kept -->" in (tmp_path / "c.xmp").read_text()
    assert write_sidecars(table([shot], [50.0], [{"dark": 1}])).unchanged == [tmp_path / "c.xmp"]

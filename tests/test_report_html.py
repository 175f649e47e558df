"""The HTML audit report: a self-contained page, checked as text and in a real headless Chromium."""

from __future__ import annotations

import io
import json
import math
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from phoneiqa import LABELS
from phoneiqa.audit import AuditTable
from phoneiqa.audit.reports.html import write_html
from phoneiqa.errors import DataFormatError
from phoneiqa.labels import level_names, load_graph

EVIL = "odd/<b>&\"'.jpg"
SCRIPT_BREAKER = "odd/</script><img src=x onerror=alert(1)>.jpg"
FAILED = "broken/IMG_0099.heic"

# path, score, levels in LABELS order (bright, dark, low_contrast, high_contrast, overexposed, over_suppressed), error
ROWS: list[tuple[str, float, tuple[int, ...] | None, str]] = [
    ("beach/IMG_0001.jpg", 88.4, (0, 0, 0, 0, 0, 0), ""),
    ("beach/IMG_0002.jpg", 41.25, (0, 2, 0, 0, 0, 0), ""),
    ("beach/IMG_0003.jpg", 23.0, (0, 3, 1, 0, 0, 0), ""),
    ("beach/IMG_0004.jpg", 64.7, (0, 1, 0, 0, 0, 0), ""),
    ("city/IMG_0005.jpg", 35.5, (0, 2, 0, 1, 0, 0), ""),
    ("city/IMG_0006.jpg", 71.0, (1, 0, 0, 0, 0, 0), ""),
    ("city/IMG_0007.jpg", 52.3, (2, 0, 0, 0, 2, 0), ""),
    ("city/IMG_0008.jpg", 95.0, (0, 0, 0, 0, 0, 0), ""),
    ("night/IMG_0009.jpg", 12.5, (0, 3, 0, 0, 0, 1), ""),
    (FAILED, math.nan, None, "cannot decode: truncated file"),
    (EVIL, 58.9, (0, 2, 0, 0, 0, 0), ""),
    (SCRIPT_BREAKER, 100.0, (0, 0, 0, 3, 0, 0), ""),
]
NO_THUMBNAIL = "city/IMG_0008.jpg"


def audit_table(rows: list[tuple[str, float, tuple[int, ...] | None, str]]) -> AuditTable:
    """The audit table in the documented layout (a failed file's score NaN, as a model without a score gives)."""
    return AuditTable(
        {
            "path": [r[0] for r in rows],
            "score": [r[1] for r in rows],
            **{label: [None if r[2] is None else r[2][k] for r in rows] for k, label in enumerate(LABELS)},
            "error": [r[3] for r in rows],
        },
        {"level_names": level_names(load_graph("smartphone6"))},
    )


def jpeg(colour: tuple[int, int, int], size: tuple[int, int] = (48, 36)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()


def thumbnails_for(paths: list[str]) -> dict[str, bytes]:
    """Solid-colour JPEGs for every path but NO_THUMBNAIL (and the failed file)."""
    return {
        path: jpeg((40 + 17 * i % 200, 90 + 31 * i % 160, 160 - 11 * i % 150))
        for i, path in enumerate(paths)
        if path not in (NO_THUMBNAIL, FAILED)
    }


def page_data(text: str) -> dict:
    match = re.search(r'<script type="application/json" id="data">(.*?)</script>', text, re.DOTALL)
    assert match is not None
    return json.loads(match.group(1))


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    table = audit_table(ROWS)
    return write_html(
        table, tmp_path_factory.mktemp("report") / "audit.html", thumbnails=thumbnails_for(list(table["path"]))
    )


# --- the page as text -------------------------------------------------------------------------------------------


def test_page_is_self_contained(report):
    text = report.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", text, re.IGNORECASE)
    assert not re.search(r"url\(|@import|<link\b|<script\b[^>]*\bsrc=", text, re.IGNORECASE)
    assert "http://" not in text and "https://" not in text
    assert text.count("</script>") == 2  # the data and the code; no path closes the data early


def test_the_page_names_the_levels_as_the_model_spec_does(tmp_path):
    """Level names come from the table (the model's label spec), not from a global list."""
    table = audit_table(ROWS)
    table.attrs["level_names"] = {label: ("fine", "meh", "bad", "awful") for label in LABELS}
    text = write_html(table, tmp_path / "named.html").read_text(encoding="utf-8")
    assert page_data(text)["levels"] == ["fine", "meh", "bad", "awful"]
    assert '<option value="1">meh or worse</option>' in text and '<th scope="col">awful</th>' in text
    table.attrs.pop("level_names")
    assert page_data(write_html(table, tmp_path / "plain.html").read_text(encoding="utf-8"))["levels"][:2] == [
        "level 0",
        "level 1",
    ]


def test_data_round_trips(report):
    data = page_data(report.read_text(encoding="utf-8"))
    assert data["labels"] == list(LABELS) and data["levels"] == ["none", "normal", "severe", "blocking"]
    assert [r["path"] for r in data["rows"]] == [r[0] for r in ROWS]
    for record, (path, score, levels, error) in zip(data["rows"], ROWS, strict=True):
        assert record["score"] == (None if math.isnan(score) else score)
        assert record["levels"] == ([None] * len(LABELS) if levels is None else list(levels))
        assert record["error"] == error
        has_thumbnail = path not in (NO_THUMBNAIL, FAILED)
        assert (record["thumb"] or "").startswith("data:image/jpeg;base64,") == has_thumbnail
        assert "p" not in record


def test_probabilities_are_embedded(tmp_path):
    table = audit_table(ROWS[:2])
    table.data["p_dark"] = [0.1, 0.9]
    data = page_data(write_html(table, tmp_path / "p.html").read_text(encoding="utf-8"))
    assert [r["p"] for r in data["rows"]] == [[None, 0.1, None, None, None, None], [None, 0.9, None, None, None, None]]


def test_paths_are_escaped(report):
    text = report.read_text(encoding="utf-8")
    assert EVIL not in text and "<b>" not in text and "<img" not in text
    assert "\\u003cb>&\\\"'.jpg" in text  # the path in the data, with < escaped


def test_title_is_escaped(tmp_path):
    text = write_html(audit_table(ROWS[:1]), tmp_path / "t.html", title="<i>mine</i>").read_text(encoding="utf-8")
    assert "<title>&lt;i&gt;mine&lt;/i&gt;</title>" in text and "<i>" not in text


def test_counts_match_an_independent_count(report):
    text = report.read_text(encoding="utf-8")
    expected = {(label, level): 0 for label in LABELS for level in (1, 2, 3)}
    for _, _, levels, _ in ROWS:
        for label, level in zip(LABELS, levels or (), strict=False):
            if level >= 1:
                expected[label, level] += 1
    counts_table = re.search(r'<table id="counts">.*?</table>', text, re.DOTALL).group(0)
    cells = re.findall(r'<td data-label="(\w+)" data-level="(\d)"[^>]*>(\d+)</td>', counts_table)
    assert {(label, int(level)): int(n) for label, level, n in cells} == expected
    assert '<span id="n-photos">12</span>' in text and '<span id="n-failed">1</span>' in text


def test_histogram_bins(report):
    text = report.read_text(encoding="utf-8")
    svg = re.search(r'<svg id="histogram".*?</svg>', text, re.DOTALL).group(0)
    bars = {int(lo): int(n) for lo, n in re.findall(r'data-bin="(\d+)" data-count="(\d+)"', svg)}
    expected = dict.fromkeys(range(0, 100, 10), 0)
    for _, score, _, _ in ROWS:
        if not math.isnan(score):
            expected[min(int(score // 10) * 10, 90)] += 1
    assert bars == expected


def test_missing_columns_are_reported(tmp_path):
    with pytest.raises(DataFormatError, match="error"):
        write_html(audit_table(ROWS).drop("error"), tmp_path / "x.html")


def test_the_labels_are_the_tables_and_an_unscored_photo_is_not_a_failure(tmp_path):
    """A model with other labels (here three) and no score head: its columns, no failures counted."""
    table = AuditTable(
        {
            "path": ["a.jpg", "b.jpg", "c.jpg"],
            "score": [None, None, None],
            "dark": [0, 2, None],
            "cast_blue": [1, 0, None],
            "cast_green": [0, 0, None],
            "error": ["", "", "cannot decode: truncated file"],
        }
    )
    text = write_html(table, tmp_path / "r.html").read_text(encoding="utf-8")
    data = page_data(text)
    assert data["labels"] == ["dark", "cast_blue", "cast_green"]
    assert [r["levels"] for r in data["rows"]] == [[0, 1, 0], [2, 0, 0], [None, None, None]]
    assert '<span id="n-photos">3</span>' in text and '<span id="n-failed">1</span>' in text
    assert '<option value="cast_blue">' in text and '<option value="bright">' not in text


# --- the page in headless Chromium --------------------------------------------------------------------------------


def unavailable(reason: str):
    """Skip, except in CI, which installs the browser: there a missing one is a setup error."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI installs it: the CI setup is broken)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def driver():
    """One headless Chromium for the module: the system browser and driver, never a downloaded one."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        unavailable("selenium is not installed")
    browser = shutil.which("chromium") or "/usr/bin/chromium"
    chromedriver = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    for binary in (browser, chromedriver):
        if not os.access(binary, os.X_OK):
            unavailable(f"{binary} is not installed")
    options = Options()
    options.binary_location = browser
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1200,900",
    ):
        options.add_argument(flag)
    chrome = webdriver.Chrome(options=options, service=Service(chromedriver))
    yield chrome
    chrome.quit()


def open_page(driver, path: Path):
    driver.get(path.resolve().as_uri())
    return driver


def visible_paths(driver) -> list[str]:
    return driver.execute_script("return Array.from(document.querySelectorAll('tr.photo'), tr => tr.dataset.path);")


def choose(driver, select_id: str, value: str) -> None:
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element("id", select_id)).select_by_value(value)


def test_browser_lists_every_photo(driver, report):
    open_page(driver, report)
    assert visible_paths(driver) == [r[0] for r in ROWS]
    assert driver.find_element("id", "shown").text == f"showing {len(ROWS)} of {len(ROWS)}"
    assert not driver.find_element("id", "more").is_displayed()
    assert driver.find_element("id", "histogram").is_displayed()
    assert driver.find_elements("css selector", "td.path b, td.path img") == []


def test_browser_filters_by_issue_and_level(driver, report):
    open_page(driver, report)
    dark = LABELS.index("dark")
    choose(driver, "issue", "dark")
    choose(driver, "level", "2")
    expected = {path for path, _, levels, _ in ROWS if levels is not None and levels[dark] >= 2}
    assert set(visible_paths(driver)) == expected and len(expected) == 5
    assert driver.find_element("id", "shown").text == f"showing {len(expected)} of {len(ROWS)}"
    badges = driver.find_elements("css selector", "tr.photo .badge[data-issue='dark']")
    assert {b.text for b in badges} == {"dark: severe", "dark: blocking"}

    choose(driver, "level", "3")
    assert set(visible_paths(driver)) == {p for p, _, lv, _ in ROWS if lv is not None and lv[dark] == 3}
    choose(driver, "issue", "any")
    assert set(visible_paths(driver)) == {p for p, _, lv, _ in ROWS if lv is not None and max(lv) == 3}
    choose(driver, "issue", "failed")
    assert visible_paths(driver) == [FAILED]
    assert driver.find_element("css selector", "tr.photo .error").text == "cannot decode: truncated file"
    choose(driver, "issue", "none")
    assert set(visible_paths(driver)) == {p for p, _, lv, _ in ROWS if lv is not None and max(lv) == 0}


def test_browser_sorts_by_score_and_path(driver, report):
    open_page(driver, report)
    scored = [(score, path) for path, score, _, _ in ROWS if not math.isnan(score)]
    sort_score = driver.find_element("id", "sort-score")
    sort_score.click()
    assert visible_paths(driver) == [p for _, p in sorted(scored, reverse=True)] + [FAILED]
    assert sort_score.get_attribute("aria-sort") == "descending"
    shown = driver.execute_script(
        "return Array.from(document.querySelectorAll('tr.photo td.score'), td => td.textContent);"
    )
    assert shown[0] == "100.0" and shown[1] == "95.0" and shown[-1] == "–"
    sort_score.click()
    assert visible_paths(driver) == [p for _, p in sorted(scored)] + [FAILED]
    assert sort_score.get_attribute("aria-sort") == "ascending"
    driver.find_element("id", "sort-path").click()
    assert visible_paths(driver) == sorted(r[0] for r in ROWS)


def test_browser_shows_paths_literally_and_thumbnails(driver, report):
    open_page(driver, report)
    for path in (EVIL, SCRIPT_BREAKER):
        row = driver.find_element("css selector", f"tr.photo[data-path={json.dumps(path)}]")
        assert row.find_element("css selector", "td.path").text == path
        assert row.find_elements("css selector", "td.path *") == []
    widths = driver.execute_script(
        "return Object.fromEntries(Array.from(document.querySelectorAll('tr.photo'), tr => "
        "[tr.dataset.path, tr.querySelector('img') ? tr.querySelector('img').naturalWidth : null]));"
    )
    assert widths == {r[0]: (None if r[0] in (NO_THUMBNAIL, FAILED) else 48) for r in ROWS}
    assert len(driver.find_elements("css selector", "tr.photo .nothumb")) == 2


def test_browser_pages_large_libraries(driver, tmp_path):
    rows = [(f"lib/IMG_{i:05d}.jpg", (i * 37) % 1000 / 10, (0, i % 4, 0, 0, 0, 0), "") for i in range(450)]
    page = write_html(audit_table(rows), tmp_path / "large.html")
    open_page(driver, page)
    more = driver.find_element("id", "more")
    assert len(visible_paths(driver)) == 200 and more.is_displayed()
    assert driver.find_element("id", "shown").text == "showing 450 of 450"
    more.click()
    assert visible_paths(driver) == [r[0] for r in rows[:400]]
    more.click()
    assert len(visible_paths(driver)) == 450 and not more.is_displayed()
    choose(driver, "issue", "dark")
    choose(driver, "level", "2")  # 224 rows match: a fresh first page
    assert len(visible_paths(driver)) == 200 and more.is_displayed()
    assert driver.find_element("id", "shown").text == "showing 224 of 450"


def large_library(n: int) -> tuple[AuditTable, dict[str, bytes]]:
    """``n`` rows with levels, scores and one small thumbnail each (one in ten without)."""
    rows = [
        (f"lib/{i // 1000:03d}/IMG_{i:06d}.jpg", (i * 37) % 1000 / 10, (0, i % 4, 0, i % 3, 0, 0), "") for i in range(n)
    ]
    thumb = jpeg((120, 140, 160), (40, 30))
    return audit_table(rows), {r[0]: thumb for i, r in enumerate(rows) if i % 10}


def test_a_large_report_keeps_its_images_beside_the_page(tmp_path):
    """Above EMBED_LIMIT photos (or with embed=False) the images are files in <page>_files/, named by row,
    and the page holds only the data: at most 200 bytes per photo, 20 MB for 100,000."""
    table, thumbs = large_library(3000)
    page = write_html(table, tmp_path / "big.html", thumbnails=thumbs)
    folder = tmp_path / "big.html_files"
    records = page_data(page.read_text(encoding="utf-8"))["rows"]
    assert "data:image" not in page.read_text(encoding="utf-8") and page.stat().st_size / len(table) <= 200
    assert records[1]["thumb"] == "big.html_files/thumbs/1.jpg" and records[0]["thumb"] is None
    assert (folder / "thumbs" / "1.jpg").read_bytes() == thumbs[records[1]["path"]]
    assert len(list((folder / "thumbs").iterdir())) == len(thumbs)
    small = write_html(audit_table(ROWS[:2]), tmp_path / "big.html", thumbnails=thumbnails_for([ROWS[0][0]]))
    assert not folder.exists()  # a rewrite as one file leaves no stale images
    assert page_data(small.read_text(encoding="utf-8"))["rows"][0]["thumb"].startswith("data:image/jpeg;base64,")


def test_rewriting_a_large_report_writes_only_the_images_that_changed_and_removes_the_unused(tmp_path):
    table, thumbs = large_library(1500)
    page = write_html(table, tmp_path / "big.html", thumbnails=thumbs)
    folder = tmp_path / "big.html_files" / "thumbs"
    before = {f.name: f.stat() for f in folder.iterdir()}
    (folder / "stray.jpg").write_bytes(b"left by someone")
    changed = dict(thumbs)
    first_path = next(p for p in table["path"] if p in thumbs)
    changed[first_path] = jpeg((10, 200, 10), (40, 30))
    last_path = table["path"][-1]
    changed.pop(last_path, None)
    write_html(table, page, thumbnails=changed)
    after = {f.name: f.stat() for f in folder.iterdir()}
    index = table["path"].index(first_path)
    assert (folder / f"{index}.jpg").read_bytes() == changed[first_path]
    assert set(after) == {f"{table['path'].index(p)}.jpg" for p in changed}  # the stray and the dropped are gone
    untouched = [n for n in after if n != f"{index}.jpg"]
    assert all((after[n].st_ino, after[n].st_mtime_ns) == (before[n].st_ino, before[n].st_mtime_ns) for n in untouched)


def test_browser_opens_a_20000_photo_report_and_filters_it(driver, tmp_path):
    """The images load lazily from the folder beside the page; only shown rows are in the document."""
    table, thumbs = large_library(20_000)
    page = write_html(table, tmp_path / "library.html", thumbnails=thumbs)
    open_page(driver, page)
    assert driver.find_element("id", "shown").text == "showing 20000 of 20000"
    assert len(visible_paths(driver)) == 200
    loaded = driver.execute_script(
        "const img = document.querySelector('tr.photo td.thumb img');"
        "return img.decode().then(() => img.naturalWidth, () => -1);"
    )
    assert loaded == 40  # a thumbnail from library.html_files/
    choose(driver, "issue", "high_contrast")
    choose(driver, "level", "2")
    expected = sum(1 for level in table["high_contrast"] if level >= 2)
    assert driver.find_element("id", "shown").text == f"showing {expected} of 20000"


def test_browser_screenshot(driver, report, tmp_path):
    open_page(driver, report)
    shot = tmp_path / "report.png"
    assert driver.save_screenshot(str(shot))
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 1000
    folder = os.environ.get("PHONEIQA_SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, Path(folder) / "report.png")


def test_browser_shows_a_flagged_photos_exposure_maps(driver, tmp_path):
    """`phoneiqa audit --html --explain` end to end: hovering the thumbnail of a flagged photo shows its
    maps, a click keeps them open, a photo with no issue has none."""
    from selenium.webdriver.common.action_chains import ActionChains
    from sklearn.datasets import load_sample_image

    from phoneiqa.cli import main

    folder = tmp_path / "lib"
    folder.mkdir()
    blown = load_sample_image("china.jpg").copy()
    blown[:220] = 255
    Image.fromarray(blown).save(folder / "blown.jpg", quality=95)
    Image.fromarray(load_sample_image("china.jpg")).save(folder / "plain.jpg", quality=95)
    page = tmp_path / "report.html"
    assert main(["audit", str(folder), "--html", str(page), "--explain", "--no-cache", "--workers", "0"]) == 0
    open_page(driver, page)
    cells = {
        tr.get_attribute("data-path").rsplit("/", 1)[-1]: tr.find_element("css selector", "td.thumb")
        for tr in driver.find_elements("css selector", "tr.photo")
    }
    assert cells["plain.jpg"].find_elements("css selector", "img.overlay") == []
    maps = cells["blown.jpg"].find_element("css selector", "img.overlay")
    assert not maps.is_displayed()
    ActionChains(driver).move_to_element(cells["blown.jpg"]).perform()
    assert maps.is_displayed() and maps.size["width"] == 240
    assert driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth", maps) == 240
    cells["blown.jpg"].click()
    ActionChains(driver).move_to_element(driver.find_element("tag name", "h1")).perform()
    assert maps.is_displayed()  # opened: stays shown without the pointer
    shot = tmp_path / "maps.png"
    assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 1000
    folder_out = os.environ.get("PHONEIQA_SCREENSHOT_DIR")
    if folder_out:
        Path(folder_out).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, Path(folder_out) / "report-maps.png")


def test_browser_collapses_bursts_to_their_best_shots(driver, tmp_path):
    """`phoneiqa audit --groups --html`: the list shows each burst's best shot (with "best of N"); unticking
    "best shot of each burst only" shows every shot."""
    from sklearn.datasets import load_sample_image

    from phoneiqa.cli import main

    folder = tmp_path / "lib"
    folder.mkdir()
    china = load_sample_image("china.jpg")
    for i, factor in enumerate((1.0, 0.98, 0.96)):  # one burst: the same scene three times
        Image.fromarray((china * factor).astype(np.uint8)).save(folder / f"burst_{i}.jpg", quality=90 - 30 * i)
    Image.fromarray(load_sample_image("flower.jpg")).save(folder / "other.jpg")
    page = tmp_path / "report.html"
    assert main(["audit", str(folder), "--groups", "--html", str(page), "--no-cache", "--workers", "0"]) == 0
    open_page(driver, page)
    assert driver.find_element("id", "shown").text == "showing 2 of 4"
    assert [e.text for e in driver.find_elements("css selector", ".burst")] == ["best of 3 in burst 1"]
    driver.find_element("id", "collapse").click()
    assert driver.find_element("id", "shown").text == "showing 4 of 4"
    assert len(driver.find_elements("css selector", ".burst")) == 3

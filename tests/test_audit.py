"""The photo-library audit: every file gets a row, bad files their reason, interrupted audits resume."""

from __future__ import annotations

import base64
import io
import json
import pickle
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import weakref
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.datasets import load_sample_image

import phoneiqa
from phoneiqa.audit import AuditTable, audit, summarize, write_report
from phoneiqa.audit.decode import decode
from phoneiqa.audit.discover import file_key, find_images
from phoneiqa.labels import LABELS
from phoneiqa.loading import model_file


def make_photos(folder: Path, n: int, size: tuple[int, int] = (240, 160)) -> list[Path]:
    """``n`` distinct real photos: crops of scikit-learn's two samples at different exposures."""
    samples = [load_sample_image("china.jpg"), load_sample_image("flower.jpg")]
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        base = samples[i % 2]
        top, left = rng.integers(0, 100), rng.integers(0, 200)
        crop = base[top : top + 320, left : left + 400].astype(np.float32) * rng.uniform(0.3, 1.6)
        image = Image.fromarray(np.clip(crop, 0, 255).astype(np.uint8)).resize(size)
        path = folder / ("sub" if i % 3 == 0 else "") / f"photo_{i:03d}.{'png' if i % 5 == 0 else 'jpg'}"
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path, quality=90)
        paths.append(path)
    return paths


def add_bad_files(folder: Path) -> dict[str, str]:
    """Broken files of every kind a library holds -> a word their error must contain."""
    good = folder / "sub" / "photo_000.png"
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "truncated.jpg").write_bytes((folder / "photo_001.jpg").read_bytes()[:600])
    (folder / "random.png").write_bytes(np.random.default_rng(1).bytes(4000))
    (folder / "folder.jpg").mkdir()
    (folder / "loop.jpg").symlink_to("loop.jpg")
    (folder / "dangling.heic").symlink_to("nowhere.heic")
    (folder / "sub" / "up").symlink_to("..")  # a folder loop: searched once
    (folder / "notes.txt").write_text("not a photo, not listed")
    assert good.exists()
    return {
        "empty.jpg": "empty",
        "truncated.jpg": "truncated",
        "random.png": "not a recognised image",
        "folder.jpg": "directory",
        "loop.jpg": "symbolic link loop",
        "dangling.heic": "broken symbolic link",
    }


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> tuple[Path, list[Path], dict[str, str]]:
    folder = tmp_path_factory.mktemp("library")
    photos = make_photos(folder, 9)
    return folder, photos, add_bad_files(folder)


@pytest.fixture(scope="module")
def model():
    return phoneiqa.load("default")


def test_every_file_gets_a_row_with_its_result_or_its_reason(library, model):
    folder, photos, bad = library
    result = audit(folder, workers=1, cache=False, probabilities=True)
    table = result.to_pandas()
    assert result.columns == table.columns.tolist()
    assert table.columns.tolist() == ["path", "score", *LABELS, "error", *(f"p_{k}" for k in LABELS)]
    assert table["path"].tolist() == sorted(str(p) for p in [*photos, *(folder / name for name in bad)])
    for name, word in bad.items():
        row = table[table["path"] == str(folder / name)].iloc[0]
        assert word in row["error"], (name, row["error"])
        assert np.isnan(row["score"]) and row[list(LABELS)].isna().all()
    for path in photos:  # each photo as phoneiqa.assess would say, file by file
        row = table[table["path"] == str(path)].iloc[0]
        expected = model.assess(str(path))
        assert row["error"] == ""
        assert row["score"] == pytest.approx(expected.score, abs=1e-4)
        assert {k: int(row[k]) for k in LABELS} == expected.issues
        assert [row[f"p_{k}"] for k in LABELS] == pytest.approx([1 - expected.probabilities[k][0] for k in LABELS])
    assert table.attrs["failed"] == len(bad) and table.attrs["assessed"] == len(photos)
    assert result.failed() == [path.name in bad for path in map(Path, result["path"])]


def test_worker_processes_give_the_same_table_as_decoding_in_process(library):
    folder, _, _ = library
    in_workers = audit(folder, workers=2, batch_size=3, cache=False)
    assert in_workers.data == audit(folder, workers=0, cache=False).data


def test_missing_paths_and_explicit_files_are_reported(library, tmp_path):
    _, photos, _ = library
    odd = tmp_path / "photo.dat"  # named explicitly, so read whatever its suffix
    odd.write_bytes(photos[1].read_bytes())
    table = audit([str(tmp_path / "missing"), odd], workers=0, cache=False)
    assert table["error"] == ["no such file or folder", ""]
    assert table["score"][0] is None and 0 <= table["score"][1] <= 100


def test_unreadable_files_and_folders_are_reported_as_permission_denied(library, open_tmp_path, unprivileged):
    _, photos, _ = library
    locked_file, locked_dir = open_tmp_path / "locked.jpg", open_tmp_path / "locked"
    locked_file.write_bytes(photos[1].read_bytes())
    locked_dir.mkdir()
    (locked_dir / "inside.jpg").write_bytes(photos[1].read_bytes())
    locked_file.chmod(0)
    locked_dir.chmod(0)
    assert unprivileged(_reasons, open_tmp_path) == {
        str(locked_dir): "folder not searched: permission denied",
        str(locked_file): "permission denied",
    }


def _reasons(root: Path) -> dict[str, str]:
    """Discovery and decoding errors under ``root`` (what an audit's rows would say)."""
    out = {}
    for entry in find_images([root]):
        key = file_key(entry)
        out[entry.path] = entry.error or (key if isinstance(key, str) else decode(entry.path, 64, False)[2])
    return out


def test_second_audit_comes_from_the_cache_and_changed_files_are_assessed_again(tmp_path, model):
    folder = tmp_path / "lib"
    photos = make_photos(folder, 6)
    cache = tmp_path / "cache.sqlite3"
    first = audit(folder, workers=0, cache=cache)
    second = audit(folder, workers=0, cache=cache)
    assert (first.attrs["from_cache"], second.attrs["from_cache"]) == (0, 6)
    assert first.data == second.data

    changed = photos[2]
    Image.open(photos[1]).save(changed, quality=90)  # other content, new size and mtime
    third = audit(folder, workers=0, cache=cache)
    assert third.attrs["from_cache"] == 5
    row = next(r for r in third.rows() if r["path"] == str(changed))
    assert row["score"] == pytest.approx(model.assess(str(changed)).score, abs=1e-4)
    other = audit(folder, workers=0, cache=cache, model=model_file("default"))
    assert other.attrs["from_cache"] == 6  # the same checkpoint named by its path shares the cache


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_reports_read_back_as_the_table(library, tmp_path, suffix):
    folder, _, _ = library
    result = audit(folder, workers=0, cache=False, probabilities=True)
    path, table = write_report(result, tmp_path / f"report{suffix}"), result.to_pandas()
    if suffix == ".csv":
        back = pd.read_csv(path)
    elif suffix == ".parquet":
        back = pd.read_parquet(path)
    else:
        back = pd.read_json(path, lines=True, dtype=False, precise_float=True)
    assert back.columns.tolist() == table.columns.tolist()
    assert back["path"].tolist() == table["path"].tolist()
    assert back["error"].fillna("").tolist() == table["error"].tolist()
    for column in table.columns.drop(["path", "error"]):
        np.testing.assert_allclose(back[column].astype(float), table[column].astype(float), rtol=1e-12)
    with pytest.raises(ValueError, match=r"report\.xlsx: unknown report format"):
        write_report(result, tmp_path / "report.xlsx")


def test_summary_counts_match_the_table(library):
    folder, _, bad = library
    table = audit(folder, workers=0, cache=False)
    text = summarize(table)
    assert text.startswith(f"{len(table)} files: {len(table) - len(bad)} assessed, 0 from the cache, {len(bad)} failed")
    assert table.attrs["assessed"] == len(table) - len(bad) and table.attrs["from_cache"] == 0
    read_back = AuditTable(table.data)  # no audit counts
    assert summarize(read_back).startswith(f"{len(table)} files: {len(table) - len(bad)} with results, {len(bad)}")
    for label in LABELS:
        counts = [sum(level == want for level in table[label]) for want in (1, 2, 3)]
        assert f"{label:<16}{counts[0]:>8}{counts[1]:>8}{counts[2]:>10}{sum(counts):>8}" in text
    assert f"failed ({len(bad)}):" in text


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "phoneiqa.cli", "audit", *args]


def test_cli_writes_the_report_and_says_some_files_failed(library, tmp_path):
    folder, _, bad = library
    out = tmp_path / "report.csv"
    done = subprocess.run(_cli(str(folder), "--out", str(out), "--no-cache"), capture_output=True, text=True)
    assert done.returncode == 1, done.stderr
    assert f"failed ({len(bad)}):" in done.stdout
    report = pd.read_csv(out, keep_default_na=False)
    assert report.columns.tolist() == ["path", "score", *LABELS, "error"]
    expected = audit(folder, workers=0, cache=False).to_pandas()
    assert report["path"].tolist() == expected["path"].tolist()
    np.testing.assert_allclose(pd.to_numeric(report["score"]), expected["score"], rtol=1e-12)


def _cached_rows(cache: Path) -> int:
    if not cache.exists():
        return 0
    try:
        with sqlite3.connect(cache, timeout=1) as db:
            return db.execute("SELECT COUNT(*) FROM results").fetchone()[0]
    except sqlite3.OperationalError:  # the table is not created yet
        return 0


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT])
def test_an_interrupted_audit_resumes_without_losing_finished_batches(tmp_path, how):
    folder = tmp_path / "lib"
    make_photos(folder, 48, size=(400, 300))
    cache, out = tmp_path / "cache.sqlite3", tmp_path / "report.csv"
    args = [str(folder), "--out", str(out), "--cache", str(cache), "--batch-size", "4", "--workers", "1"]
    proc = subprocess.Popen(_cli(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while _cached_rows(cache) < 8 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the audit finished before it could be interrupted"
    proc.send_signal(how)
    _, stderr = proc.communicate(timeout=60)
    kept = _cached_rows(cache)
    assert not out.exists()
    assert 8 <= kept < 48
    if how == signal.SIGINT:
        assert proc.returncode == 130 and "run the same command again to resume" in stderr
    else:
        assert proc.returncode == -signal.SIGKILL

    done = subprocess.run(_cli(*args), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert f"assessed, {kept} from the cache" in done.stdout
    report = pd.read_csv(out, keep_default_na=False)
    fresh = audit(folder, workers=0, cache=False).to_pandas()
    assert report["path"].tolist() == fresh["path"].tolist() and (report["error"] == "").all()
    np.testing.assert_allclose(report["score"], fresh["score"], rtol=1e-12)
    assert (report[list(LABELS)].to_numpy() == fresh[list(LABELS)].to_numpy(dtype=int)).all()


def test_cli_html_report_embeds_every_row_and_the_photos_thumbnails(library, tmp_path):
    folder, photos, bad = library
    page = tmp_path / "report.html"
    done = subprocess.run(_cli(str(folder), "--html", str(page), "--no-cache"), capture_output=True, text=True)
    assert done.returncode == 1, done.stderr
    text = page.read_text(encoding="utf-8")
    data = json.loads(re.search(r'<script type="application/json" id="data">(.*?)</script>', text, re.S)[1])
    rows = {row["path"]: row for row in data["rows"]}
    assert sorted(rows) == sorted(str(p) for p in [*photos, *(folder / name for name in bad)])
    for path in photos:
        thumb = base64.b64decode(rows[str(path)]["thumb"].removeprefix("data:image/jpeg;base64,"))
        with Image.open(io.BytesIO(thumb)) as image:
            assert image.format == "JPEG" and max(image.size) == 160
    assert all(rows[str(folder / name)]["thumb"] is None for name in bad)


def test_the_pytorch_backend_audits_the_same(tmp_path):
    make_photos(tmp_path, 3)
    compiled = audit(tmp_path, workers=0, cache=False)
    eager = audit(tmp_path, workers=0, cache=False, backend="torch")
    np.testing.assert_allclose(eager["score"], compiled["score"], atol=0.05)  # float16 packed weights
    assert all(eager[label] == compiled[label] for label in LABELS)


def test_cli_refuses_options_the_ray_path_does_not_have(tmp_path):
    done = subprocess.run(_cli(str(tmp_path), "--ray", "--workers", "2"), capture_output=True, text=True)
    assert done.returncode != 0 and "the Ray executor has neither a result cache nor local workers" in done.stderr


@pytest.mark.parametrize("backend", ["onnx", "torch"])
def test_batch_size_is_photos_per_model_call_on_every_backend(backend, library, monkeypatch):
    """Both backends are Assessors; the audit calls ``run`` once per batch, with that many photos."""
    from phoneiqa.model import Model
    from phoneiqa.runtime import Runtime

    _, photos, _ = library
    runner = phoneiqa.load("default", backend=backend)
    assert isinstance(runner, phoneiqa.Assessor) and runner.labels == LABELS and runner.has_score
    pickle.loads(pickle.dumps(runner.preparer()))  # the audit's worker processes receive it
    calls: list[int] = []
    kind = Runtime if backend == "onnx" else Model
    original = kind.run
    monkeypatch.setattr(kind, "run", lambda self, prepared: calls.append(len(prepared)) or original(self, prepared))
    table = audit(photos, backend=backend, batch_size=4, cache=False, workers=0)
    assert calls == [4, 4, 1] and not any(table.failed())


def test_each_executor_refuses_the_options_it_does_not_have(library, monkeypatch):
    """Checked in the API before anything runs (Ray is not even imported)."""
    from phoneiqa.errors import ConfigError

    folder, _, _ = library
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ConfigError, match="neither a result cache nor local workers"):
        audit(folder, executor="ray", cache="audit.sqlite3")
    with pytest.raises(ConfigError, match="neither a result cache nor local workers"):
        audit(folder, executor="ray", workers=2)
    with pytest.raises(ConfigError, match="option of the Ray executor"):
        audit(folder, concurrency=2)
    with pytest.raises(phoneiqa.ParameterError, match="unknown executor 'dask'; choose from local, ray"):
        audit(folder, executor="dask")


def test_an_explained_audit_draws_the_maps_of_flagged_photos_and_caches_them(tmp_path):
    folder = tmp_path / "lib"
    folder.mkdir()
    blown = load_sample_image("china.jpg").copy()
    blown[:220] = 255  # the top half blown out: overexposed
    Image.fromarray(blown).save(folder / "blown.jpg", quality=95)
    Image.fromarray(load_sample_image("china.jpg")).save(folder / "plain.jpg", quality=95)  # no issue flagged
    cache = tmp_path / "cache.sqlite3"
    table = audit(folder, workers=1, cache=cache, thumbnails=True, explain=True)  # the maps cross a process
    rows = {Path(r["path"]).name: r for r in table.rows()}
    assert rows["blown.jpg"]["overexposed"] >= 2 and not any(rows["plain.jpg"][k] for k in LABELS)
    assert rows["plain.jpg"]["overlay"] is None
    with Image.open(io.BytesIO(rows["blown.jpg"]["overlay"])) as overlay:
        assert overlay.format == "JPEG" and overlay.width == 240  # OVERLAY_SIZE, the photo's long side
        top = np.asarray(overlay.convert("RGB"), dtype=np.float64)[5:60, 20:220].mean(axis=(0, 1))
    white_under_vermillion = 0.35 * 255 + 0.65 * np.array([213, 94, 0])  # the clipped colour over white
    np.testing.assert_allclose(top, white_under_vermillion, atol=12)
    again = audit(folder, workers=0, cache=cache, thumbnails=True, explain=True)
    assert again.attrs["from_cache"] == 2 and again["overlay"] == table["overlay"]
    plain = audit(folder, workers=0, cache=cache)  # a result is reused whatever the report options
    assert plain.attrs["from_cache"] == 2 and "overlay" not in plain


def test_report_options_never_make_the_audit_assess_a_photo_twice(tmp_path, monkeypatch):
    """plain -> thumbnails and maps -> plain: each photo goes through the model once; the second run only adds
    the thumbnails and the maps (drawn for the stored levels) to the cached rows, the same as a fresh audit's."""
    from phoneiqa.runtime import Runtime

    folder = tmp_path / "lib"
    folder.mkdir()
    blown = load_sample_image("china.jpg").copy()
    blown[:220] = 255
    Image.fromarray(blown).save(folder / "blown.jpg", quality=95)
    make_photos(folder, 3)
    fresh = audit(folder, workers=0, cache=False, thumbnails=True, explain=True)
    assessed: list[int] = []
    original = Runtime.run
    monkeypatch.setattr(Runtime, "run", lambda self, batch: assessed.append(len(batch)) or original(self, batch))
    cache = tmp_path / "cache.sqlite3"
    runs = [{}, {"thumbnails": True, "explain": True}, {}]
    tables = [audit(folder, workers=1, cache=cache, **options) for options in runs]
    assert sum(assessed) == 4 and [t.attrs["from_cache"] for t in tables] == [0, 4, 4]
    assert tables[1]["overlay"] == fresh["overlay"] and tables[1]["thumbnail"] == fresh["thumbnail"]
    assert any(o is not None for o in fresh["overlay"])  # at least the blown photo's maps are compared
    for table in tables:
        assert table["score"] == fresh["score"]


def test_explain_is_refused_where_it_cannot_be_drawn(tmp_path):
    from phoneiqa.errors import ConfigError

    with pytest.raises(ConfigError, match="neither draws exposure maps nor groups bursts"):
        audit(tmp_path, executor="ray", explain=True)
    done = subprocess.run(_cli(str(tmp_path), "--explain", "--no-cache"), capture_output=True, text=True)
    assert done.returncode != 0 and "give --html too" in done.stderr


def test_a_cache_from_an_earlier_version_gains_the_new_columns_and_its_rows_are_completed(tmp_path):
    """A cache written before overlays, capture times and signatures existed: its results (keyed by the same
    checkpoint and version) are kept, and the signature they lack is added without assessing them again."""
    import sqlite3

    from phoneiqa.audit.infer import model_id

    folder = tmp_path / "lib"
    photos = make_photos(folder, 2)
    cache = tmp_path / "old.sqlite3"
    with sqlite3.connect(cache) as db:
        db.execute(
            "CREATE TABLE results (model TEXT NOT NULL, path TEXT NOT NULL, size INTEGER NOT NULL, "
            "mtime_ns INTEGER NOT NULL, result TEXT NOT NULL, thumbnail BLOB, PRIMARY KEY (model, path))"
        )
        key = file_key(find_images([photos[0]])[0])
        old = {"score": 1.0, "issues": dict.fromkeys(LABELS, 0), "probabilities": {k: [1, 0, 0, 0] for k in LABELS}}
        db.execute(
            "INSERT INTO results VALUES (?, ?, ?, ?, ?, ?)",
            (model_id("default"), key.path, key.size, key.mtime_ns, json.dumps(old), None),
        )
    table = audit(folder, workers=0, cache=cache, groups=True)
    scores = dict(zip(table["path"], table["score"], strict=True))
    assert table.attrs["from_cache"] == 1 and scores[str(photos[0])] == 1.0  # the stored result, not redone
    with sqlite3.connect(cache) as db:
        columns = {row[1] for row in db.execute("PRAGMA table_info(results)")}
        signatures = [row[0] for row in db.execute("SELECT signature FROM results")]
    assert {"overlay", "taken", "signature", "explained"} <= columns
    assert all(s is not None and len(s) == 1024 for s in signatures)
    assert audit(folder, workers=0, cache=cache, groups=True).attrs["from_cache"] == 2


def _count_alive(monkeypatch, kind: type) -> dict[str, int]:
    """From now on, how many instances of ``kind`` are alive (``alive``) and the most alive at once (``most``)."""
    count = {"alive": 0, "most": 0}
    made = kind.__init__

    def gone() -> None:
        count["alive"] -= 1

    def counted(self, *args, **kwargs) -> None:
        made(self, *args, **kwargs)
        count["alive"] += 1
        count["most"] = max(count["most"], count["alive"])
        weakref.finalize(self, gone)

    monkeypatch.setattr(kind, "__init__", counted)
    return count


def _scenes(folder: Path, n: int) -> list[Path]:
    """``n`` unrelated photos (smooth random patterns: no bursts among them), each with its own mean colour."""
    rng = np.random.default_rng(3)
    paths = []
    for i in range(n):
        pattern = rng.uniform(0, 255, size=(6, 8, 3)).astype(np.uint8)
        path = folder / f"scene_{i:03d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pattern).resize((192, 144), Image.Resampling.BICUBIC).save(path, quality=92)
        paths.append(path)
    return paths


def test_the_audit_and_its_reports_never_hold_every_photo_at_once(tmp_path, monkeypatch, capsys):
    """Results are made a batch at a time and read back from the result cache a chunk at a time, and the
    report's thumbnails one at a time: during `phoneiqa audit --groups --html --out` (first run: assessed;
    second: every result from the cache) the most outcomes and assessments alive at once is bounded by the
    batch and the chunk, not by the library (which the audit used to hold whole until the report was written)."""
    from phoneiqa.assessment import Assessment
    from phoneiqa.audit import store as audit_store
    from phoneiqa.audit import table as audit_table
    from phoneiqa.audit.decode import Outcome
    from phoneiqa.cli import main

    n, batch, chunk = 30, 4, 4
    _scenes(tmp_path / "lib", n)
    monkeypatch.setattr(audit_store, "CHUNK", chunk)
    monkeypatch.setattr(audit_table, "CHUNK", chunk)
    outcomes, assessments = _count_alive(monkeypatch, Outcome), _count_alive(monkeypatch, Assessment)
    page, out, cache = tmp_path / "report.html", tmp_path / "report.csv", tmp_path / "cache.sqlite3"
    args = ["audit", str(tmp_path / "lib"), "--workers", "0", "--batch-size", str(batch), "--groups"]
    for expected in (f"{n} assessed, 0 from the cache", f"0 assessed, {n} from the cache"):
        assert main([*args, "--html", str(page), "--out", str(out), "--cache", str(cache)]) == 0
        assert expected in capsys.readouterr().out and len(pd.read_csv(out)) == n and page.exists()
        assert outcomes["most"] <= batch + 2 and assessments["most"] <= 2 * chunk + batch, (outcomes, assessments)


def test_the_report_shows_each_photo_its_own_thumbnail_from_wherever_the_audit_kept_it(tmp_path, monkeypatch):
    """Thumbnails travel from the decoding worker through the result cache (a temporary one with --no-cache,
    removed afterwards) to the report's image folder: each row's file there is a small copy of that row's photo
    (its mean colour), on the first run, from the cache, and without one."""
    from phoneiqa.audit.reports import html as report_html
    from phoneiqa.cli import main

    photos = _scenes(tmp_path / "lib", 12)
    colours = {str(p): np.asarray(Image.open(p).convert("RGB"), dtype=np.float64).mean(axis=(0, 1)) for p in photos}
    (tmp_path / "bad.jpg").write_bytes(b"not a photo")
    monkeypatch.setattr(report_html, "EMBED_LIMIT", 5)  # images beside the page, named by row
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    args = ["audit", str(tmp_path / "lib"), str(tmp_path / "bad.jpg"), "--workers", "1", "--html"]
    for run, cache in enumerate(["--no-cache", "--cache", "--cache"]):
        page = tmp_path / f"report{run}.html"
        options = [cache] if cache == "--no-cache" else [cache, str(tmp_path / "cache.sqlite3")]
        assert main([*args, str(page), *options]) == 1  # bad.jpg failed
        text = page.read_text(encoding="utf-8")
        rows = json.loads(re.search(r'<script type="application/json" id="data">(.*?)</script>', text, re.S)[1])["rows"]
        assert [r["path"] for r in rows] == sorted([*colours, str(tmp_path / "bad.jpg")])
        for row in rows:
            if row["error"]:
                assert row["thumb"] is None
                continue
            with Image.open(page.parent / row["thumb"]) as thumb:
                assert thumb.size == (160, 120)
                mean = np.asarray(thumb.convert("RGB"), dtype=np.float64).mean(axis=(0, 1))
            np.testing.assert_allclose(mean, colours[row["path"]], atol=4)
    assert list((tmp_path / "tmp").glob("phoneiqa-audit-*")) == []  # the temporary result store is gone
    table = audit(
        tmp_path / "lib", workers=0, cache=tmp_path / "cache.sqlite3", thumbnails=True, explain=True, groups=True
    )
    assert table.columns[-5:] == ["thumbnail", "overlay", "group", "group_sure", "rank_in_group"]
    assert table.attrs["from_cache"] == 12  # the maps are added to the cached results
    for path, jpeg in zip(table["path"], table["thumbnail"], strict=True):
        with Image.open(io.BytesIO(jpeg)) as thumb:
            mean = np.asarray(thumb.convert("RGB"), dtype=np.float64).mean(axis=(0, 1))
        np.testing.assert_allclose(mean, colours[path], atol=4)

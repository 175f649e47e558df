"""The audit at photo-library scale: throughput, memory, report size, the report in Chromium, re-audits, bursts.

    python -m benchmarks audit_scale [--n 20000] [--small 5000] [--seed 0]

Builds a seeded synthetic library of ``--n`` small JPEGs (320×240, quality 85, 100 per folder) from
the shared photos (``../shared/data/photos`` and ``bsds500``: random crops and flips), a fifth of
them in bursts of 3–5 shots of one crop (one stop over or under, blurred, noisy, reframed by a few
pixels, 0.4 s apart) and the rest single shots 5 minutes apart, all with EXIF capture times; then:

* ``phoneiqa audit LIB --html report.html --groups`` (fresh cache) on the first ``--small`` photos and
  on all of them, each in its own process: photos/s and the process's peak RSS (the slope per
  1,000 photos extrapolated to 100,000);
* the report: the page's size per photo and in all, and the image folder beside it;
* headless Chromium (Debian's chromium and chromium-driver): time to the first contentful paint of
  the page, and to apply an issue filter;
* the same audit again on the unchanged library (every result from the cache), end to end; then
  again after deleting 1 % of the files (they leave the report);
* the bursts found against the ones made: pairwise precision and recall, and how often the
  clean shot of a burst was ranked first — of all bursts, and of those whose base photo meets the
  bounds a clean base must meet (``phoneiqa.synth.is_well_exposed``): some ``bsds500`` scans are dark
  or bright themselves, and then the shot one stop the other way is rightly the better one.

Each figure is printed beside the one the issue measured on the previous main (4,266 photos).
"""

from __future__ import annotations

import argparse
import collections
import csv
import datetime as dt
import itertools
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from benchmarks import results
from phoneiqa.synth import is_well_exposed, photometric_stats

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
EXIF_IFD, DATE_TIME_ORIGINAL, SUBSEC_TIME_ORIGINAL = 0x8769, 0x9003, 0x9291
SIZE = (320, 240)
BURST_SCENES = 0.06
"""Share of scenes shot as a burst (of 3 to 5): about a fifth of the photos."""
PREVIOUS = {"photos/s": 55.0, "peak MB": 363.0, "report kB/photo": 6.7}
"""The issue's figures for today's main, 4,266 photos of about 500×500."""


def gain(codes: np.ndarray, stops: float) -> np.ndarray:
    c = codes / 255.0
    linear = np.clip(np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4) * 2.0**stops, 0, 1)
    encoded = np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)
    return np.round(255 * encoded).astype(np.uint8)


def shot(base: np.ndarray, rng: np.random.Generator, kind: str) -> np.ndarray:
    """One 320×240 frame of ``base`` (a crop a few pixels larger), clean or with one problem."""
    dy, dx = rng.integers(0, 9, 2)
    frame = base[dy : dy + SIZE[1], dx : dx + SIZE[0]]
    if kind == "over":
        return gain(frame, 1.0)
    if kind == "under":
        return gain(frame, -1.0)
    if kind == "blur":
        return np.asarray(Image.fromarray(frame).filter(ImageFilter.GaussianBlur(2.0)))
    if kind == "noise":
        return np.clip(frame + rng.normal(0, 15, frame.shape), 0, 255).astype(np.uint8)
    return frame


def save(path: Path, pixels: np.ndarray, taken: dt.datetime) -> None:
    exif = Image.Exif()
    exif.get_ifd(EXIF_IFD)[DATE_TIME_ORIGINAL] = taken.strftime("%Y:%m:%d %H:%M:%S")
    exif.get_ifd(EXIF_IFD)[SUBSEC_TIME_ORIGINAL] = f"{taken.microsecond // 10000:02d}"
    Image.fromarray(pixels).save(path, quality=85, exif=exif)


def build_library(folder: Path, n: int, seed: int) -> dict[str, tuple[int, str, bool]]:
    """The library; returns path -> (scene number, kind: ``clean`` or its problem, whether the scene's base
    photo is well exposed by :func:`phoneiqa.synth.is_well_exposed`) for every photo."""
    rng = np.random.default_rng(seed)
    sources = sorted((DATA / "photos").glob("*.webp")) + sorted((DATA / "bsds500").glob("*"))
    bases, well = [], []
    for source in sources:
        with Image.open(source) as image:
            rgb = image.convert("RGB")
        well.append(is_well_exposed(photometric_stats(rgb)))
        bases.append(np.asarray(rgb.resize((SIZE[0] + 40, SIZE[1] + 30))))
    clock, made, scene, scenes = dt.datetime(2026, 1, 1, 8, 0, 0), 0, 0, {}
    while made < n:
        number = rng.integers(len(bases))
        y, x = rng.integers(0, 22), rng.integers(0, 32)
        base = bases[number][y : y + SIZE[1] + 8, x : x + SIZE[0] + 8]
        base = base[:, ::-1] if rng.random() < 0.5 else base
        kinds = ["clean"]
        if rng.random() < BURST_SCENES:
            kinds += list(rng.choice(["over", "under", "blur", "noise"], rng.integers(2, 5), replace=False))
        for kind in kinds[: n - made]:
            path = folder / f"{made // 100:04d}" / f"IMG_{made:06d}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            save(path, shot(base, rng, kind), clock)
            scenes[str(path)] = (scene, kind, well[number])
            made += 1
            clock += dt.timedelta(seconds=0.4)
        scene += 1
        clock += dt.timedelta(minutes=5)
    return scenes


def run_audit(library: Path, args: list[str]) -> tuple[float, float, str]:
    """``phoneiqa audit`` in a child process: (seconds, the child's peak RSS in MB, its stdout)."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "phoneiqa.cli", "audit", str(library), *args], capture_output=True, text=True
    )
    seconds = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise RuntimeError(done.stderr[-2000:])
    return seconds, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, done.stdout


def chromium_times(page: Path) -> dict[str, float]:
    """First contentful paint and the time to apply an issue filter, in ms, in headless Chromium."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"))
    try:
        driver.get(page.resolve().as_uri())
        paint = driver.execute_script(
            "const e = performance.getEntriesByName('first-contentful-paint')[0]; return e ? e.startTime : -1;"
        )
        filtering = driver.execute_script(
            "const s = document.getElementById('issue'); s.value = 'dark'; const t = performance.now();"
            "s.dispatchEvent(new Event('change')); return performance.now() - t;"
        )
        return {"first paint ms": paint, "filter ms": filtering}
    finally:
        driver.quit()


def same_pairs(labels: dict[str, int | None]) -> set[frozenset[str]]:
    """The pairs of paths that share a label (``None``: a photo on its own)."""
    members: dict[int, list[str]] = {}
    for path, label in labels.items():
        if label is not None:
            members.setdefault(label, []).append(path)
    return {frozenset(pair) for group in members.values() for pair in itertools.combinations(group, 2)}


def pair_scores(truth: dict[str, int], found: dict[str, int | None]) -> tuple[float, float]:
    """Pairwise precision and recall of "these two photos are one group"."""
    same_truth, same_found = same_pairs(truth), same_pairs(found)
    hits = len(same_truth & same_found)
    return hits / max(1, len(same_found)), hits / max(1, len(same_truth))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--small", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        library = tmp_path / "library"
        start = time.perf_counter()
        scenes = build_library(library, args.n, args.seed)
        print(f"{args.n} JPEGs of {SIZE[0]}×{SIZE[1]} made in {time.perf_counter() - start:.0f} s")
        small = tmp_path / "small"
        small.mkdir()
        for folder in sorted(library.iterdir())[: args.small // 100]:
            (small / folder.name).symlink_to(folder, target_is_directory=True)
        common = ["--groups", "--html"]
        runs = {}
        for name, lib, n in (("small", small, args.small), ("all", library, args.n)):
            page, cache = tmp_path / f"{name}.html", tmp_path / f"{name}.sqlite3"
            seconds, peak, _ = run_audit(
                lib, [*common, str(page), "--out", str(tmp_path / f"{name}.csv"), "--cache", str(cache)]
            )
            runs[name] = {"n": n, "seconds": seconds, "peak": peak, "page": page, "cache": cache}
        page = runs["all"]["page"]
        page_mb = page.stat().st_size / 1e6
        folder_mb = sum(f.stat().st_size for f in page.with_name(page.name + "_files").rglob("*") if f.is_file()) / 1e6
        slope = (runs["all"]["peak"] - runs["small"]["peak"]) / ((args.n - args.small) / 1000)
        browser = chromium_times(page)
        again, _, out = run_audit(
            library, [*common, str(page), "--out", str(tmp_path / "again.csv"), "--cache", str(runs["all"]["cache"])]
        )
        removed = sorted(library.rglob("*.jpg"))[::100]
        for path in removed:
            path.unlink()
        after, _, _ = run_audit(
            library, [*common, str(page), "--out", str(tmp_path / "after.csv"), "--cache", str(runs["all"]["cache"])]
        )
        with open(tmp_path / "after.csv", newline="") as f:
            rows_after = sum(1 for _ in csv.DictReader(f))
        with open(tmp_path / "all.csv", newline="") as f:
            rows = list(csv.DictReader(f))
    found = {r["path"]: (int(r["group"]) if r["group"] else None) for r in rows}
    precision, recall = pair_scores({p: scene for p, (scene, _, _) in scenes.items()}, found)
    ranks = {r["path"]: r["rank_in_group"] for r in rows}
    sizes = collections.Counter(scene for scene, _, _ in scenes.values())
    clean = {p: well for p, (scene, kind, well) in scenes.items() if kind == "clean" and sizes[scene] > 1}
    firsts = {p: ranks.get(p) == "1" for p in clean}
    clean_first = sum(firsts.values()) / max(1, len(firsts))
    well_first = [first for p, first in firsts.items() if clean[p]]

    rate = {k: v["n"] / v["seconds"] for k, v in runs.items()}
    at_100k = runs["all"]["peak"] + slope * (100 - args.n / 1000)
    table = [
        (f"first audit, {args.small} photos: photos/s", f"{rate['small']:.1f}", f"{PREVIOUS['photos/s']:.1f}"),
        (f"first audit, {args.n} photos: photos/s", f"{rate['all']:.1f}", ""),
        (
            f"peak RSS, {args.small} / {args.n} photos, MB",
            f"{runs['small']['peak']:.0f} / {runs['all']['peak']:.0f}",
            f"{PREVIOUS['peak MB']:.0f}",
        ),
        ("peak RSS slope, MB per 1,000 photos (at 100,000)", f"{slope:.2f} ({at_100k:.0f})", "target <= 500"),
        ("report page, kB per photo (MB in all)", f"{1000 * page_mb / args.n:.2f} ({page_mb:.1f})", "6.7"),
        ("report images beside the page, MB", f"{folder_mb:.1f}", ""),
        ("Chromium: first contentful paint, ms", f"{browser['first paint ms']:.0f}", ""),
        ("Chromium: apply an issue filter, ms", f"{browser['filter ms']:.0f}", ""),
        (f"re-audit of the unchanged {args.n}, end to end, s", f"{again:.1f}", "target <= 10"),
        (f"after deleting {len(removed)} files: s / rows in the report", f"{after:.1f} / {rows_after}", ""),
        ("bursts: pairwise precision / recall", f"{precision:.3f} / {recall:.3f}", "target >= 0.95"),
        ("bursts: clean shot ranked first, all bursts", f"{clean_first:.3f}", ""),
        (
            f"... of the {len(well_first)} whose base is well exposed",
            f"{sum(well_first) / max(1, len(well_first)):.3f}",
            "target >= 0.95",
        ),
    ]
    print(f"\n{'figure':<58}{'this run':>16}{'previous main':>16}")
    for name, value, before in table:
        print(f"{name:<58}{value:>16}{before:>16}")
    print(f"re-audit summary: {out.splitlines()[0]}")
    records = [{"figure": name, "this run": value, "previous main": before} for name, value, before in table]
    results.save("audit_scale", records, {"n": args.n, "small": args.small, "seed": args.seed})


if __name__ == "__main__":
    main()

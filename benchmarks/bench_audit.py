"""Throughput of ``phoneiqa audit`` on phone-sized JPEGs, beside a plain loop calling ``assess`` per file.

    python -m benchmarks audit [--n 200] [--settings 2x8 1x8 2x32 0x8 2x8+html 2x8+explain]

Makes ``--n`` 12 MP JPEGs (4000×3000, quality 92) from the shared clean photos (upscaled, a
different photo or mirror image each), then, in one run on the same files (just written, so
every run finds them in the page cache):
  * a plain loop: ``model = phoneiqa.load(); [model.assess(f) for f in files]``;
  * ``phoneiqa.audit(folder, workers=W, batch_size=B, cache=False)`` for each ``WxB`` setting
    (W decoding processes beside the main process); ``WxB+html`` adds the HTML report's thumbnails,
    ``WxB+explain`` thumbnails and exposure-map overlays (``phoneiqa audit --html --explain``);
and prints images per second and the ratio against the loop, plus a check that the audit's
scores equal the loop's, and the throughput of ``+explain`` against ``+html`` when both ran.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from benchmarks.results import save

PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "photos"


def make_jpegs(folder: Path, n: int) -> list[Path]:
    """``n`` 12 MP JPEGs, each from a shared photo (mirrored on the second pass over them)."""
    sources = sorted(PHOTOS.glob("*.webp"))
    paths = []
    for i in range(n):
        image = Image.open(sources[i % len(sources)]).convert("RGB").resize((4000, 3000), Image.Resampling.BICUBIC)
        if (i // len(sources)) % 2:
            image = ImageOps.mirror(image)
        path = folder / f"IMG_{i:04d}.jpg"
        image.save(path, quality=92)
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument(
        "--settings", nargs="+", default=["2x8", "1x8", "2x32", "0x8", "2x8+html", "2x8+explain"], help="WORKERSxBATCH"
    )
    args = parser.parse_args()
    import phoneiqa
    from phoneiqa.audit import DEFAULT_BATCH_SIZE, audit
    from phoneiqa.audit.decode import default_workers

    model = phoneiqa.load("default")  # compiled once and cached before anything is timed
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        files = make_jpegs(Path(tmp), args.n)
        size = sum(f.stat().st_size for f in files) / len(files) / 1e6
        print(f"{args.n} JPEGs of 4000×3000 ({size:.1f} MB each) made in {time.perf_counter() - start:.0f} s")

        start = time.perf_counter()
        loop = [model.assess(str(f)).score for f in files]
        loop_rate = len(files) / (time.perf_counter() - start)
        rows = [("plain loop: assess() per file", loop_rate, 1.0, 0.0)]
        rates = {}
        for setting in args.settings:
            size, _, extra = setting.partition("+")
            workers, batch = map(int, size.split("x"))
            options = {"thumbnails": extra in ("html", "explain"), "explain": extra == "explain"}
            start = time.perf_counter()
            table = audit(tmp, workers=workers, batch_size=batch, cache=False, progress=False, **options)
            rates[setting] = rate = len(files) / (time.perf_counter() - start)
            diff = float(np.abs(np.asarray(table["score"], dtype=float) - np.asarray(loop)).max())
            name = f"audit, {workers} workers, batch {batch}" + (f", {extra}" if extra else "")
            rows.append((name, rate, rate / loop_rate, diff))

    print(f"\n{os.cpu_count()} CPU cores; defaults: {default_workers()} workers, batch size {DEFAULT_BATCH_SIZE}")
    print(f"{'run':<34}{'images/s':>10}{'vs loop':>9}{'max |score diff|':>18}")
    for name, rate, ratio, diff in rows:
        print(f"{name:<34}{rate:>10.1f}{ratio:>8.2f}×{diff:>18.1e}")
    for setting, rate in rates.items():
        html = setting.replace("+explain", "+html")
        if setting.endswith("+explain") and html in rates:
            print(f"{setting} / {html}: {rate / rates[html]:.2f} of the throughput (target >= 0.80)")
    table = [{"run": n, "images/s": r, "vs loop": q, "max score diff": d} for n, r, q, d in rows]
    save("audit", table, {"n": args.n, "cpus": os.cpu_count(), "workers default": default_workers()})


if __name__ == "__main__":
    main()

"""The light install beside the full one: install time and size, import time, one assessment's time and memory.

    python -m benchmarks install [--full-venv .venv] [--runs 5]

Creates a fresh venv with ``pip install .`` (the core: the runtime only) and, unless ``--full-venv``
names an existing one, a second with every extra (``.[train,pandas,clip,superpixels,ray,test]``);
then, in each, times ``import phoneiqa`` and a first ``phoneiqa.assess`` of a 12 MP JPEG in fresh
processes (median of ``--runs``) and reads the peak resident memory of that process.  Sizes are
the whole venv on disk (pip included).  Run from the repository root; pip reads the package index
(or this machine's local one).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from benchmarks.results import save

ROOT = Path(__file__).resolve().parents[1]
FULL_EXTRAS = "train,pandas,clip,superpixels,ray,test"
PROBE = """
import json, resource, sys, time
start = time.perf_counter()
import phoneiqa
imported = time.perf_counter()
a = phoneiqa.assess(sys.argv[1])
done = time.perf_counter()
heavy = sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'pandas', 'sklearn', 'scipy', 'matplotlib'})
print(json.dumps({"import_s": imported - start, "first_assess_s": done - imported,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "heavy": heavy}))
"""


def folder_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink()) / 1e6


def make_venv(folder: Path, spec: str) -> float:
    """Create a venv in ``folder`` and ``pip install spec`` into it; the seconds it took."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    subprocess.run([str(folder / "bin" / "pip"), "install", "-q", spec], check=True, capture_output=True)
    return time.perf_counter() - start


def probe(venv: Path, photo: Path, runs: int, cwd: Path) -> dict[str, float | list[str]]:
    """Medians over ``runs`` fresh processes of the import time, first assessment and peak memory."""
    results = []
    for _ in range(runs):
        out = subprocess.run(
            [str(venv / "bin" / "python"), "-c", PROBE, str(photo)], capture_output=True, text=True, cwd=cwd, check=True
        )
        results.append(json.loads(out.stdout.splitlines()[-1]))
    medians = {key: statistics.median(r[key] for r in results) for key in ("import_s", "first_assess_s", "peak_mb")}
    return {**medians, "heavy": results[0]["heavy"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full-venv", type=Path, help="an existing venv with every extra (default: build one)")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        photo = tmp_path / "photo_12mp.jpg"
        with Image.open(ROOT / "phoneiqa" / "samples" / "china.jpg") as sample:
            sample.convert("RGB").resize((4000, 3000), Image.Resampling.BICUBIC).save(photo, quality=92)
        rows = []
        core = tmp_path / "core"
        rows.append(("core: pip install .", make_venv(core, str(ROOT)), core))
        if args.full_venv is None:
            full = tmp_path / "full"
            rows.append((f"full: pip install .[{FULL_EXTRAS}]", make_venv(full, f"{ROOT}[{FULL_EXTRAS}]"), full))
        else:
            rows.append((f"full: {args.full_venv} (not timed)", float("nan"), args.full_venv.resolve()))
        print(f"{'install':<58}{'install s':>10}{'size MB':>9}{'import s':>9}{'assess s':>9}{'peak MB':>9}  heavy")
        measured = []
        for name, seconds, venv in rows:
            m = probe(venv, photo, args.runs, tmp_path)
            measured.append((folder_mb(venv), m))
            print(
                f"{name:<58}{seconds:>10.1f}{measured[-1][0]:>9.0f}{m['import_s']:>9.2f}{m['first_assess_s']:>9.2f}"
                f"{m['peak_mb']:>9.0f}  {','.join(m['heavy']) or '-'}"
            )
        (core_mb, core_m), (full_mb, full_m) = measured
        table = [
            {
                "install": name,
                "install s": seconds,
                "size MB": size,
                "import s": m["import_s"],
                "assess s": m["first_assess_s"],
                "peak MB": m["peak_mb"],
                "heavy": ",".join(m["heavy"]) or "-",
            }
            for (name, seconds, _), (size, m) in zip(rows, measured, strict=True)
        ]
        save("install", table, {"runs": args.runs})
        print(
            f"core / full: size {core_mb / full_mb:.3f}, import {core_m['import_s'] / full_m['import_s']:.2f}, "
            f"first assessment {core_m['first_assess_s'] / full_m['first_assess_s']:.2f}, "
            f"peak memory {core_m['peak_mb'] / full_m['peak_mb']:.2f}; core target: <= 300 MB"
        )


if __name__ == "__main__":
    main()

"""XMP sidecars at library scale: writing them for a re-audit of 20,000 cached photos (issue: at most 10 s).

    python -m benchmarks xmp [--n 20000] [--seed 0]

An audit of a cached library reads its table back from the result cache in a fraction of a second
(``python -m benchmarks audit_scale``); what ``--xmp`` adds is :func:`phoneiqa.xmp.write_sidecars`, timed
here on a seeded table of ``--n`` photos (100 per folder, scores and levels drawn like a phone library's,
a fifth of them in sure bursts of 4) whose files are empty placeholders (the photos are never opened):

* ``new``: no sidecar yet, every one written (temporary file + rename);
* ``unchanged``: the same again, three times (best and worst shown), every sidecar read, parsed, merged and
  left as it is: the re-audit of a cached library;
* ``changed``: every fifth photo's results differ, so those sidecars are rewritten;
* ``foreign``: each photo already has a sidecar written by exiftool-like tools (creator, rating, keywords),
  merged into on the first run.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.results import save
from phoneiqa.audit.table import AuditTable
from phoneiqa.xmp import write_sidecars

ISSUES = ["bright", "dark", "low_contrast", "high_contrast", "overexposed", "over_suppressed"]
LEVELS = ["none", "normal", "severe", "blocking"]
FOREIGN = """<?xpacket begin='\ufeff' id='W5M0MpCehiHzreSzNTczkc9d'?>
<x:xmpmeta xmlns:x='adobe:ns:meta/' x:xmptk='Image::ExifTool 12.57'>
<rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'>
 <rdf:Description rdf:about='' xmlns:dc='http://purl.org/dc/elements/1.1/'>
  <dc:creator><rdf:Seq><rdf:li>Ann Example</rdf:li></rdf:Seq></dc:creator>
  <dc:subject><rdf:Bag><rdf:li>holiday</rdf:li><rdf:li>beach</rdf:li></rdf:Bag></dc:subject>
 </rdf:Description>
 <rdf:Description rdf:about='' xmlns:xmp='http://ns.adobe.com/xap/1.0/'>
  <xmp:Rating>4</xmp:Rating>
 </rdf:Description>
</rdf:RDF>
</x:xmpmeta>
<?xpacket end='w'?>
"""


def library(root: Path, n: int, seed: int, foreign: bool) -> AuditTable:
    """``n`` empty placeholder photos under ``root`` (and exiftool-like sidecars when ``foreign``) and their table."""
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        path = root / f"folder_{i // 100:03d}" / f"IMG_{i:05d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        if foreign:
            path.with_suffix(".xmp").write_text(FOREIGN, encoding="utf-8")
        paths.append(str(path))
    levels = rng.choice(4, size=(n, len(ISSUES)), p=[0.9, 0.06, 0.03, 0.01])
    data = {"path": paths, "score": np.clip(rng.normal(55, 15, n), 0, 100).round(3).tolist()}
    data |= {issue: levels[:, k].tolist() for k, issue in enumerate(ISSUES)}
    data["error"] = [""] * n
    in_burst = np.arange(n) < n // 5
    data["group"] = [i // 4 + 1 if b else None for i, b in enumerate(in_burst)]
    data["group_sure"] = [True if b else None for b in in_burst]
    data["rank_in_group"] = [i % 4 + 1 if b else None for i, b in enumerate(in_burst)]
    return AuditTable(data, {"model": "0123abcd-0.1.0", "level_names": dict.fromkeys(ISSUES, LEVELS)})


def timed(table: AuditTable) -> tuple[float, int, int]:
    start = time.perf_counter()
    report = write_sidecars(table, model="default")
    assert not report.problems, report.problems
    return time.perf_counter() - start, len(report.written), len(report.unchanged)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        table = library(Path(tmp) / "plain", args.n, args.seed, foreign=False)
        rows.append(("new", *timed(table)))
        again = [timed(table) for _ in range(3)]  # the re-audit: the figure the issue bounds, best and worst of 3
        rows.append(("unchanged (best of 3)", *min(again)))
        rows.append(("unchanged (worst of 3)", *max(again)))
        changed = AuditTable(dict(table.data), table.attrs)
        changed.data["score"] = [s + (7.0 if i % 5 == 0 else 0.0) for i, s in enumerate(table["score"])]
        rows.append(("changed", *timed(changed)))
        table = library(Path(tmp) / "foreign", args.n, args.seed, foreign=True)
        rows.append(("foreign", *timed(table)))
    result = [
        {"run": run, "photos": args.n, "seconds": s, "photos/s": args.n / s, "written": w, "unchanged": u}
        for run, s, w, u in rows
    ]
    for row in result:
        print(
            f"{row['run']:>22}: {row['seconds']:6.2f} s for {row['photos']} photos ({row['photos/s']:,.0f}/s), "
            f"{row['written']} written, {row['unchanged']} unchanged"
        )
    formats = {"xmp": {"seconds": "{:.2f}", "photos/s": "{:,.0f}"}}
    save("xmp", result, meta={"n": args.n, "seed": args.seed}, formats=formats)


if __name__ == "__main__":
    main()

"""How often the default model flags real photos: the clean photos, and CLIVE by score tercile.

    python -m benchmarks flags

Real photos without issue labels, so this measures false alarms only where photos are known to
be good: ``../shared/data/photos`` (114 clean, well-exposed photos; note the graded training set
was made from them, so they are not unseen) and a fifth of CLIVE (``runs/clive_split/val.csv``,
written by ``tools/train_shipped_models.py``; unseen by the issue head except that well-exposed
CLIVE photos also served as bases of graded training images; the score head was fitted on all of CLIVE).
Prints, per group, the share of photos with any issue and with each issue at level >= 1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import phoneiqa
from benchmarks.results import save
from phoneiqa.labels import LABELS

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def flag_rates(paths: list[Path], model: phoneiqa.model.Model) -> dict[str, float]:
    levels = np.array([[a.issues[k] for k in LABELS] for a in model.assess(paths, batch_size=16)])
    return {"any": float((levels > 0).any(axis=1).mean()), **dict(zip(LABELS, (levels > 0).mean(axis=0), strict=True))}


def main() -> None:
    model = phoneiqa.load("default")
    groups = {"clean photos (114)": sorted((DATA / "photos").glob("*.webp"))}
    split = ROOT / "runs" / "clive_split" / "val.csv"
    if split.exists():
        val = pd.read_csv(split)
        terciles = pd.qcut(val["mos"], 3, labels=["low", "mid", "high"])
        for name in ("high", "mid", "low"):
            rows = val[terciles == name]
            label = f"CLIVE val, {name} MOS ({rows['mos'].min():.0f}-{rows['mos'].max():.0f}, {len(rows)})"
            groups[label] = [DATA / "clive" / "images" / f for f in rows["filename"]]
    print(f"{'photos':<34}{'any issue':>10}" + "".join(f"{k:>16}" for k in LABELS))
    table = {}
    for name, paths in groups.items():
        rates = flag_rates(paths, model)
        table[name] = {"any issue": rates["any"], **{k: rates[k] for k in LABELS}}
        print(f"{name:<34}{100 * rates['any']:>9.1f}%" + "".join(f"{100 * rates[k]:>15.1f}%" for k in LABELS))
    percent = dict.fromkeys(["any issue", *LABELS], "{:.1%}")
    save("flags", table, {"model": "default"}, formats={"flags": percent})


if __name__ == "__main__":
    main()

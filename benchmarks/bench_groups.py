"""Bursts and near-repeats (``phoneiqa.groups``) on real photos, the grouping of ``--previous`` beside this one.

    python -m benchmarks groups [--previous e20154d]

Every photo is decoded as the audit decodes it (``phoneiqa.image.load_image``, short side at least
:data:`SHORT_SIDE`) and given each version's signature; ``--previous``'s ``phoneiqa/groups.py`` is read from
git and run beside the working tree's.  Ground truth from ``../shared/data``:

- ``clive/`` and ``bsds500/`` (1,422 photos, no capture times): grouped as one library in path order, as the
  audit does; every pair of photos in one group is a false pair unless listed in
  :data:`KNOWN_NEAR_DUPLICATES` (looked through by eye: shots of one scene).  ``all pairs``: the pairs of any
  two of these photos (not only a window in path order) that the version links without capture times;
- ``mefb/`` (55 scenes, each an under- and an over-exposed capture, no capture times): pairwise precision and
  recall of "these two photos are one group", in path order;
- the generated bursts of ``tests/test_groups.py`` (20 scenes of ``photos/`` shot four times: clean, one stop
  over, blurred, noisy, each framed a few pixels apart; 10 single photos), with and without capture times.

Groups count whatever their confidence; ``sure`` rows count only the sure groups of this version (the old one
had no confidence).  Also: the time to group 1,000 photos.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import io
import itertools
import subprocess
import time
import types
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.results import save
from phoneiqa import groups
from phoneiqa.image import load_image

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
SHORT_SIDE = 224
"""Short side the photos are decoded to at least (the shipped models' input side)."""
KNOWN_NEAR_DUPLICATES = [
    {"246.webp", "333.webp"},  # one shot stored twice
    {"672.JPG", "694.JPG", "671.JPG"},  # a stage and its audience
    {"824.JPG", "825.JPG"},  # a bar
    {"700.JPG", "701.JPG", "702.JPG"},  # the same coins, moved
    {"705.JPG", "706.JPG"},  # a cat on a cushion
    {"710.JPG", "718.JPG"},  # a bowling alley
    {"814.JPG", "815.JPG"},  # green lights at night
    {"816.JPG", "817.JPG", "818.JPG"},  # a man in a park at night
    {"675.JPG", "676.JPG"},  # a band on a stage
    {"597.JPG", "599.JPG", "600.JPG"},  # fireworks over a crowd
    {"661.JPG", "663.JPG"},  # a lit tree over water
]
"""Photos of ``clive/`` (by file name) that show one scene: grouping them is no false pair."""
Grouping = Callable[[Sequence[str], Sequence[float | None], np.ndarray], list[list[int]]]


def previous_groups(commit: str) -> types.ModuleType:
    """``phoneiqa/groups.py`` as at ``commit``, as a module."""
    source = subprocess.run(
        ["git", "show", f"{commit}:phoneiqa/groups.py"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    module = types.ModuleType(f"groups_{commit}")
    exec(compile(source, f"{commit}:phoneiqa/groups.py", "exec"), module.__dict__)
    return module


def grouping(module: types.ModuleType, sure: bool = False) -> Grouping:
    """The member lists of ``module.find_groups`` (only its sure groups when ``sure``)."""

    def find(paths: Sequence[str], taken: Sequence[float | None], signatures: np.ndarray) -> list[list[int]]:
        found = module.find_groups(paths, taken, signatures)
        return [g if isinstance(g, list) else g.members for g in found if not sure or getattr(g, "sure", True)]

    return find


def decoded(path: Path) -> Image.Image:
    """A photo as the audit decodes it."""
    return load_image(str(path), min_short_side=SHORT_SIDE)


def same_pairs(groups_found: list[list[int]]) -> set[frozenset[int]]:
    """Every two photos that share a group."""
    return {frozenset(p) for g in groups_found for p in itertools.combinations(g, 2)}


def precision_recall(found: set[frozenset[int]], truth: set[frozenset[int]]) -> str:
    """Pairwise precision and recall of "these two photos are one group", as ``"P / R"``."""
    hits = len(found & truth)
    return f"{hits / max(1, len(found)):.3f} / {hits / max(1, len(truth)):.3f}"


def known(names: Sequence[str]) -> set[frozenset[int]]:
    """The pairs of photos (indices into ``names``) that :data:`KNOWN_NEAR_DUPLICATES` lists."""
    where = {Path(n).name: i for i, n in enumerate(names) if n.startswith("clive/")}
    return {
        frozenset((where[a], where[b])) for same in KNOWN_NEAR_DUPLICATES for a, b in itertools.combinations(same, 2)
    }


def generated_bursts() -> tuple[list[Image.Image], list[int], list[float]]:
    """The bursts of ``tests/test_groups.py`` (JPEGs decoded back), each shot's scene and capture time."""
    spec = importlib.util.spec_from_file_location("test_groups", ROOT / "tests" / "test_groups.py")
    test_groups = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(test_groups)
    START, burst = test_groups.START, test_groups.burst

    rng = np.random.default_rng(0)
    images, scenes, times, clock = [], [], [], START
    for k, source in enumerate(sorted((DATA / "photos").glob("*.webp"))[:30]):
        with Image.open(source) as image:
            scene = np.asarray(image.convert("RGB").resize((330, 250)))
        shots = burst(scene, rng) if k < 20 else {"a_single": scene[6:-6, 6:-6]}
        for pixels in shots.values():
            data = io.BytesIO()
            Image.fromarray(pixels).save(data, "JPEG", quality=92)
            images.append(load_image(data.getvalue(), min_short_side=SHORT_SIDE))
            scenes.append(k)
            times.append(clock.replace(tzinfo=dt.timezone.utc).timestamp())
            clock += dt.timedelta(seconds=0.4)
        clock += dt.timedelta(minutes=3)
    return images, scenes, times


def series_truth(labels: Sequence[int | str]) -> set[frozenset[int]]:
    """The pairs of photos with one label."""
    return {frozenset((a, b)) for a, b in itertools.combinations(range(len(labels)), 2) if labels[a] == labels[b]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--previous", default="e20154d", help="commit whose grouping is measured beside this one (before sure groups)"
    )
    args = parser.parse_args()
    old = previous_groups(args.previous)
    versions = {f"{args.previous} (16×16 ranks >= 0.75)": old, "new": groups}

    library = sorted(p for folder in ("clive/images", "bsds500") for p in (DATA / folder).glob("*.*"))
    library = [p for p in library if p.suffix.lower() in {".jpg", ".jpeg", ".png", ".webp", ".bmp"}]
    names = [str(p.relative_to(DATA)) for p in library]
    series = sorted((DATA / "mefb" / "images").glob("*.jpg"))
    scenes = [p.stem.rsplit("_", 1)[0] for p in series]
    library_images = [decoded(p) for p in library]
    series_images = [decoded(p) for p in series]
    burst_images, burst_scenes, burst_times = generated_bursts()
    duplicates, series_pairs, burst_pairs = known(names), series_truth(scenes), series_truth(burst_scenes)
    none = [None] * len(library)

    rows: dict[str, dict[str, str]] = {}
    for label, module in versions.items():
        sign = lambda images: np.stack([module.signature(im) for im in images])  # noqa: E731,B023
        lib, ser, gen = sign(library_images), sign(series_images), sign(burst_images)
        for sure in (False, True) if module is groups else (False,):
            find, column = grouping(module, sure), label + (" sure" if sure else "")
            start = time.perf_counter()
            found = same_pairs(find(names, none, lib))
            seconds = time.perf_counter() - start
            false = found - duplicates
            found_series = same_pairs(find([p.name for p in series], [None] * len(series), ser))
            untimed = same_pairs(find([f"{i:04d}" for i in range(len(gen))], [None] * len(gen), gen))
            timed = same_pairs(find([f"{i:04d}" for i in range(len(gen))], burst_times, gen))
            cells = {
                "false pairs, clive+bsds500 in path order": f"{len(false)}",
                "  per 1,000 photos": f"{1000 * len(false) / len(library):.2f}",
                "  known near-duplicate pairs grouped": f"{len(found & duplicates)}/{len(duplicates)}",
                "mefb series precision / recall": precision_recall(found_series, series_pairs),
                "generated bursts, no times P / R": precision_recall(untimed, burst_pairs),
                "generated bursts, capture times P / R": precision_recall(timed, burst_pairs),
                "seconds to group 1,000 photos": f"{1000 * seconds / len(library):.2f}",
            }
            if not sure:
                false_anywhere = all_pairs(module, lib) - duplicates
                cells["false pairs among all pairs, per 1,000 photos"] = (
                    f"{1000 * len(false_anywhere) / len(library):.2f}"
                )
            rows[column] = cells
    targets = {
        "false pairs, clive+bsds500 in path order": "",
        "  per 1,000 photos": "<= 1",
        "  known near-duplicate pairs grouped": "",
        "mefb series precision / recall": ">= 0.98 / 0.95",
        "generated bursts, no times P / R": ">= 0.95 / 0.95",
        "generated bursts, capture times P / R": ">= 0.95 / 0.95",
        "seconds to group 1,000 photos": "",
        "false pairs among all pairs, per 1,000 photos": "",
    }
    columns = list(rows)
    widths = [max(len(c), 16) for c in columns]
    print(f"{'':48}{'target':>16}" + "".join(f"{c:>{w + 2}}" for c, w in zip(columns, widths, strict=True)))
    for measure, target in targets.items():
        cells = "".join(f"{rows[c].get(measure, ''):>{w + 2}}" for c, w in zip(columns, widths, strict=True))
        print(f"{measure:48}{target:>16}{cells}")
    table = {m.strip(): {"target": t, **{c: rows[c].get(m, "") for c in columns}} for m, t in targets.items()}
    save("groups", table, {"previous": args.previous})


def all_pairs(module: types.ModuleType, signatures: np.ndarray) -> set[frozenset[int]]:
    """Every two photos that ``module`` links without capture times, whatever their places in path order."""
    if module is groups:
        layout, detail = groups.similarity_matrices(signatures)
        linked = groups.same_scene_from(layout, detail)
    else:
        unit = module._unit(signatures)
        linked = unit @ unit.T >= module.MIN_SIMILARITY
    return {frozenset((int(a), int(b))) for a, b in zip(*np.nonzero(np.triu(linked, 1)), strict=True)}


if __name__ == "__main__":
    main()

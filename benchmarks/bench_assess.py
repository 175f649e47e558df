"""End-to-end speed and memory of ``assess`` on phone-sized JPEGs, each beside a full decode of the same file.

    python -m benchmarks assess [--runs 15] [--threads 2] [--models fast accurate] [--backends onnx int8] [--seed]

Makes a 12 MP (4000×3000) and a 48 MP (8000×6000) JPEG by upscaling a shared clean photo, then, for
each shipped model of ``--models`` and backend of ``--backends`` (``onnx``: the packed float runtime,
``int8``: its int8 form, ``torch``: PyTorch), in a fresh process of its own as an application would run it:
  * times ``assess(path)`` (decode at reduced scale, resize, encoders, both heads) interleaved with a
    full Pillow decode of the same file (``Image.open(path).convert("RGB")``), so the ratio of the two
    medians is measured under the same load; and what ``explain=True`` adds;
  * times each stage of ``assess`` separately: the reduced-scale decode (``load_scaled``), each encoder
    part's resize, the numpy parts' features, and the model call (networks, heads, HEX levels);
  * records the 12 MP photo's score, to show each backend's score change against the float runtime;
  * in another fresh process, the peak resident memory of loading the model and assessing the 48 MP file.
``--seed`` adds the seed system's pipeline (full decode, 300×300, five 224×224 crops through open_clip
ViT-B-32's image tower, random weights: only the cost matters).  Prints and saves (``runs/bench/assess.json``)
the speed table, the stage breakdown and the memory table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from benchmarks.results import save

PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "photos"


def make_jpeg(path: Path, size: tuple[int, int]) -> Path:
    """A JPEG of ``size`` (quality 92) upscaled from the first shared clean photo."""
    base = Image.open(sorted(PHOTOS.glob("*.webp"))[0]).convert("RGB")
    base.resize(size, Image.Resampling.BICUBIC).save(path, quality=92)
    return path


def median_ms(fn: Callable[[], object], runs: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def seed_clip_pipeline() -> Callable[[Path], object]:
    """The seed system's image path: full decode, 300×300, FiveCrop 224, ViT-B-32 image tower."""
    import open_clip
    import torch
    from torchvision import transforms

    model = open_clip.create_model("ViT-B-32", pretrained=None).eval()
    prep = transforms.Compose(
        [
            transforms.Resize((300, 300), interpolation=transforms.InterpolationMode.BICUBIC),
            transforms.FiveCrop(224),
            transforms.Lambda(lambda crops: torch.stack([transforms.functional.to_tensor(c) for c in crops])),
            transforms.Normalize(open_clip.OPENAI_DATASET_MEAN, open_clip.OPENAI_DATASET_STD),
        ]
    )

    def run(path: Path) -> object:
        with Image.open(path) as im, torch.no_grad():
            return model.encode_image(prep(im.convert("RGB"))).mean(0)

    return run


def peak_mb() -> int:
    """VmHWM, the peak resident set of this process image (``ru_maxrss`` would carry the forking
    parent's peak over exec)."""
    status = Path("/proc/self/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM"))) // 1024


def child(mode: str, path: str, backend: str, name: str, runs: int) -> None:
    """What a fresh process measures: ``time`` (medians of assess, a full decode and the stages) or ``rss`` (peaks)."""
    import numpy as np

    import phoneiqa
    from phoneiqa.preprocess import load_scaled, resize_image
    from phoneiqa.runtime import NUMPY_PARTS

    start = peak_mb()
    model = phoneiqa.load(name, backend=backend)
    loaded = peak_mb()
    if mode == "rss":
        model.assess(path)
        print(json.dumps({"import": start, "loaded": loaded, "done": peak_mb(), "torch": "torch" in sys.modules}))
        return
    side = model.short_side
    full, ours = interleaved(lambda: Image.open(path).convert("RGB"), lambda: model.assess(path), runs)
    image = load_scaled(path, side)
    times = {"full decode": full, "assess": ours, "explain": median_ms(lambda: model.assess(path, explain=True), runs)}
    stages = {
        "decode (reduced scale)": median_ms(lambda: load_scaled(path, side), runs),
        "decode at 1/8 scale (the least any model pays)": median_ms(lambda: decode_eighth(path), runs),
    }
    parts = getattr(model, "parts", [])  # the runtime's (name, kind, preprocess); the PyTorch model has none
    for part, kind, p in parts:
        view = f"{part} {p.window}@{p.short_side}" if p.window else f"{part} {p.short_side}"
        stages[f"resize {view}"] = median_ms(lambda p=p: resize_image(image, p), runs)
        if kind == "numpy":
            pixels = np.asarray(resize_image(image, p))[None]
            stages[f"features {part}"] = median_ms(lambda part=part, x=pixels: NUMPY_PARTS[part](x), runs)
    if parts:
        prepare = model.preparer(parallel=True)
        prepared = [prepare(image)]
        stages["prepare (all resizes and features, on the cores)"] = median_ms(lambda: prepare(image), runs)
        stages["model call (networks, heads, levels)"] = median_ms(lambda: model.run(prepared), runs)
    else:
        stages["model call (networks, heads, levels)"] = median_ms(lambda: model.predict_images([image]), runs)
    score = model.assess(path).score
    print(json.dumps({"times": times, "stages": stages, "score": score}))


def decode_eighth(path: str) -> Image.Image:
    """The photo decoded at 1/8 scale, JPEG's smallest DCT scaling: what reading it costs at the least."""
    image = Image.open(path)
    image.draft("RGB", (image.width // 8, image.height // 8))
    image.load()
    return image


def interleaved(first: Callable[[], object], second: Callable[[], object], runs: int) -> tuple[float, float]:
    """Median ms of two calls timed alternately (one warm-up each), so both see the same load."""
    first(), second()
    a, b = [], []
    for _ in range(runs):
        for fn, times in ((first, a), (second, b)):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    return 1000 * statistics.median(a), 1000 * statistics.median(b)


def in_fresh_process(mode: str, path: Path, backend: str, name: str, runs: int, threads: int) -> dict:
    """Run :func:`child` in a new interpreter that imports only what the backend needs."""
    root = str(Path(__file__).resolve().parents[1])
    pythonpath = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": pythonpath}
    cmd = [sys.executable, __file__, "--child", mode, str(path), backend, name, "--runs", str(runs)]
    return json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stdout.splitlines()[-1])


NAMES = {"onnx": "float runtime", "int8": "int8 runtime", "torch": "PyTorch"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", nargs="+", default=["fast", "accurate"], help="shipped model names")
    parser.add_argument("--backends", nargs="+", default=["onnx", "int8"], choices=sorted(NAMES))
    parser.add_argument("--seed", action="store_true", help="also time the seed CLIP pipeline (needs open_clip)")
    parser.add_argument("--child", nargs=4, metavar=("MODE", "PATH", "BACKEND", "MODEL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child, args.runs)
        return
    import phoneiqa

    runs = [(name, backend) for name in args.models for backend in args.backends]
    for name, backend in runs:
        if backend != "torch":
            phoneiqa.load(name, backend=backend)  # builds and caches a runtime once, so the children load it
    with tempfile.TemporaryDirectory() as tmp:
        jpeg12 = make_jpeg(Path(tmp) / "12mp.jpg", (4000, 3000))
        jpeg48 = make_jpeg(Path(tmp) / "48mp.jpg", (8000, 6000))
        timings = {run: in_fresh_process("time", jpeg12, run[1], run[0], args.runs, args.threads) for run in runs}
        seed_ms = None
        if args.seed:
            import torch

            torch.set_num_threads(args.threads)
            clip = seed_clip_pipeline()
            seed_ms = median_ms(lambda: clip(jpeg12), max(3, args.runs // 3))
        rss = {run: in_fresh_process("rss", jpeg48, run[1], run[0], 1, args.threads) for run in runs}
    tables = report(timings, rss, seed_ms, args.threads, args.runs)
    save(
        "assess", tables, {"runs": args.runs, "threads": args.threads, "models": args.models, "backends": args.backends}
    )


def report(timings: dict, rss: dict, seed_ms: float | None, threads: int, runs: int) -> dict[str, list[dict]]:
    """Print the tables and return them for :func:`save`."""
    floats = {name: t["score"] for (name, backend), t in timings.items() if backend == "onnx"}
    speed = []
    for (name, backend), t in timings.items():
        ms = t["times"]
        row = {
            "pipeline": f"{name}, {NAMES[backend]}",
            "assess ms": ms["assess"],
            "full decode ms": ms["full decode"],
            "× full decode": ms["assess"] / ms["full decode"],
            "explain=True adds ms": ms["explain"] - ms["assess"],
            "score": t["score"],
            "score change vs float": t["score"] - floats[name] if name in floats else None,
        }
        if seed_ms is not None:
            row["vs seed"] = seed_ms / ms["assess"]
        speed.append(row)
    if seed_ms is not None:
        speed.append({"pipeline": "seed CLIP ViT-B-32 pipeline", "assess ms": seed_ms})
    stages = [{"pipeline": f"{name}, {NAMES[backend]}", **t["stages"]} for (name, backend), t in timings.items()]
    memory = [
        {
            "model, backend": f"{name}, {backend}",
            "import MB": r["import"],
            "model loaded MB": r["loaded"],
            "after assess MB": r["done"],
            "the photo adds MB": r["done"] - r["loaded"],
            "torch imported": r["torch"],
        }
        for (name, backend), r in rss.items()
    ]
    titles = {
        "speed, 12 MP JPEG": f"12 MP JPEG (4000×3000), {threads} threads, medians of {runs} runs, a fresh process each",
        "stages of assess, 12 MP JPEG (ms)": "stages of assess, 12 MP JPEG (medians, ms)",
        "peak RSS, 48 MP JPEG": "peak RSS (MB) of a fresh process assessing a 48 MP JPEG (8000×6000)",
    }
    tables = {"speed, 12 MP JPEG": speed, "stages of assess, 12 MP JPEG (ms)": stages, "peak RSS, 48 MP JPEG": memory}
    for key, rows in tables.items():
        print(f"\n{titles[key]}")
        columns = list(dict.fromkeys(c for row in rows for c in row))
        print(" | ".join(columns))
        for row in rows:
            print(" | ".join(_cell(row.get(c)) for c in columns))
    return tables


def _cell(value: object) -> str:
    return f"{value:.2f}" if isinstance(value, float) else "" if value is None else str(value)


if __name__ == "__main__":
    main()

"""End-to-end speed and memory of ``assess`` on phone-sized JPEGs, beside the seed's CLIP pipeline.

    python -m benchmarks assess [--runs 15] [--threads 2] [--models default accurate]

Makes a 12 MP (4000×3000) and a 48 MP (8000×6000) JPEG by upscaling a shared clean photo, then
times, in one run and on the same file (each phoneiqa backend in a fresh process of its own, as an
application would run it):
  * each shipped model of ``--models``, compiled runtime (ONNX Runtime + numpy, no torch) and PyTorch
    backends: file path in, Assessment out (decode at reduced scale, resize, encoders, both heads),
    and what ``explain=True`` (the exposure maps) adds to that;
  * the seed system's pipeline: full decode, resize to 300×300, five 224×224 crops through
    open_clip ViT-B-32's image tower (random weights: only the cost matters).
and the peak resident memory of a fresh process that loads a model and assesses the 48 MP file.
Prints medians, the stage breakdown and the speed ratios.
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
    """What a fresh process measures: ``time`` (medians of assess and its stages) or ``rss`` (peaks)."""
    import phoneiqa
    from phoneiqa.preprocess import load_scaled

    start = peak_mb()
    model = phoneiqa.load(name, backend=backend)
    loaded = peak_mb()
    if mode == "rss":
        model.assess(path)
        print(json.dumps({"import": start, "loaded": loaded, "done": peak_mb(), "torch": "torch" in sys.modules}))
        return
    side = model.short_side
    image = load_scaled(path, side)
    times = {
        "assess": median_ms(lambda: model.assess(path), runs),
        "explain": median_ms(lambda: model.assess(path, explain=True), runs),
        "decode": median_ms(lambda: load_scaled(path, side), runs),
        "predict": median_ms(lambda: model.predict_images([image]), runs),
    }
    print(json.dumps(times))


def in_fresh_process(mode: str, path: Path, backend: str, name: str, runs: int, threads: int) -> dict:
    """Run :func:`child` in a new interpreter that imports only what the backend needs."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    cmd = [sys.executable, __file__, "--child", mode, str(path), backend, name, "--runs", str(runs)]
    return json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", nargs="+", default=["default", "accurate"], help="shipped model names")
    parser.add_argument("--child", nargs=4, metavar=("MODE", "PATH", "BACKEND", "MODEL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child, args.runs)
        return
    import torch

    torch.set_num_threads(args.threads)
    import phoneiqa

    for name in args.models:
        phoneiqa.load(name)  # compiles and caches the runtime once, so the child processes load it
    runs = [(name, backend) for name in args.models for backend in ("onnx", "torch")]
    with tempfile.TemporaryDirectory() as tmp:
        jpeg12 = make_jpeg(Path(tmp) / "12mp.jpg", (4000, 3000))
        jpeg48 = make_jpeg(Path(tmp) / "48mp.jpg", (8000, 6000))
        timings = {run: in_fresh_process("time", jpeg12, run[1], run[0], args.runs, args.threads) for run in runs}
        clip = seed_clip_pipeline()
        seed_ms = median_ms(lambda: clip(jpeg12), max(3, args.runs // 3))
        full_decode = median_ms(lambda: Image.open(jpeg12).convert("RGB"), args.runs)
        rss = {run: in_fresh_process("rss", jpeg48, run[1], run[0], 1, args.threads) for run in runs}

    names = {"onnx": "runtime (ONNX Runtime + numpy)", "torch": "PyTorch"}
    print(
        f"12 MP JPEG (4000×3000), {args.threads} threads, median of {args.runs} runs, each backend in a fresh process"
    )
    print(f"{'pipeline':<52}{'ms':>8}{'vs seed':>9}{'decode ms':>11}{'model ms':>10}{'explain=True adds':>19}")
    for (name, backend), t in timings.items():
        ratio = seed_ms / t["assess"]
        row = f"phoneiqa {name}, {names[backend]}"
        extra = t["explain"] - t["assess"]
        print(f"{row:<52}{t['assess']:>8.1f}{ratio:>8.1f}×{t['decode']:>11.1f}{t['predict']:>10.1f}{extra:>16.1f} ms")
    print(f"{'seed CLIP ViT-B-32 pipeline':<52}{seed_ms:>8.1f}{1.0:>8.1f}×{full_decode:>11.1f}")
    print("\npeak RSS (MB) of a fresh process assessing a 48 MP JPEG (8000×6000)")
    header = f"{'model, backend':<22}{'import':>8}{'model loaded':>14}{'after assess':>14}{'the photo adds':>16}"
    print(header + f"{'torch imported':>16}")
    for (name, backend), r in rss.items():
        added = r["done"] - r["loaded"]
        row = f"{name}, {backend}"
        print(f"{row:<22}{r['import']:>8d}{r['loaded']:>14d}{r['done']:>14d}{added:>16d}{r['torch']!s:>16}")
    speed = [
        {
            "pipeline": f"phoneiqa {name}, {names[backend]}",
            "ms": t["assess"],
            "vs seed": seed_ms / t["assess"],
            "decode ms": t["decode"],
            "model ms": t["predict"],
            "explain=True adds ms": t["explain"] - t["assess"],
        }
        for (name, backend), t in timings.items()
    ]
    speed.append({"pipeline": "seed CLIP ViT-B-32 pipeline", "ms": seed_ms, "vs seed": 1.0, "decode ms": full_decode})
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
    tables = {"speed, 12 MP JPEG": speed, "peak RSS, 48 MP JPEG": memory}
    save("assess", tables, {"runs": args.runs, "threads": args.threads, "models": args.models})


if __name__ == "__main__":
    main()

"""End-to-end speed and memory of ``assess`` on phone-sized JPEGs, beside the seed's CLIP pipeline.

    python benchmarks/bench_assess.py [--runs 15] [--threads 2]

Makes a 12 MP (4000×3000) and a 48 MP (8000×6000) JPEG by upscaling a shared clean photo, then
times, in one run and on the same file (each phoneiqa backend in a fresh process of its own, as an
application would run it):
  * phoneiqa's default model, compiled runtime (ONNX Runtime + numpy, no torch) and PyTorch
    backends: file path in, Assessment out (decode at reduced scale, resize, encoders, both heads);
  * the seed system's pipeline: full decode, resize to 300×300, five 224×224 crops through
    open_clip ViT-B-32's image tower (random weights: only the cost matters).
and the peak resident memory of a fresh process that loads the model and assesses the 48 MP file.
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

import torch
from PIL import Image

PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "photos"

# VmHWM (peak resident set of this process image) rather than ru_maxrss, which Linux carries over
# from the forking parent across exec
RSS_CHILD = """
import re, sys
def peak():
    return int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1)) // 1024
import phoneiqa
start = peak()
model = phoneiqa.load("default", backend=sys.argv[2])
loaded = peak()
model.assess(sys.argv[1])
print(start, loaded, peak(), "torch" in sys.modules)
"""


TIME_CHILD = """
import json, statistics, sys, time
import phoneiqa
from phoneiqa.preprocess import load_scaled
path, backend, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
model = phoneiqa.load("default", backend=backend)
side = model.short_side if backend == "onnx" else max(p.preprocess.short_side for p in model.encoder.parts)
image = load_scaled(path, side)
def median_ms(fn):
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)
print(json.dumps({
    "assess": median_ms(lambda: model.assess(path)),
    "decode": median_ms(lambda: load_scaled(path, side)),
    "predict": median_ms(lambda: model.predict_images([image])),
}))
"""


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


def seed_clip_pipeline() -> Callable[[Path], torch.Tensor]:
    """The seed system's image path: full decode, 300×300, FiveCrop 224, ViT-B-32 image tower."""
    import open_clip
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

    @torch.no_grad()
    def run(path: Path) -> torch.Tensor:
        with Image.open(path) as im:
            return model.encode_image(prep(im.convert("RGB"))).mean(0)

    return run


def peak_rss_mb(path: Path, backend: str, threads: int) -> tuple[int, int, int, bool]:
    """Peak RSS (MB) of a fresh process after ``import phoneiqa``, after loading the model, after
    assessing, and whether torch got imported (the compiled model must already be cached)."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    cmd = [sys.executable, "-c", RSS_CHILD, str(path), backend]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stdout.split()
    return int(out[-4]), int(out[-3]), int(out[-2]), out[-1] == "True"


def time_backend(path: Path, backend: str, runs: int, threads: int) -> dict[str, float]:
    """Median ms of ``assess(path)`` and of its two stages, in a fresh process holding only that backend."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    cmd = [sys.executable, "-c", TIME_CHILD, str(path), backend, str(runs)]
    return json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    import phoneiqa

    phoneiqa.load("default")  # compiles and caches the runtime once, so the child processes load it
    with tempfile.TemporaryDirectory() as tmp:
        jpeg12 = make_jpeg(Path(tmp) / "12mp.jpg", (4000, 3000))
        jpeg48 = make_jpeg(Path(tmp) / "48mp.jpg", (8000, 6000))
        timings = {backend: time_backend(jpeg12, backend, args.runs, args.threads) for backend in ("onnx", "torch")}
        clip = seed_clip_pipeline()
        seed_ms = median_ms(lambda: clip(jpeg12), max(3, args.runs // 3))
        full_decode = median_ms(lambda: Image.open(jpeg12).convert("RGB"), args.runs)
        rss = {backend: peak_rss_mb(jpeg48, backend, args.threads) for backend in ("onnx", "torch")}

    names = {"onnx": "phoneiqa, runtime (ONNX Runtime + numpy)", "torch": "phoneiqa, PyTorch"}
    print(
        f"12 MP JPEG (4000×3000), {args.threads} threads, median of {args.runs} runs, each backend in a fresh process"
    )
    print(f"{'pipeline':<42}{'ms':>8}{'vs seed':>9}{'decode ms':>11}{'model ms':>10}")
    for backend, t in timings.items():
        ratio = seed_ms / t["assess"]
        print(f"{names[backend]:<42}{t['assess']:>8.1f}{ratio:>8.1f}×{t['decode']:>11.1f}{t['predict']:>10.1f}")
    print(f"{'seed CLIP ViT-B-32 pipeline':<42}{seed_ms:>8.1f}{1.0:>8.1f}×{full_decode:>11.1f}")
    print("\npeak RSS (MB) of a fresh process assessing a 48 MP JPEG (8000×6000)")
    header = f"{'backend':<12}{'import':>8}{'model loaded':>14}{'after assess':>14}{'the photo adds':>16}"
    print(header + f"{'torch imported':>16}")
    for backend, (start, loaded, done, torch_loaded) in rss.items():
        print(f"{backend:<12}{start:>8d}{loaded:>14d}{done:>14d}{done - loaded:>16d}{torch_loaded!s:>16}")


if __name__ == "__main__":
    main()

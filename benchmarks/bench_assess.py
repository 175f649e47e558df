"""End-to-end speed and memory of ``assess`` on phone-sized JPEGs, beside the seed's CLIP pipeline.

    python benchmarks/bench_assess.py [--runs 15] [--threads 2]

Makes a 12 MP (4000×3000) and a 48 MP (8000×6000) JPEG by upscaling a shared clean photo, then
times, in one run and on the same file:
  * phoneiqa's default model, ONNX Runtime and PyTorch backends: file path in, Assessment out
    (decode at reduced scale, resize, encoder, both heads);
  * the seed system's pipeline: full decode, resize to 300×300, five 224×224 crops through
    open_clip ViT-B-32's image tower (random weights: only the cost matters).
and the peak resident memory of a fresh process that loads the model and assesses the 48 MP file.
Prints medians, the stage breakdown and the speed ratios.
"""

from __future__ import annotations

import argparse
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
import re, sys, torch
torch.set_num_threads({threads})
def peak():
    return int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1)) // 1024
start = peak()
import phoneiqa
model = phoneiqa.load("default", backend="{backend}")
loaded = peak()
model.assess(sys.argv[1])
print(start, loaded, peak())
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


def peak_rss_mb(path: Path, backend: str, threads: int) -> tuple[int, int, int]:
    """Peak RSS (MB) of a fresh process after importing torch, after loading the model, after assessing."""
    code = RSS_CHILD.format(threads=threads, backend=backend)
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
    start, loaded, done = map(int, out.stdout.split()[-3:])
    return start, loaded, done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    import phoneiqa
    from phoneiqa.preprocess import load_for_encoder

    with tempfile.TemporaryDirectory() as tmp:
        jpeg12 = make_jpeg(Path(tmp) / "12mp.jpg", (4000, 3000))
        jpeg48 = make_jpeg(Path(tmp) / "48mp.jpg", (8000, 6000))
        models = {backend: phoneiqa.load("default", backend=backend) for backend in ("onnx", "torch")}
        clip = seed_clip_pipeline()
        encoder = models["onnx"].encoder
        image = load_for_encoder(jpeg12, encoder)
        rows = {
            "phoneiqa, ONNX Runtime": median_ms(lambda: models["onnx"].assess(jpeg12), args.runs),
            "phoneiqa, PyTorch": median_ms(lambda: models["torch"].assess(jpeg12), args.runs),
            "seed CLIP ViT-B-32 pipeline": median_ms(lambda: clip(jpeg12), max(3, args.runs // 3)),
        }
        stages = {
            "full decode (PIL)": median_ms(lambda: Image.open(jpeg12).convert("RGB"), args.runs),
            "reduced-scale decode": median_ms(lambda: load_for_encoder(jpeg12, encoder), args.runs),
            "encoder + heads (ONNX)": median_ms(lambda: models["onnx"].predict_images([image]), args.runs),
        }
        rss = {backend: peak_rss_mb(jpeg48, backend, args.threads) for backend in ("onnx", "torch")}

    print(f"12 MP JPEG (4000×3000), {args.threads} threads, median of {args.runs} runs")
    base = rows["seed CLIP ViT-B-32 pipeline"]
    print(f"{'pipeline':<30}{'ms':>9}{'vs seed':>9}")
    for name, ms in rows.items():
        print(f"{name:<30}{ms:>9.1f}{base / ms:>8.1f}×")
    print("\nstages of the phoneiqa path")
    for name, ms in stages.items():
        print(f"{name:<30}{ms:>9.1f}")
    print("\npeak RSS (MB) of a fresh process assessing a 48 MP JPEG (8000×6000)")
    print(f"{'backend':<12}{'import torch':>14}{'model loaded':>14}{'after assess':>14}{'the photo adds':>16}")
    for backend, (start, loaded, done) in rss.items():
        print(f"{backend:<12}{start:>14d}{loaded:>14d}{done:>14d}{done - loaded:>16d}")


if __name__ == "__main__":
    main()

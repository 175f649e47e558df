"""On-disk cache of frozen-encoder features, keyed by encoder id and image content.

One ``.npy`` per (encoder, image bytes): a renamed or copied file hits the cache, an edited
one misses it, and a new encoder (other weights or preprocessing) gets its own folder.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from phoneiqa.cache import default_cache_dir
from phoneiqa.encoders.base import Encoder, input_short_side
from phoneiqa.preprocess import load_scaled
from phoneiqa.progress import progress


def file_digest(path: Path) -> str:
    """SHA-1 of a file's bytes."""
    digest = hashlib.sha1()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def encoder_cache_dir(encoder: Encoder, cache_dir: Path | None = None) -> Path:
    """Folder holding this encoder's cached features."""
    key = hashlib.sha1(encoder.encoder_id().encode()).hexdigest()[:16]
    return (cache_dir or default_cache_dir()) / "features" / key


def cached_features(
    encoder: Encoder,
    paths: Sequence[Path],
    cache_dir: Path | None = None,
    batch_size: int = 16,
    desc: str = "features",
) -> torch.Tensor:
    """``[N, D]`` features of image files, computing and storing the ones not cached yet."""
    folder = encoder_cache_dir(encoder, cache_dir)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "encoder_id.txt").write_text(encoder.encoder_id() + "\n", encoding="utf-8")
    entries = [folder / f"{file_digest(Path(p))}.npy" for p in paths]
    missing = [i for i, entry in enumerate(entries) if not entry.exists()]
    side = input_short_side(encoder)
    for start in progress(range(0, len(missing), batch_size), desc=desc):
        chunk = missing[start : start + batch_size]
        feats = encoder.encode([load_scaled(paths[i], side) for i in chunk]).numpy()
        for i, row in zip(chunk, feats, strict=True):
            tmp = entries[i].with_suffix(".tmp.npy")
            np.save(tmp, row.astype(np.float32))
            tmp.replace(entries[i])
    return torch.from_numpy(np.stack([np.load(entry) for entry in entries])) if entries else torch.empty(0)

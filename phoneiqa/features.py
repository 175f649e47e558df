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
from phoneiqa.encoders.base import Encoder, input_short_side, part_labels
from phoneiqa.preprocess import load_scaled
from phoneiqa.progress import progress


def file_digest(path: Path) -> str:
    """SHA-1 of a file's bytes."""
    digest = hashlib.sha1()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def encoder_cache_dir(encoder: Encoder, cache_dir: Path | None = None, decode_side: int | None = None) -> Path:
    """Folder holding this encoder's cached features (of images decoded for ``decode_side``, if not its own)."""
    key = encoder.encoder_id()
    if decode_side is not None and decode_side != input_short_side(encoder):
        key += f"|decoded for {decode_side}"
    return (cache_dir or default_cache_dir()) / "features" / hashlib.sha1(key.encode()).hexdigest()[:16]


def cached_features(
    encoder: Encoder,
    paths: Sequence[Path],
    cache_dir: Path | None = None,
    batch_size: int = 16,
    desc: str = "features",
    rows: Sequence[np.ndarray] | None = None,
) -> torch.Tensor:
    """``[N, D]`` features of image files, computing and storing the ones not cached yet.

    The parts of a ``+`` encoder are cached separately, each from the image decoded as the whole
    encoder decodes it at inference, so a new combination reuses its parts' features.  ``rows``
    (one boolean mask over ``paths`` per part) limits which images get each part's columns; the
    others are NaN (for training rows that only a head reading other parts uses).
    """
    parts = list(getattr(encoder, "parts", [encoder]))
    side = input_short_side(encoder)
    blocks = []
    for k, (part, name) in enumerate(zip(parts, part_labels(encoder), strict=True)):
        wanted = np.flatnonzero(np.ones(len(paths), dtype=bool) if rows is None else rows[k])
        block = torch.full((len(paths), part.feature_dim), float("nan"))
        if len(wanted):
            chosen = [Path(paths[i]) for i in wanted]
            label = desc if len(parts) == 1 else f"{desc} ({name})"
            block[torch.from_numpy(wanted)] = _cached(part, chosen, side, cache_dir, batch_size, label)
        blocks.append(block)
    return torch.cat(blocks, dim=1)


def _cached(
    encoder: Encoder, paths: list[Path], side: int, cache_dir: Path | None, batch_size: int, desc: str
) -> torch.Tensor:
    folder = encoder_cache_dir(encoder, cache_dir, side)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "encoder_id.txt").write_text(encoder.encoder_id() + "\n", encoding="utf-8")
    entries = [folder / f"{file_digest(p)}.npy" for p in paths]
    missing = [i for i, entry in enumerate(entries) if not entry.exists()]
    for start in progress(range(0, len(missing), batch_size), desc=desc):
        chunk = missing[start : start + batch_size]
        feats = encoder.encode([load_scaled(paths[i], side) for i in chunk]).numpy()
        for i, row in zip(chunk, feats, strict=True):
            tmp = entries[i].with_suffix(".tmp.npy")
            np.save(tmp, row.astype(np.float32))
            tmp.replace(entries[i])
    return torch.from_numpy(np.stack([np.load(entry) for entry in entries]))

"""Shared test settings and fixtures."""

import json
import multiprocessing
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

# Test tensors are small: one intra-op thread is faster and immune to oversubscription on shared 2-core machines.
torch.set_num_threads(1)


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    """Feature caches and compiled models go to a temporary folder, not the user's ~/.cache."""
    os.environ["PHONEIQA_CACHE"] = str(tmp_path_factory.mktemp("phoneiqa-cache"))


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory):
    """A tiny randomly initialised open_clip model registered as a config (no network, same code path as a real one)."""
    import open_clip

    from phoneiqa.encoders import create_encoder

    name = "phoneiqa-tiny-test-clip"
    config = {
        "embed_dim": 32,
        "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16, "head_width": 32},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
    }
    path = tmp_path_factory.mktemp("clip") / f"{name}.json"
    path.write_text(json.dumps(config))
    open_clip.add_model_config(path)
    torch.manual_seed(0)
    return create_encoder("clip", model_name=name)


@pytest.fixture
def scored_images(tmp_path):
    """24 small textured images whose ``mos`` follows their brightness: (the CSV's path, the image paths)."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(24):
        level = 30 + 190 * i / 23
        texture = rng.normal(0, 25, size=(64, 96, 1)) + np.array([1.0, 0.9, 0.8]) * level
        name = f"img_{i:02d}.png"
        Image.fromarray(np.clip(texture, 0, 255).astype(np.uint8)).save(tmp_path / name)
        rows.append({"filename": name, "mos": round(20 + 60 * i / 23 + rng.normal(0, 3), 2)})
    pd.DataFrame(rows).to_csv(tmp_path / "labels.csv", index=False)
    return tmp_path / "labels.csv", [tmp_path / row["filename"] for row in rows]


@pytest.fixture
def open_tmp_path():
    """A temporary folder every user can enter (``tmp_path``'s parents are private to root)."""
    folder = Path(tempfile.mkdtemp(dir="/tmp"))
    folder.chmod(0o755)
    yield folder
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    shutil.rmtree(folder)


@pytest.fixture
def unprivileged():
    """``unprivileged(fn, *args)``: ``fn(*args)`` as an ordinary user (see :func:`_run_unprivileged`)."""
    return _run_unprivileged


def _run_unprivileged(fn, *args):
    """``fn(*args)`` as an ordinary user: in a forked child as ``nobody`` (uid 65534) when the tests run
    as root, who ignores file permissions; directly otherwise.  ``fn`` must be a module-level function."""
    if os.geteuid() != 0:
        return fn(*args)
    with multiprocessing.get_context("fork").Pool(1) as pool:
        return pool.apply(_as_nobody, (fn, *args))


def _as_nobody(fn, *args):
    os.setgid(65534)
    os.setuid(65534)
    return fn(*args)

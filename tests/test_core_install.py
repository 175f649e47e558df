"""``pip install .`` alone (no extras) in a fresh venv: it assesses and audits photos without torch or pandas."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SIZE_LIMIT = 300e6
"""The core install's target: the whole venv, pip included."""


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


@pytest.fixture(scope="module")
def core_venv(tmp_path_factory) -> Path:
    venv = tmp_path_factory.mktemp("core") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    done = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", str(ROOT)], capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return venv


@pytest.mark.slow
def test_the_core_install_assesses_and_audits_without_the_extras(core_venv, tmp_path):
    assert folder_size(core_venv) <= SIZE_LIMIT, f"{folder_size(core_venv) / 1e6:.0f} MB"
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)).save(folder / f"p{i}.jpg")
    (folder / "broken.jpg").write_bytes(b"not a photo")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PHONEIQA_CACHE"] = str(tmp_path / "cache")
    done = subprocess.run(
        [str(core_venv / "bin" / "python"), str(ROOT / "tests" / "core_install_check.py"), str(folder)],
        capture_output=True,
        text=True,
        cwd=tmp_path,  # not the checkout: the installed package is imported
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.splitlines()[-1])
    assert 0 <= seen["score"] <= 100 and len(seen["issues"]) == 6
    assert (seen["rows"], seen["failed"]) == (4, 1)
    assert seen["sample_rc"] == 0 and "china.jpg" in seen["sample_out"]
    assert seen["audit_rc"] == 1 and "failed (1):" in seen["audit_out"]  # 1: some file failed
    assert seen["csv"].splitlines()[0].startswith("path,score,bright,dark") and seen["html_bytes"] > 1000
    assert seen["jsonl_rc"] == 1
    assert seen["train_rc"] == 2 and "pip install 'phoneiqa[train]'" in seen["train_err"]
    assert len(seen["train_err"].strip().splitlines()) == 1  # one line, no traceback
    assert "pip install 'phoneiqa[pandas]'" in seen["to_pandas"]
    assert "pip install 'phoneiqa[train]'" in seen["torch_backend"]
    assert not (tmp_path / "cache" / "runtime").exists()  # the shipped model is precompiled

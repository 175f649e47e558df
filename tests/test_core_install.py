"""``pip install .`` alone (no extras) in a fresh venv: it assesses and audits photos without torch or pandas;
and the ``pandas`` extra alone (torch made unimportable) validates label CSVs."""

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
    assert seen["validate_rc"] == 2 and "pip install 'phoneiqa[pandas]'" in seen["validate_err"]
    assert not (tmp_path / "cache" / "runtime").exists()  # the shipped model is precompiled


NO_TORCH = """
import sys
for name in ("torch", "torchvision", "timm", "onnx"):
    sys.modules[name] = None  # as in an install with the pandas extra alone: importing them fails
from phoneiqa.cli import main
code = main(sys.argv[1:])
assert sys.modules["torch"] is None, "torch was imported"
sys.exit(code)
"""

LABEL_CSVS = {
    "good.csv": "filename,bright,dark,low_contrast,high_contrast,overexposed,over_suppressed,mos\n"
    "a.jpg,0,0,0,0,0,0,71.5\nb.heic,0,2,1,0,0,0,35.0\nc.jpg,3,0,0,1,2,0,\n",
    "bad.csv": "filename,bright,dark,low_contrast,high_contrast,overexposed,over_suppressed,mos\n"
    "a.jpg,0,0,0,0,0,0,50\nb.jpg,1,2,0,0,0,0,50\nc.jpg,0,7,0,0,0,0,50\na.jpg,0,0,1,3,0,0,x\n,0,0,0,0,0,0,50\n",
    "typo.csv": "filename,brigth\na.jpg,0\n",
}


@pytest.mark.parametrize("name", sorted(LABEL_CSVS))
def test_validate_needs_no_torch(tmp_path, name, capsys):
    from phoneiqa.cli import main

    path = tmp_path / name
    path.write_text(LABEL_CSVS[name], encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-c", NO_TORCH, "validate", str(path)], capture_output=True, text=True, cwd=tmp_path
    )
    code = main(["validate", str(path)])  # here, with torch importable
    out, err = capsys.readouterr()
    assert (done.returncode, done.stdout, done.stderr) == (code, out, err)
    if name == "good.csv":
        assert code == 0 and out == f"{path}: 3 rows valid; 2 with an issue; mos: True\n"
    else:
        assert code == 2 and "extra" not in err and str(path) in err
    if name == "bad.csv":
        assert [int(line.split(": row ")[1].split(":")[0]) for line in err.splitlines()] == [2, 3, 4, 4, 4, 5]
        assert "illegal combination low_contrast=1, high_contrast=3" in err

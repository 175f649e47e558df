"""Run by ``tests/test_core_install.py`` inside a venv holding ``pip install .`` alone (no extras).

It assesses the package's sample photo, audits a folder (CSV, JSON lines and HTML reports) and
checks that neither the extras' distributions are installed nor their modules imported; then that
the parts that need an extra say which one
(``phoneiqa validate``: the ``pandas`` extra, not ``train``).  Prints one JSON line of what it saw.
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

EXTRA_DISTRIBUTIONS = {
    "torch", "torchvision", "timm", "open-clip-torch", "scikit-learn", "scikit-image", "scipy", "matplotlib",
    "pandas", "pyarrow", "onnx", "ray",
}  # fmt: skip
EXTRA_MODULES = {"torch", "torchvision", "timm", "open_clip", "sklearn", "skimage", "scipy", "matplotlib", "pandas"}


def main(folder: str) -> None:
    installed = {d.metadata["Name"].lower() for d in importlib.metadata.distributions()}
    assert not installed & EXTRA_DISTRIBUTIONS, installed & EXTRA_DISTRIBUTIONS

    import phoneiqa
    from phoneiqa.cli import sample_photo

    assessment = phoneiqa.assess(sample_photo())
    table = phoneiqa.audit(folder, workers=1, cache=False, progress=False)
    imported = {name.split(".")[0] for name in sys.modules} & EXTRA_MODULES
    assert not imported, imported

    out = Path(folder).parent
    cli = [sys.executable, "-m", "phoneiqa.cli"]
    sample = subprocess.run([*cli, "assess", "--sample"], capture_output=True, text=True)
    audited = subprocess.run(
        [*cli, "audit", folder, "--out", str(out / "r.csv"), "--html", str(out / "r.html"), "--no-cache"],
        capture_output=True,
        text=True,
    )
    jsonl = subprocess.run([*cli, "audit", folder, "--out", str(out / "r.jsonl"), "--no-cache"], capture_output=True)
    train = subprocess.run([*cli, "train", "--csv", "x.csv", "--out", str(out / "run")], capture_output=True, text=True)
    (out / "labels.csv").write_text("filename,mos\na.jpg,50\n", encoding="utf-8")
    validate = subprocess.run([*cli, "validate", str(out / "labels.csv")], capture_output=True, text=True)
    try:
        table.to_pandas()
        to_pandas = "no error"
    except phoneiqa.MissingExtraError as exc:
        to_pandas = str(exc)
    try:
        phoneiqa.load("default", backend="torch")
        torch_backend = "no error"
    except phoneiqa.MissingExtraError as exc:
        torch_backend = str(exc)
    print(
        json.dumps(
            {
                "score": assessment.score,
                "issues": assessment.issues,
                "rows": len(table),
                "failed": sum(table.failed()),
                "sample_rc": sample.returncode,
                "sample_out": sample.stdout,
                "audit_rc": audited.returncode,
                "audit_out": audited.stdout + audited.stderr,
                "csv": (out / "r.csv").read_text(encoding="utf-8"),
                "html_bytes": (out / "r.html").stat().st_size,
                "jsonl_rc": jsonl.returncode,
                "train_rc": train.returncode,
                "train_err": train.stderr,
                "validate_rc": validate.returncode,
                "validate_err": validate.stderr,
                "to_pandas": to_pandas,
                "torch_backend": torch_backend,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])

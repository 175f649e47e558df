"""Each optional part, used without its extra, raises one MissingExtraError naming the extra to install."""

from __future__ import annotations

import subprocess
import sys

import pytest

import phoneiqa
from phoneiqa.audit import AuditTable
from phoneiqa.extras import EXTRAS, MissingExtraError, require


def hidden(monkeypatch, *modules: str) -> None:
    """Make ``modules`` look uninstalled (what ``import`` sees when ``sys.modules`` maps them to None)."""
    for name in modules:
        monkeypatch.setitem(sys.modules, name, None)


def test_every_extra_named_is_one_the_package_declares():
    import importlib.metadata

    assert set(EXTRAS.values()) <= set(importlib.metadata.metadata("phoneiqa").get_all("Provides-Extra"))


@pytest.mark.parametrize(
    ("modules", "build", "extra"),
    [
        (["open_clip"], lambda: phoneiqa.create_encoder("clip"), "clip"),
        (["skimage"], lambda: phoneiqa.create_encoder("slic"), "superpixels"),
        (["pandas"], lambda: AuditTable({"path": [], "score": [], "error": []}).to_pandas(), "pandas"),
        (["ray", "ray.data"], lambda: phoneiqa.audit([], executor="ray"), "ray"),
    ],
)
def test_a_missing_extra_is_named(monkeypatch, modules, build, extra):
    hidden(monkeypatch, *modules)
    with pytest.raises(MissingExtraError, match=rf"pip install 'phoneiqa\[{extra}\]'"):
        build()


def test_require_names_the_extra_and_passes_other_import_errors_through(monkeypatch):
    hidden(monkeypatch, "matplotlib")
    with pytest.raises(MissingExtraError, match=r"plotting needs matplotlib \(the 'train' extra\)"):
        require("matplotlib", "plotting")
    with pytest.raises(ModuleNotFoundError) as info:
        require("no_such_module_anywhere", "nothing")
    assert not isinstance(info.value, MissingExtraError)


def test_without_torch_the_training_api_and_cli_name_the_train_extra(tmp_path):
    """In a process where torch cannot be imported, the shipped model still assesses; the PyTorch parts
    raise MissingExtraError and the CLI prints one line and exits 2."""
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import phoneiqa\n"
        "from phoneiqa.cli import main, sample_photo\n"
        "print(0 <= phoneiqa.assess(sample_photo()).score <= 100)\n"
        "for use in (lambda: phoneiqa.train, lambda: phoneiqa.load('default', backend='torch')):\n"
        "    try:\n"
        "        use()\n"
        "    except phoneiqa.MissingExtraError as exc:\n"
        "        print('train' in str(exc))\n"
        "print(main(['evaluate', 'default', 'x.csv']))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert done.stdout.split() == ["True", "True", "True", "2"], done.stderr
    assert done.stderr.strip().splitlines() == [
        "phoneiqa evaluate: error: phoneiqa evaluate needs torch (the 'train' extra): pip install 'phoneiqa[train]'"
    ]

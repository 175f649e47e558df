"""The README and docs/: their links lead somewhere, and their commands that need no data run."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from phoneiqa.cli import main
from phoneiqa.loading import pretrained_path

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SELF_CONTAINED = {"assess", "models", "--sample", "--json", "--version"}
"""Words of the commands that run on what the package and its dependencies ship (no photos needed)."""


def code_lines(page: Path, language: str) -> list[str]:
    """Lines of the page's fenced ``language`` blocks, comments and continuation joins resolved."""
    blocks = re.findall(rf"```{language}\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.DOTALL)
    lines = []
    for block in blocks:
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #", 1)[0].strip()
            if line and not line.startswith("#"):
                lines.append(line)
    return lines


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_relative_links_lead_to_files(page):
    targets = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8"))
    local = [t for t in targets if not re.match(r"[a-z]+://", t)]
    missing = [t for t in local if not (page.parent / t).exists()]
    assert missing == []


def test_the_readmes_commands_that_need_no_data_run(capsys):
    commands = [
        shlex.split(line)[1:]
        for page in PAGES
        for line in code_lines(page, "bash")
        if line.startswith("phoneiqa ") and set(shlex.split(line)[1:]) <= SELF_CONTAINED
    ]
    assert ["assess", "--sample"] in commands and ["models"] in commands
    if not pretrained_path("default").exists():
        pytest.skip("default model not built")
    for args in commands:
        assert main(args) == 0, args
    assert "china.jpg" in capsys.readouterr().out

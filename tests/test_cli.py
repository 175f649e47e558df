"""The command line's contract: every usage error is one line ``phoneiqa <command>: error: …`` with exit code 2,
and the exit codes mean what the README's table says."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import phoneiqa
from phoneiqa.cli import EXIT_CODES, main, sample_photo

README = Path(__file__).resolve().parents[1] / "README.md"


def run(argv: list[str], capsys) -> tuple[int, list[str], str]:
    """Exit code, stderr lines and stdout of ``phoneiqa argv`` run in this process (argparse's own exits too)."""
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.err.strip().splitlines(), captured.out


@pytest.fixture
def folder(tmp_path):
    Image.fromarray(np.full((64, 96, 3), 128, np.uint8)).save(tmp_path / "grey.jpg")
    return tmp_path


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["audit", "{dir}", "--batch-size", "0"], "argument --batch-size: must be an integer >= 1, got '0'"),
        (["audit", "{dir}", "--batch-size", "many"], "argument --batch-size: must be an integer >= 1, got 'many'"),
        (["audit", "{dir}", "--workers", "-1"], "argument --workers: must be an integer >= 0, got '-1'"),
        (["audit", "{dir}", "--out", "x.xlsx"], "argument --out: must end in .csv, .jsonl, .parquet, got 'x.xlsx'"),
        (["audit", "{dir}", "--html", "report.pdf"], "argument --html: must end in .html, .htm, got 'report.pdf'"),
        (["audit", "{dir}", "--backend", "tf"], "argument --backend: invalid choice: 'tf'"),
        (["audit", "{dir}", "--model", "acurate"], "acurate: neither a shipped model"),
        (["audit", "{dir}", "--explain"], "--explain draws the exposure maps into the HTML report: give --html too"),
        (["audit", "{dir}", "--cache", "{dir}/grey.jpg"], "cannot be the audit's result cache (file is not"),
        (["audit", "{dir}", "--nonsense"], "unrecognized arguments: --nonsense"),
        (["assess"], "give at least one image file (or --sample)"),
        (["assess", "--sample", "--model", "acurate"], "(did you mean 'accurate'?)"),
        (["rank", "{dir}/grey.jpg", "--model", "fats"], "(did you mean 'fast'?)"),
        (["train", "--out", "{dir}/run", "--epochs", "0"], "argument --epochs: must be an integer >= 1, got '0'"),
    ],
)
def test_a_usage_error_is_one_line_and_exit_code_2(args, says, folder, capsys):
    argv = [a.format(dir=folder) for a in args]
    code, err, _ = run(argv, capsys)
    assert code == 2
    assert len(err) == 1, err
    assert err[0].startswith(f"phoneiqa {argv[0]}: error: ") and says.format(dir=folder) in err[0]


def test_exit_codes_0_and_1(folder, capsys):
    assert run(["assess", "--sample"], capsys)[0] == 0
    (folder / "broken.jpg").write_bytes(b"not a photo")
    code, err, out = run(["assess", str(folder / "broken.jpg"), sample_photo()], capsys)
    assert code == 1 and len(err) == 1 and err[0].startswith(f"error: {folder / 'broken.jpg'}: ")
    assert sample_photo() in out


def test_an_interrupt_exits_130(monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(phoneiqa.loading, "load", interrupted)
    code, err, _ = run(["assess", "--sample"], capsys)
    assert code == 130 and err == ["phoneiqa assess: interrupted"]


def test_the_readme_documents_every_exit_code():
    """The README's exit-code table lists exactly the codes the command uses."""
    text = README.read_text()
    table = text[text.index("| exit code |") :].split("\n\n")[0]
    codes = [int(m) for m in re.findall(r"^\| (\d+) \|", table, flags=re.M)]
    assert codes == list(EXIT_CODES)


def test_a_quiet_audit_says_it_saved_nothing(folder, tmp_path_factory, capsys):
    cache = tmp_path_factory.mktemp("cache") / "audit.sqlite3"
    code, _, out = run(["audit", str(folder), "--workers", "0", "--cache", str(cache)], capsys)
    assert code == 0
    assert out.splitlines()[-1].startswith("report: none saved; give --out report.csv")


@pytest.mark.parametrize(
    ("call", "says"),
    [
        (lambda f: phoneiqa.assess([f], batch_size=0), "batch_size must be an integer >= 1, got 0"),
        (lambda f: phoneiqa.assess([f], batch_size=-1), "batch_size must be an integer >= 1, got -1"),
        (lambda f: phoneiqa.assess([f], batch_size=2.5), "batch_size must be an integer >= 1, got 2.5"),
        (lambda f: phoneiqa.assess([f], errors="skip"), "errors must be one of raise, return, got 'skip'"),
        (lambda f: phoneiqa.audit([f], workers=-1, cache=False), "workers must be an integer >= 0 or None, got -1"),
        (lambda f: phoneiqa.audit([f], batch_size=0, cache=False), "batch_size must be an integer >= 1, got 0"),
        (lambda f: phoneiqa.audit([f], executor="rey"), "unknown executor 'rey' (did you mean 'ray'?)"),
        (lambda f: phoneiqa.load("default", threads=0), "threads must be an integer >= 1 or None, got 0"),
        (lambda f: phoneiqa.load("default", backend="onxx"), "unknown backend 'onxx'"),
        (lambda f: phoneiqa.OptimConfig(epochs=0), "optim.epochs must be an integer >= 1, got 0"),
        (lambda f: phoneiqa.OptimConfig(lr=-0.1), "optim.lr must be a number > 0.0, got -0.1"),
    ],
)
def test_the_api_names_a_bad_parameter_and_its_value(call, says, folder):
    with pytest.raises(phoneiqa.ParameterError) as caught:
        call(str(folder / "grey.jpg"))
    assert isinstance(caught.value, ValueError) and says in str(caught.value)

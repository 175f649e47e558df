"""What every subcommand of the ``phoneiqa`` command is built from: the registry, the parser, option types."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

Command = Callable[[argparse.Namespace], int]
"""A subcommand: parsed arguments in, exit code out."""

EXIT_CODES = {
    0: "every photo assessed",
    1: "some files could not be read (each named on stderr), or a sidecar --xmp could not update",
    2: "usage or configuration error (one line: phoneiqa <command>: error: ...)",
    130: "interrupted",
}
"""What the ``phoneiqa`` command's exit code says (the README's table)."""


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, ``phoneiqa <command>: error: …``, exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer of at least ``minimum`` (:func:`phoneiqa.errors.check_count`)."""

    def parse(text: str) -> int:
        value = int(text) if text.lstrip("-").isdigit() else None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {text!r}")
        return value

    return parse


def ending_in(*suffixes: str) -> Callable[[str], str]:
    """An argparse type: a file name ending in one of ``suffixes`` (any case)."""

    def parse(text: str) -> str:
        if Path(text).suffix.lower() not in suffixes:
            raise argparse.ArgumentTypeError(f"must end in {', '.join(suffixes)}, got {text!r}")
        return text

    return parse


def model_options(p: argparse.ArgumentParser, backend: bool = True) -> None:
    """The options that choose the model (``--model``) and, with ``backend``, how it runs (``--backend``)."""
    from phoneiqa.loading import BACKENDS

    p.add_argument("--model", default="default", help="shipped model name or checkpoint path (default: default)")
    if backend:
        p.add_argument("--backend", default="auto", choices=BACKENDS, help="compiled ONNX Runtime + numpy, or PyTorch")


COMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Command, str, str | None]] = {}


def command(name: str, help: str, configure: Callable[[argparse.ArgumentParser], None], extra: str | None = None):
    """Decorator registering a ``run(args) -> exit code`` function as subcommand ``name``.

    ``configure`` adds the subcommand's arguments to its parser; ``extra`` is the extra the command
    needs (named in the error when one of its packages is missing).
    """

    def decorate(run: Command) -> Command:
        COMMANDS[name] = (configure, run, help, extra)
        return run

    return decorate

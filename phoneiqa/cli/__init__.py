"""The ``phoneiqa`` command line; each subcommand mirrors a function of the Python API.

Subcommands register themselves (:func:`phoneiqa.cli.registry.command`) in the modules imported here, in the
order ``phoneiqa --help`` lists them: the audit, single photos, labels and training.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from phoneiqa.cli import audit, photos, training  # noqa: F401  (each registers its subcommands)
from phoneiqa.cli.photos import sample_photo
from phoneiqa.cli.registry import COMMANDS, EXIT_CODES, Parser
from phoneiqa.errors import PhoneIQAError
from phoneiqa.extras import needs_extras

__all__ = ["EXIT_CODES", "build_parser", "main", "sample_photo"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every registered subcommand."""
    from phoneiqa.version import __version__

    codes = "; ".join(f"{code} {meaning}" for code, meaning in EXIT_CODES.items())
    parser = Parser(
        prog="phoneiqa", description="Quality score and exposure issues of phone photos.", epilog=f"exit codes: {codes}"
    )
    parser.add_argument("--version", action="version", version=f"phoneiqa {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (configure, run, help_text, extra) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        configure(p)
        p.set_defaults(run=run, extra=extra, parser=p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``phoneiqa`` script; returns the exit code."""
    args, unknown = build_parser().parse_known_args(argv)
    if unknown:  # named by the subcommand's parser, as its other usage errors are
        args.parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        with needs_extras(f"phoneiqa {args.command}", args.extra):
            return args.run(args)
    except (PhoneIQAError, FileNotFoundError) as exc:  # bad input, config or missing file: one line, no traceback
        print(f"phoneiqa {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\nphoneiqa {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into a reader that stopped early, e.g. `head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1

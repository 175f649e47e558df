"""The subcommands about single photos: ``assess``, ``models``, ``rank``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from phoneiqa.cli.registry import command, model_options
from phoneiqa.errors import ConfigError, PhoneIQAError
from phoneiqa.explain import MAPS


def _assess_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="*", help="image files (JPEG, PNG, HEIC, WebP, TIFF, BMP, GIF)")
    p.add_argument("--sample", action="store_true", help="also assess the sample photo shipped in the package")
    p.add_argument("--json", action="store_true", help="one JSON object per line instead of a table")
    p.add_argument(
        "--explain",
        metavar="DIR",
        help="also find where the exposure problems are: list each map's share of the frame and write the maps "
        "over the photo as DIR/<file name>.explain.png",
    )
    model_options(p)


@command("assess", "score photos and name their exposure issues", _assess_args)
def _assess(args: argparse.Namespace) -> int:
    from phoneiqa.loading import load

    files = list(args.files) + ([sample_photo()] if args.sample else [])
    if not files:
        raise ConfigError("give at least one image file (or --sample)")
    model = load(args.model, backend=args.backend)
    width = max(len(f) for f in files)
    names = model.level_names  # from the model's label spec
    widths = {k: max(len(k), *map(len, names[k])) for k in model.labels}
    maps = list(MAPS) if args.explain is not None else []
    if not args.json:
        header = "  ".join([*(f"{k:<{w}}" for k, w in widths.items()), *(f"{m} %" for m in maps)])
        print(f"{'file':<{width}}  {'score':>5}  {header}".rstrip())
    results = _assess_each(model, files, explain=bool(maps))
    written: set[Path] = set()
    for f, result in zip(files, results, strict=True):
        if isinstance(result, PhoneIQAError):
            _print_error(f, result, args.json)
            continue
        if maps:
            written.add(_write_overlay(result, f, Path(args.explain), written))
        if args.json:
            print(json.dumps({"file": f, **result.to_dict()}))
        else:
            score = "-" if result.score is None else f"{result.score:.1f}"
            levels = [f"{names[k][result.issues[k]]:<{w}}" for k, w in widths.items()]
            found = result.exposure_shares or {}
            shares = [f"{100 * found[m]:>{len(m) + 2}.1f}" for m in maps]
            print(f"{f:<{width}}  {score:>5}  {'  '.join(levels + shares)}".rstrip())
    return 1 if any(isinstance(r, PhoneIQAError) for r in results) else 0


def _write_overlay(result: Any, file: str, folder: Path, taken: set[Path]) -> Path:
    """Save an assessment's overlay as ``folder/<file name>.explain.png`` (``<name>-2...`` when another
    file of this run had the name)."""
    folder.mkdir(parents=True, exist_ok=True)
    name, n = Path(file).name, 1
    path = folder / f"{name}.explain.png"
    while path in taken:
        n += 1
        path = folder / f"{name}-{n}.explain.png"
    result.overlay().save(path)
    return path


def _assess_each(model: Any, files: list[str], explain: bool = False) -> list[Any]:
    """Each file's assessment, or the error naming it (in its place); a folder is pointed to the audit."""
    readable = [f for f in files if not os.path.isdir(f)]
    results = iter(model.assess(readable, errors="return", explain=explain) if readable else [])
    return [_folder_error(f) if os.path.isdir(f) else next(results) for f in files]


def _folder_error(folder: str) -> PhoneIQAError:
    """The error of a folder given where photos are: the audit assesses the photos in it."""
    return PhoneIQAError(f"{folder}: a folder; `phoneiqa audit {folder}` assesses the photos in it")


def _print_error(file: str, error: Exception, as_json: bool, **fields: Any) -> None:
    """One file's error: a JSON line on stdout under ``--json``, else ``error: ...`` on stderr."""
    if as_json:
        print(json.dumps({**fields, "file": file, "error": str(error)}))
    else:
        print(f"error: {error}", file=sys.stderr)


@command("models", "list the shipped models", lambda p: None)
def _models(args: argparse.Namespace) -> int:
    from phoneiqa.loading import list_models

    models = list_models()
    width = max(map(len, models))
    for name, summary in models.items():
        print(f"{name:<{width}}  {summary}")
    return 0


def _rank_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", help="shots of one scene (image files)")
    p.add_argument("--json", action="store_true", help="one JSON object per line, best first")
    model_options(p, backend=False)


@command("rank", "order shots of one scene best first", _rank_args)
def _rank(args: argparse.Namespace) -> int:
    from phoneiqa.rank import rank

    failed = {i: _folder_error(f) for i, f in enumerate(args.files) if os.path.isdir(f)}
    readable = [i for i in range(len(args.files)) if i not in failed]
    shots = rank([args.files[i] for i in readable], model=args.model, errors="return")
    failed |= {readable[shot.index]: shot.error for shot in shots if shot.error is not None}
    width = max(len(f) for f in args.files)
    if not args.json:
        print(f"{'rank':>4}  {'file':<{width}}  {'score':>5}  issues")
    for place, shot in enumerate((s for s in shots if s.error is None), 1):
        f, result = shot.name, shot.assessment
        if args.json:
            print(json.dumps({"rank": place, "file": f, **result.to_dict()}))
        else:
            score = "-" if result.score is None else f"{result.score:.1f}"
            issues = ", ".join(f"{k}: {v}" for k, v in result.flagged().items()) or "none"
            print(f"{place:>4}  {f:<{width}}  {score:>5}  {issues}")
    for i in sorted(failed):
        _print_error(args.files[i], failed[i], args.json, rank=None)
    return 1 if failed else 0


def sample_photo() -> str:
    """Path of the real photo shipped in the package (``phoneiqa/samples/README.md`` credits it)."""
    return str(Path(__file__).resolve().parents[1] / "samples" / "china.jpg")

"""The ``phoneiqa`` command line; each subcommand mirrors a function of the Python API."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from phoneiqa.errors import ConfigError, PhoneIQAError
from phoneiqa.explain import MAPS
from phoneiqa.extras import needs_extras

Command = Callable[[argparse.Namespace], int]
EXIT_CODES = {
    0: "every photo assessed",
    1: "some files could not be read (each named on stderr)",
    2: "usage or configuration error (one line: phoneiqa <command>: error: ...)",
    130: "interrupted",
}
"""What the ``phoneiqa`` command's exit code says (the README's table)."""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, ``phoneiqa <command>: error: …``, exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _count(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer of at least ``minimum`` (:func:`phoneiqa.errors.check_count`)."""

    def parse(text: str) -> int:
        value = int(text) if text.lstrip("-").isdigit() else None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {text!r}")
        return value

    return parse


def _suffix(*suffixes: str) -> Callable[[str], str]:
    """An argparse type: a file name ending in one of ``suffixes`` (any case)."""

    def parse(text: str) -> str:
        if Path(text).suffix.lower() not in suffixes:
            raise argparse.ArgumentTypeError(f"must end in {', '.join(suffixes)}, got {text!r}")
        return text

    return parse


_COMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Command, str, str | None]] = {}


def command(name: str, help: str, configure: Callable[[argparse.ArgumentParser], None], extra: str | None = None):
    """Decorator registering a ``run(args) -> exit code`` function as subcommand ``name``.

    ``configure`` adds the subcommand's arguments to its parser; ``extra`` is the extra the command
    needs (named in the error when one of its packages is missing).
    """

    def decorate(run: Command) -> Command:
        _COMMANDS[name] = (configure, run, help, extra)
        return run

    return decorate


def _spec_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", nargs="?", default="smartphone6", help="shipped spec name or JSON path")


@command("spec", "check a label spec and summarise its HEX graph", _spec_args)
def _spec(args: argparse.Namespace) -> int:
    from phoneiqa.labels import load_graph

    graph = load_graph(args.spec)
    print(f"{args.spec}: {len(graph.labels)} labels, {graph.n} nodes, {len(graph.components)} components")
    print(f"legal states: {graph.num_states} (per component: {[len(c.states) for c in graph.components]})")
    for lab in graph.labels:
        print(f"  {lab.key:<18} {lab.name:<10} levels: {', '.join(lab.level_names)}")
    for a, b in graph.exclusions:
        if a.endswith(">=1") and b.endswith(">=1"):
            print(f"  exclusive: {a[:-3]} / {b[:-3]}")
    return 0


def _validate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("csv", help="training label CSV (see data_specs/labels_csv.md)")
    p.add_argument("--spec", default="smartphone6", help="shipped spec name or JSON path")


@command("validate", "validate a training label CSV", _validate_args, extra="pandas")
def _validate(args: argparse.Namespace) -> int:
    from phoneiqa.labels import read_labels_csv

    frame = read_labels_csv(args.csv, spec=args.spec)
    labelled = [c for c in frame.columns if c not in ("filename", "mos", "rater")]
    issues = int((frame[labelled] > 0).any(axis=1).sum()) if labelled else 0
    print(f"{args.csv}: {len(frame)} rows valid; {issues} with an issue; mos: {'mos' in frame.columns}")
    return 0


def _train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "config",
        nargs="?",
        default="default",
        help="a shipped model, whose recipe (encoder, heads, optimisation) is trained on the --csv files "
        "(fast = default, accurate; `phoneiqa models` lists them), or a config JSON (default: default)",
    )
    p.add_argument("--out", required=True, help="output folder for model.pt, metrics.json, curves.png")
    p.add_argument("--csv", action="append", default=[], help="label CSV (repeatable; instead of a config)")
    p.add_argument("--images", action="append", default=[], help="image folder of the matching --csv")
    p.add_argument("--val-csv", help="validation CSV (default: a seeded split of the training rows)")
    p.add_argument("--encoder", help="encoder name, e.g. effnet-lite0 or effnet-lite2+photometric")
    p.add_argument("--score-head", help="a registered score head (phoneiqa.list_heads()) or 'none'")
    p.add_argument("--issue-head", help="a registered issue head (phoneiqa.list_heads()) or 'none'")
    p.add_argument("--epochs", type=_count(1))
    p.add_argument("--seed", type=int)
    p.add_argument("--rename", action="append", default=[], metavar="OLD=NEW", help="rename a --csv column")
    p.add_argument("--ignore", action="append", default=[], metavar="COLUMN", help="drop a column of the --csv files")


@command("train", "train score and issue heads on labelled photos", _train_args, extra="train")
def _train(args: argparse.Namespace) -> int:
    from phoneiqa.evaluate import format_metrics
    from phoneiqa.training import DataSource, HeadConfig, TrainConfig, train

    cfg = TrainConfig.from_json(args.config, data={"train": []})
    model, data = cfg.model, cfg.data
    if not data.train and not args.csv:
        raise ConfigError("give at least one --csv (or a config JSON with data.train)")
    if args.encoder is not None:  # another encoder: the recipe's sizes and part choices no longer apply
        model.encoder, model.encoder_args = args.encoder, {}
        for head in (model.score_head, model.issue_head):
            if head is not None and head.inputs and head.inputs not in args.encoder.split("+"):
                head.inputs = None
    images = args.images + [None] * (len(args.csv) - len(args.images))
    rename = dict(item.split("=", 1) for item in args.rename)
    data.train += [
        DataSource(csv, img, rename=rename, ignore=args.ignore) for csv, img in zip(args.csv, images, strict=True)
    ]
    if args.val_csv:
        data.val = [DataSource(args.val_csv, rename=rename, ignore=args.ignore)]
    for attr in ("epochs", "seed"):
        if getattr(args, attr) is not None:
            setattr(cfg.optim, attr, getattr(args, attr))
    for attr in ("score_head", "issue_head"):
        name = getattr(args, attr)
        if name is not None:
            setattr(model, attr, None if name == "none" else HeadConfig(name))
    result = train(cfg, args.out, command="phoneiqa " + " ".join(sys.argv[1:]))
    print(format_metrics(result.metrics))
    print(f"checkpoint: {result.checkpoint}")
    return 0


def _evaluate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="shipped model name or checkpoint path (model.pt)")
    p.add_argument("csv", help="label CSV with mos and/or issue levels")
    p.add_argument("--images", help="image folder (default: the CSV's folder)")
    p.add_argument("--out", help="folder for predictions.csv and metrics.json")
    p.add_argument("--figures", action="store_true", help="also write tsne.png and ranking.jpg")
    p.add_argument("--rename", action="append", default=[], metavar="OLD=NEW", help="rename a CSV column")
    p.add_argument("--ignore", action="append", default=[], metavar="COLUMN", help="drop a CSV column")


@command("evaluate", "evaluate a trained model on labelled photos", _evaluate_args, extra="train")
def _evaluate(args: argparse.Namespace) -> int:
    from phoneiqa.evaluate import evaluate, format_metrics
    from phoneiqa.loading import model_file
    from phoneiqa.model import Model
    from phoneiqa.training import DataSource

    rename = dict(item.split("=", 1) for item in args.rename)
    source = DataSource(args.csv, args.images, rename=rename, ignore=args.ignore)
    metrics = evaluate(Model.load(model_file(args.model)), [source], out_dir=args.out, figures=args.figures)
    print(format_metrics(metrics))
    return 0


def _assess_args(p: argparse.ArgumentParser) -> None:
    from phoneiqa.loading import BACKENDS

    p.add_argument("files", nargs="*", help="image files (JPEG, PNG, HEIC, WebP, TIFF, BMP, GIF)")
    p.add_argument("--sample", action="store_true", help="also assess the sample photo shipped in the package")
    p.add_argument("--json", action="store_true", help="one JSON object per line instead of a table")
    p.add_argument(
        "--explain",
        metavar="DIR",
        help="also find where the exposure problems are: list each map's share of the frame and write the maps "
        "over the photo as DIR/<file name>.explain.png",
    )
    p.add_argument("--model", default="default", help="shipped model name or checkpoint path (default: default)")
    p.add_argument("--backend", default="auto", choices=BACKENDS, help="compiled ONNX Runtime + numpy, or PyTorch")


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
    p.add_argument("--model", default="default", help="shipped model name or checkpoint path (default: default)")


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


def _audit_args(p: argparse.ArgumentParser) -> None:
    from phoneiqa.audit import DEFAULT_BATCH_SIZE, REPORT_FORMATS
    from phoneiqa.loading import BACKENDS

    p.add_argument("paths", nargs="+", metavar="PATH", help="image files and folders (searched recursively)")
    p.add_argument("--out", type=_suffix(*REPORT_FORMATS), help="report file: .csv, .parquet or .jsonl")
    p.add_argument(
        "--html",
        type=_suffix(".html", ".htm"),
        help="HTML report with thumbnails: one self-contained file up to 1000 photos, else the page and its images "
        "in <page>_files/ beside it",
    )
    p.add_argument("--single-file", action="store_true", help="always one self-contained HTML file (images inline)")
    p.add_argument(
        "--groups",
        action="store_true",
        help="group bursts and near-repeats of one scene, rank each group and mark its best shot "
        "(columns group, group_sure, rank_in_group; only sure groups count as removable)",
    )
    p.add_argument(
        "--explain",
        action="store_true",
        help="in the HTML report, show where each flagged photo's exposure problems are (hover or open a photo)",
    )
    p.add_argument("--probabilities", action="store_true", help="add p_<issue> columns (probability of level >= 1)")
    p.add_argument("--workers", type=_count(0), help="decoding processes (default: one per core; 0: none)")
    p.add_argument(
        "--batch-size", type=_count(1), default=DEFAULT_BATCH_SIZE, help="photos per model call and cache commit"
    )
    p.add_argument("--model", default="default", help="shipped model name or checkpoint path (default: default)")
    p.add_argument("--backend", default="auto", choices=BACKENDS, help="compiled ONNX Runtime + numpy, or PyTorch")
    cache = p.add_mutually_exclusive_group()
    cache.add_argument("--cache", help="SQLite result cache (default: $PHONEIQA_CACHE/audit.sqlite3)")
    cache.add_argument("--no-cache", action="store_true", help="assess everything again and keep nothing")
    p.add_argument("--ray", action="store_true", help="run on a Ray cluster (pip install 'phoneiqa[ray]')")


@command("audit", "assess a photo library into a CSV/Parquet/JSONL report and an HTML page", _audit_args)
def _audit(args: argparse.Namespace) -> int:
    from phoneiqa.audit import audited, summarize, write_report

    if args.explain and not args.html:
        raise ConfigError("--explain draws the exposure maps into the HTML report: give --html too")
    options = {
        "model": args.model,
        "backend": args.backend,
        "probabilities": args.probabilities,
        "thumbnails": bool(args.html),
        "batch_size": args.batch_size,
        "workers": args.workers,
        "cache": False if args.no_cache else args.cache,
        "executor": "ray" if args.ray else "local",
        "explain": args.explain,
        "groups": args.groups,
        "progress": None,
        "concurrency": None,
    }
    try:  # the reports are written while the audit's images can be read from where it keeps them
        with audited(args.paths, **options) as (table, images):
            if args.out:
                write_report(table, args.out)
            if args.html:
                from phoneiqa.audit.reports.html import write_html

                embed = True if args.single_file else None
                write_html(
                    table, args.html, thumbnails=images.get("thumbnail"), overlays=images.get("overlay"), embed=embed
                )
    except KeyboardInterrupt:
        kept = "nothing is kept (--no-cache)" if args.no_cache or args.ray else "finished batches are cached"
        print(f"\nphoneiqa audit: interrupted; {kept}: run the same command again to resume", file=sys.stderr)
        return 130
    print(summarize(table))
    written = [f for f in (args.out, args.html) if f]
    if written:
        print(f"report: {', '.join(written)}")
    else:
        print("report: none saved; give --out report.csv (or .parquet, .jsonl) and/or --html report.html to keep one")
    return 1 if any(table.failed()) else 0


def sample_photo() -> str:
    """Path of the real photo shipped in the package (``phoneiqa/samples/README.md`` credits it)."""
    return str(Path(__file__).resolve().parent / "samples" / "china.jpg")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every registered subcommand."""
    from phoneiqa.version import __version__

    codes = "; ".join(f"{code} {meaning}" for code, meaning in EXIT_CODES.items())
    parser = _Parser(
        prog="phoneiqa", description="Quality score and exposure issues of phone photos.", epilog=f"exit codes: {codes}"
    )
    parser.add_argument("--version", action="version", version=f"phoneiqa {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (configure, run, help_text, extra) in _COMMANDS.items():
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


if __name__ == "__main__":
    sys.exit(main())

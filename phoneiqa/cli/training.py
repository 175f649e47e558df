"""The subcommands about labels and training: ``spec``, ``validate``, ``train``, ``evaluate``."""

from __future__ import annotations

import argparse
import sys

from phoneiqa.cli.registry import at_least, command
from phoneiqa.errors import ConfigError


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
    p.add_argument("--epochs", type=at_least(1))
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

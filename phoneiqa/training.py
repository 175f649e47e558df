"""Training: frozen-encoder features (cached on disk) -> score head and issue head, one checkpoint.

The whole run is described by a :class:`TrainConfig` (:mod:`phoneiqa.training_config`) in three parts:
the model (:class:`ModelConfig`: encoder, heads, label spec), the data (:class:`DataConfig`) and the
optimisation (:class:`OptimConfig`).  A shipped model's recipe holds the first and the last, and the
defaults are the ``fast`` recipe's; a run adds its data.  This trains what ``fast`` is (EfficientNet-Lite0
+ photometric statistics, ridge score, HEX issue head), which the light install runs:

>>> cfg = TrainConfig(DataConfig([DataSource("labels.csv", images="photos/")]))
>>> result = train(cfg, out_dir="runs/mine")            # doctest: +SKIP

or from the command line, ``phoneiqa train fast --csv labels.csv --out runs/mine`` (a shipped model's
name trains its recipe; ``accurate`` likewise) or ``phoneiqa train config.json --out runs/mine``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import platform
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from phoneiqa.encoders import ENCODERS, create_encoder, part_encoder_name
from phoneiqa.encoders.base import Encoder, part_labels
from phoneiqa.features import cached_features, file_digest
from phoneiqa.heads import HEADS, create_head
from phoneiqa.heads.base import IssueHead, ScoreHead
from phoneiqa.labels import load_spec_dict, read_labels_csv
from phoneiqa.metrics import issue_metrics, score_metrics
from phoneiqa.model import Model
from phoneiqa.progress import progress
from phoneiqa.training_config import (
    RECIPES,
    SECTIONS,
    DataConfig,
    DataSource,
    HeadConfig,
    ModelConfig,
    OptimConfig,
    TrainConfig,
    recipe_path,
)

__all__ = [
    "RECIPES",
    "SECTIONS",
    "DataConfig",
    "DataSource",
    "HeadConfig",
    "ModelConfig",
    "OptimConfig",
    "Table",
    "TrainConfig",
    "TrainResult",
    "check_names",
    "data_hash",
    "fit_head",
    "load_table",
    "part_columns",
    "part_layout",
    "part_rows",
    "part_run",
    "recipe_path",
    "save_curves",
    "split",
    "train",
    "validate_issues",
    "validate_score",
]


def part_run(encoder: Encoder, part: str | None) -> tuple[int, list[Encoder]]:
    """The index of the first part and the parts themselves that ``part`` names: one part's name, adjacent
    parts' names joined by ``+`` (``"photometric+exposure"``), or ``None`` for all of them."""
    parts = list(getattr(encoder, "parts", [encoder]))
    if part is None:
        return 0, parts
    names, labels = part.split("+"), part_labels(encoder)
    for first in range(len(parts) - len(names) + 1):
        if labels[first : first + len(names)] == names:
            return first, parts[first : first + len(names)]
    raise ValueError(f"head inputs {part!r} is not a part (or a run of adjacent parts) of encoder {encoder.name!r}")


def part_columns(encoder: Encoder, part: str | None) -> tuple[int, int]:
    """The ``(start, stop)`` feature columns of the parts :func:`part_run` names."""
    first, run = part_run(encoder, part)
    start = sum(enc.feature_dim for enc in list(getattr(encoder, "parts", [encoder]))[:first])
    return start, start + sum(enc.feature_dim for enc in run)


def part_rows(encoder: Encoder, cfg: ModelConfig, table: Table) -> list[np.ndarray]:
    """For each part of the encoder, which rows of ``table`` a configured head reads its columns for (rows with
    a score are read by the score head, rows with levels by the issue head)."""
    targets = {"score": ~np.isnan(table.mos), "issues": table.levels[:, 0] >= 0}
    spans = [
        (part_columns(encoder, head_cfg.inputs), targets[kind])
        for kind, head_cfg in (("score", cfg.score_head), ("issues", cfg.issue_head))
        if head_cfg is not None
    ]
    rows, start = [], 0
    for part in getattr(encoder, "parts", [encoder]):
        stop = start + part.feature_dim
        needed = np.zeros(len(table.paths), dtype=bool)
        for (lo, hi), mask in spans:
            if lo < stop and start < hi:
                needed |= mask
        rows.append(needed)
        start = stop
    return rows


def part_layout(encoder: Encoder, part: str | None) -> list[list[int]]:
    """The feature layout (see :meth:`~phoneiqa.encoders.base.Encoder.layout`) of the columns that
    :func:`part_columns` selects, as JSON-able lists (heads that read spatial maps get it)."""
    return [list(shape) for enc in part_run(encoder, part)[1] for shape in enc.layout()]


@dataclass
class Table:
    """Images with their targets: ``mos`` (NaN where unknown), ``levels`` (-1 where unlabelled) and who gave the
    levels, ``raters`` ("" where unnamed; the issue head learns each named rater's offset as a nuisance)."""

    paths: list[Path]
    mos: np.ndarray
    levels: np.ndarray
    raters: np.ndarray

    def subset(self, idx: np.ndarray) -> Table:
        return Table([self.paths[i] for i in idx], self.mos[idx], self.levels[idx], self.raters[idx])

    def __add__(self, other: Table) -> Table:
        return Table(
            self.paths + other.paths,
            np.concatenate([self.mos, other.mos]),
            np.vstack([self.levels, other.levels]),
            np.concatenate([self.raters, other.raters]),
        )

    def rater_index(self) -> np.ndarray:
        """Each row's rater as an index into the sorted names (-1 where unnamed)."""
        names = sorted(set(self.raters) - {""})
        return np.array([names.index(r) if r else -1 for r in self.raters], dtype=np.int64)


@dataclass
class TrainResult:
    """What :func:`train` produced."""

    checkpoint: Path
    metrics: dict[str, Any]
    model: Model


def load_table(sources: list[DataSource], spec: str) -> Table:
    """Read and validate label CSVs into one :class:`Table`."""
    from phoneiqa.labels import load_graph

    n_labels = len(load_graph(spec).labels)
    tables = []
    for src in sources:
        frame = read_labels_csv(src.csv, spec=spec, rename=src.rename, ignore=src.ignore)
        root = Path(src.images) if src.images else Path(src.csv).parent
        label_cols = [c for c in frame.columns if c not in ("filename", "mos", "rater")]
        levels = frame[label_cols].to_numpy(np.int64) if label_cols else np.full((len(frame), n_labels), -1)
        mos = frame["mos"].to_numpy(np.float64) if "mos" in frame else np.full(len(frame), np.nan)
        raters = frame["rater"].to_numpy(str) if "rater" in frame else np.full(len(frame), "")
        table = Table([root / f for f in frame["filename"]], mos, levels, raters.astype(object))
        tables.append(table.subset(np.repeat(np.arange(len(frame)), src.repeat)))
    out = tables[0]
    for t in tables[1:]:
        out = out + t
    return out


def split(table: Table, fraction: float, seed: int) -> tuple[Table, Table]:
    """Seeded random train/validation split."""
    order = np.random.default_rng(seed).permutation(len(table.paths))
    n_val = round(fraction * len(order))
    return table.subset(np.sort(order[n_val:])), table.subset(np.sort(order[:n_val]))


def data_hash(table: Table) -> str:
    """SHA-1 over image contents and targets, independent of file names and order."""
    rows = sorted(
        f"{file_digest(p)}|{m:.6g}|{','.join(map(str, lv))}"
        for p, m, lv in zip(table.paths, table.mos, table.levels, strict=True)
    )
    return hashlib.sha1("\n".join(rows).encode()).hexdigest()


def fit_head(
    head: ScoreHead | IssueHead,
    x_train: Tensor,
    y_train: Tensor,
    x_val: Tensor,
    y_val: Tensor,
    validate,
    cfg: OptimConfig,
    desc: str,
    raters: Tensor | None = None,
) -> dict[str, list[float]]:
    """AdamW + cosine schedule with early stopping on ``validate(head, x_val, y_val)`` (higher is better).

    The head ends with the weights of its best validation epoch.  Returns the curves.  A head
    without trainable parameters is complete after ``prepare``: one "epoch" is recorded.
    ``raters``: the training rows' rater indices (:meth:`Table.rater_index`), for an issue head.
    """
    gen = torch.Generator().manual_seed(cfg.seed)
    extra = {} if raters is None else {"raters": raters}
    head.prepare(x_train, y_train, **extra)
    params = [p for p in head.parameters() if p.requires_grad]
    if not params:  # a closed-form head (ridge) is fitted by prepare
        head.eval()
        with torch.no_grad():
            loss = float(head.loss(x_train, y_train)[0])
        return {"train_loss": [loss], "val": [validate(head, x_val, y_val)]}
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = cfg.epochs * max(1, math.ceil(len(x_train) / cfg.batch_size))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    curves: dict[str, list[float]] = {"train_loss": [], "val": []}
    best, best_state, waited = -math.inf, copy.deepcopy(head.state_dict()), 0
    epochs = progress(range(cfg.epochs), desc=desc)
    for _ in epochs:
        head.train()
        order = torch.randperm(len(x_train), generator=gen)
        total = 0.0
        for start in range(0, len(order), cfg.batch_size):
            idx = order[start : start + cfg.batch_size]
            if len(idx) < 2:
                continue
            loss, _ = head.loss(x_train[idx], y_train[idx], **{k: v[idx] for k, v in extra.items()})
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        head.eval()
        value = validate(head, x_val, y_val)
        curves["train_loss"].append(total / len(x_train))
        curves["val"].append(value)
        shown = {"loss": curves["train_loss"][-1], "val": value, "best": max(best, value)}
        epochs.set_postfix({k: f"{v:.4f}" for k, v in shown.items()})
        if value > best:
            best, best_state, waited = value, copy.deepcopy(head.state_dict()), 0
        else:
            waited += 1
            if waited >= cfg.patience:
                break
    head.load_state_dict(best_state)
    head.eval()
    return curves


def validate_score(head: ScoreHead, x: Tensor, y: Tensor) -> float:
    """Early-stopping criterion of score heads: validation SRCC."""
    return score_metrics(head.predict(x).numpy(), y.numpy())["srcc"]


def validate_issues(head: IssueHead, x: Tensor, y: Tensor) -> float:
    """Early-stopping criterion of issue heads: minus the validation loss."""
    with torch.no_grad():
        loss, _ = head.loss(x, y)
    return -float(loss)


def check_names(cfg: ModelConfig) -> None:
    """Raise :class:`ConfigError` for an encoder part or head name that is not registered, before any work."""
    for part in cfg.encoder.split("+"):
        ENCODERS.get(part_encoder_name(part))
    for head in (cfg.score_head, cfg.issue_head):
        if head is not None:
            HEADS.get(head.name)


def train(cfg: TrainConfig, out_dir: str | Path, command: str | None = None) -> TrainResult:
    """Train the configured heads on frozen features and write ``model.pt``, ``metrics.json``, ``curves.png``."""
    from phoneiqa.version import __version__

    check_names(cfg.model)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model_cfg, seed = cfg.model, cfg.optim.seed
    torch.manual_seed(seed)
    encoder = create_encoder(model_cfg.encoder, **model_cfg.encoder_args).eval()
    table = load_table(cfg.data.train, model_cfg.spec)
    if cfg.data.val:
        train_t, val_t = table, load_table(cfg.data.val, model_cfg.spec)
    else:
        train_t, val_t = split(table, cfg.data.val_fraction, seed)
    cache = Path(cfg.data.cache_dir) if cfg.data.cache_dir else None
    x_train = cached_features(
        encoder, train_t.paths, cache, desc="train features", rows=part_rows(encoder, model_cfg, train_t)
    )
    x_val = cached_features(encoder, val_t.paths, cache, desc="val features", rows=part_rows(encoder, model_cfg, val_t))

    metrics: dict[str, Any] = {}
    curves: dict[str, dict[str, list[float]]] = {}
    heads: dict[str, Any] = {"score": None, "issues": None}
    columns: dict[str, tuple[int, int]] = {}
    jobs = [
        ("score", model_cfg.score_head, ~np.isnan(train_t.mos), ~np.isnan(val_t.mos), "mos", validate_score),
        ("issues", model_cfg.issue_head, train_t.levels[:, 0] >= 0, val_t.levels[:, 0] >= 0, "levels", validate_issues),
    ]
    for kind, head_cfg, tr_mask, va_mask, target, validate in jobs:
        if head_cfg is None or not tr_mask.any():
            continue
        if not va_mask.any():
            raise ValueError(f"no validation rows with {target} for the {kind} head")
        kwargs = dict(head_cfg.args)
        if kind == "issues":
            kwargs.setdefault("spec", load_spec_dict(model_cfg.spec))  # the checkpoint carries its label schema
        if getattr(HEADS.get(head_cfg.name), "needs_encoder", False):
            kwargs["encoder"] = encoder
        start, stop = columns[kind] = part_columns(encoder, head_cfg.inputs)
        if getattr(HEADS.get(head_cfg.name), "needs_layout", False):
            kwargs["layout"] = part_layout(encoder, head_cfg.inputs)
        torch.manual_seed(seed)  # each head starts alike whatever was built before it (encoders draw weights)
        head = create_head(head_cfg.name, in_features=stop - start, **kwargs)
        y_tr = torch.as_tensor(getattr(train_t, target)[tr_mask], dtype=torch.float32 if kind == "score" else None)
        y_va = torch.as_tensor(getattr(val_t, target)[va_mask], dtype=torch.float32 if kind == "score" else None)
        t0 = time.perf_counter()
        x_tr, x_va = x_train[tr_mask, start:stop], x_val[va_mask, start:stop]
        raters = torch.from_numpy(train_t.rater_index()[tr_mask]) if kind == "issues" else None
        curves[kind] = fit_head(head, x_tr, y_tr, x_va, y_va, validate, cfg.optim, f"train {kind}", raters)
        head.eval()
        if kind == "score":
            metrics["score"] = score_metrics(head.predict(x_va).numpy(), y_va.numpy())
        else:
            pred = head.predict(x_va).levels.numpy()
            metrics["issues"] = issue_metrics(pred, y_va.numpy(), [lab.key for lab in head.graph.labels])
        metrics[f"{kind}_train_seconds"] = round(time.perf_counter() - t0, 2)
        metrics[f"{kind}_rows"] = {"train": int(tr_mask.sum()), "val": int(va_mask.sum())}
        heads[kind] = head

    meta = {
        "command": command or " ".join(sys.argv),
        "config": asdict(cfg),
        "data_hash": {"train": data_hash(train_t), "val": data_hash(val_t)},
        "metrics": metrics,
        "curves": curves,
        "phoneiqa_version": __version__,
        "torch_version": str(torch.__version__),
        "python": platform.python_version(),
        "trained_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    columns = {kind: cols for kind, cols in columns.items() if heads[kind] is not None}
    model = Model(
        encoder, model_cfg.encoder, model_cfg.encoder_args, heads["score"], heads["issues"], meta, columns
    ).eval()
    checkpoint = model.save(out_dir / "model.pt")
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    save_curves(curves, out_dir / "curves.png")
    return TrainResult(checkpoint, metrics, model)


def save_curves(curves: dict[str, dict[str, list[float]]], path: Path) -> None:
    """Training loss and validation metric per epoch for each head, as one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not curves:
        return
    fig, axes = plt.subplots(1, len(curves), figsize=(5 * len(curves), 3.5), squeeze=False)
    labels = {"score": "val SRCC", "issues": "val -loss"}
    for ax, (kind, c) in zip(axes[0], curves.items(), strict=True):
        epochs = np.arange(1, len(c["train_loss"]) + 1)
        ax.plot(epochs, c["train_loss"], label="train loss")
        ax.set_xlabel("epoch")
        ax.set_title(f"{kind} head")
        twin = ax.twinx()
        twin.plot(epochs, c["val"], color="tab:orange", label=labels[kind])
        twin.set_ylabel(labels[kind])
        ax.legend(loc="upper left")
        twin.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)

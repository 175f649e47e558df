"""Evaluation of a trained model on labelled images: metrics, per-image predictions, figures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from torch import Tensor

from phoneiqa.features import cached_features
from phoneiqa.metrics import issue_metrics, score_metrics
from phoneiqa.model import Model
from phoneiqa.training import DataSource, Table, load_table


def predictions_frame(model: Model, table: Table, features: Tensor) -> pd.DataFrame:
    """Per-image predictions beside the truth (``pred_<label>`` next to ``<label>``, as the seed's files)."""
    pred = model.predict_features(features)
    out = pd.DataFrame({"filename": [str(p) for p in table.paths]})
    if pred.scores is not None:
        out["pred_score"] = pred.scores.numpy()
    out["mos"] = table.mos
    if pred.issues is not None:
        for j, lab in enumerate(model.issue_head.graph.labels):
            out[f"pred_{lab.key}"] = pred.issues.levels[:, j].numpy()
            out[lab.key] = pd.array([v if v >= 0 else pd.NA for v in table.levels[:, j]], dtype="Int64")
    return out


def metrics_of(frame: pd.DataFrame, model: Model) -> dict[str, Any]:
    """Score metrics on rows with a MOS, issue metrics on labelled rows."""
    out: dict[str, Any] = {}
    if "pred_score" in frame and frame["mos"].notna().sum() >= 3:
        rows = frame[frame["mos"].notna()]
        out["score"] = score_metrics(rows["pred_score"].to_numpy(), rows["mos"].to_numpy())
    if model.issue_head is not None:
        keys = [lab.key for lab in model.issue_head.graph.labels]
        rows = frame[frame[keys[0]].notna()]
        if len(rows):
            pred = rows[[f"pred_{k}" for k in keys]].to_numpy()
            out["issues"] = issue_metrics(pred, rows[keys].to_numpy(dtype=np.int64), keys)
    return out


def evaluate(
    model: Model,
    data: list[DataSource],
    out_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
    figures: bool = False,
) -> dict[str, Any]:
    """Metrics of ``model`` on labelled data; with ``out_dir``, also ``predictions.csv`` (an empty truth cell
    where a row has no label), ``metrics.json`` and (``figures=True``, models with a score head)
    ``tsne.png`` and ``ranking.jpg``."""
    spec = model.issue_head.config["spec"] if model.issue_head is not None else "smartphone6"
    table = load_table(data, spec)
    features = cached_features(model.encoder, table.paths, Path(cache_dir) if cache_dir else None, desc="features")
    frame = predictions_frame(model, table, features)
    metrics = metrics_of(frame, model)
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        frame.to_csv(out / "predictions.csv", index=False)
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
        if figures:
            from phoneiqa.figures import ranking_sheet, tsne_plot

            if model.has_score:  # both figures are about the score
                tsne_plot(model, features, frame, out / "tsne.png")
                ranking_sheet(frame, out / "ranking.jpg")
    return metrics


def format_metrics(metrics: dict[str, Any]) -> str:
    """A readable table of evaluation metrics."""
    lines = []
    if "score" in metrics:
        s = metrics["score"]
        lines.append(
            f"score (n={s['n']}): SRCC {s['srcc']:.4f}  KRCC {s['krcc']:.4f}  PLCC {s['plcc']:.4f}  "
            f"PLCC(fitted) {s['plcc_fitted']:.4f}  RMSE {s['rmse']:.3f}  EV {s.get('explained_variance', np.nan):.4f}"
        )
    if "issues" in metrics:
        lines.append(f"{'label':<18}{'acc':>7}{'always-none':>13}{'recall':>8}{'precision':>11}{'macro-F1':>10}")
        for key, m in metrics["issues"].items():
            lines.append(
                f"{key:<18}{m['accuracy']:>7.3f}{m['accuracy_always_none']:>13.3f}{_f(m['recall']):>8}"
                f"{_f(m['precision']):>11}{m['macro_f1']:>10.3f}"
            )
    return "\n".join(lines)


def _f(value: float) -> str:
    return "-" if np.isnan(value) else f"{value:.3f}"

"""Evaluation figures: a t-SNE of embeddings coloured by score (with the QCERN pivots) and a ranking sheet."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image, ImageDraw

from phoneiqa.image import load_image
from phoneiqa.model import Model


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def tsne_plot(model: Model, features: torch.Tensor, frame: pd.DataFrame, path: Path, seed: int = 0) -> None:
    """t-SNE of the score head's embedding (its ``embed`` method if it has one, else the features),
    coloured by MOS where known (else by predicted score); QCERN pivots drawn as a line of crosses."""
    from sklearn.manifold import TSNE

    head = model.score_head
    pivots = None
    if head is not None and hasattr(head, "embed"):
        with torch.no_grad():
            embedded = head.embed(model.head_inputs("score", features))
        # QCERN gives (image tokens, pivots, pivot scores); the other heads their embedding alone
        emb, pivots = embedded[:2] if isinstance(embedded, tuple) else (embedded, None)
        points = (emb if pivots is None else torch.cat([emb, pivots])).numpy()
    else:
        points = features.numpy()
    perplexity = float(min(30, max(2, (len(points) - 1) // 3)))
    xy = TSNE(n_components=2, perplexity=perplexity, random_state=seed, init="pca").fit_transform(points)
    colour = frame["mos"].to_numpy() if frame["mos"].notna().all() else frame.get("pred_score", frame["mos"])
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 5))
    n = len(frame)
    sc = ax.scatter(xy[:n, 0], xy[:n, 1], c=colour, cmap="viridis", s=12)
    if pivots is not None:
        ax.plot(xy[n:, 0], xy[n:, 1], "-x", color="crimson", ms=4, lw=0.8, label="score pivots")
        ax.legend(loc="best")
    fig.colorbar(sc, ax=ax, label="score")
    ax.set_title("t-SNE of score embeddings")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def ranking_sheet(frame: pd.DataFrame, path: Path, columns: int = 8, thumb: int = 160, max_images: int = 64) -> None:
    """Thumbnails sorted by predicted score (best first), evenly sampled over the ranking, with scores."""
    if "pred_score" not in frame:
        return
    ranked = frame.sort_values("pred_score", ascending=False).reset_index(drop=True)
    picks = np.unique(np.linspace(0, len(ranked) - 1, min(max_images, len(ranked))).round().astype(int))
    rows = int(np.ceil(len(picks) / columns))
    sheet = Image.new("RGB", (columns * thumb, rows * (thumb + 18)), "white")
    draw = ImageDraw.Draw(sheet)
    for k, i in enumerate(picks):
        row = ranked.iloc[i]
        im = load_image(row["filename"])
        im.thumbnail((thumb, thumb))
        x, y = (k % columns) * thumb, (k // columns) * (thumb + 18)
        sheet.paste(im, (x + (thumb - im.width) // 2, y + (thumb - im.height) // 2))
        mos = "" if pd.isna(row["mos"]) else f" / {row['mos']:.1f}"
        draw.text((x + 4, y + thumb + 2), f"#{i + 1}  {row['pred_score']:.1f}{mos}", fill="black")
    sheet.save(path, quality=90)

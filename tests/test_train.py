"""End to end: graded images generated from real photos -> training -> checkpoint -> evaluation."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from sklearn.datasets import load_sample_image

from phoneiqa.cli import main
from phoneiqa.encoders import create_encoder
from phoneiqa.features import cached_features
from phoneiqa.model import Model
from phoneiqa.preprocess import load_scaled
from phoneiqa.runtime import load_runtime
from phoneiqa.synth import generate_dataset
from phoneiqa.training import (
    DataConfig,
    DataSource,
    HeadConfig,
    ModelConfig,
    OptimConfig,
    TrainConfig,
    load_table,
    part_columns,
    train,
)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Twelve scenes cut from scikit-learn's two real photos, 16 graded variants each."""
    root = tmp_path_factory.mktemp("graded")
    bases = []
    for name in ("china.jpg", "flower.jpg"):
        photo = Image.fromarray(load_sample_image(name))
        w, h = photo.size
        for i in range(3):
            for j in range(2):
                crop = photo.crop((i * w // 4, j * h // 3, i * w // 4 + w // 2, j * h // 3 + 2 * h // 3))
                path = root / "bases" / f"{name[:-4]}_{i}{j}.png"
                path.parent.mkdir(exist_ok=True)
                crop.save(path)
                bases.append(path)
    out = root / "set"
    generate_dataset(bases, out, per_image=16, seed=0, fractions=(0.66, 0.34))
    return out


@pytest.fixture(scope="module")
def trained(graded, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    cfg = TrainConfig(
        DataConfig(
            train=[DataSource(str(graded / "labels_train.csv"))],
            val=[DataSource(str(graded / "labels_val.csv"))],
            cache_dir=str(out / "cache"),
        ),
        model=ModelConfig(encoder="photometric", score_head=None, issue_head=HeadConfig("hex-linear", {"hidden": 64})),
        optim=OptimConfig(epochs=60, batch_size=32, lr=3e-3),
    )
    return train(cfg, out), out


def test_training_separates_dark_from_bright(trained, graded):
    result, out = trained
    assert (out / "model.pt").is_file() and (out / "curves.png").stat().st_size > 1000
    frame = pd.read_csv(graded / "labels_val.csv")
    rows = frame[(frame["dark"] > 0) | (frame["bright"] > 0)]
    assert len(rows) >= 8  # unseen scenes with one of the two issues
    images = [Image.open(graded / name).convert("RGB") for name in rows["filename"]]
    probs = Model.load(result.checkpoint).predict_images(images).issues.probabilities
    p_issue = 1 - probs[:, :, 0]  # P(level >= 1) per label
    said_dark = (p_issue[:, 1] > p_issue[:, 0]).numpy()
    agreement = (said_dark == (rows["dark"] > 0).to_numpy()).mean()
    assert agreement > 0.85, agreement  # chance is about 0.5


def test_checkpoint_round_trip_is_bit_identical(trained, graded):
    result, _ = trained
    loaded = Model.load(result.checkpoint)
    images = [Image.open(p).convert("RGB") for p in sorted(graded.glob("*.jpg"))[:6]]
    a = result.model.predict_images(images).issues
    b = loaded.predict_images(images).issues
    assert torch.equal(a.probabilities, b.probabilities) and torch.equal(a.levels, b.levels)
    again = loaded.predict_images(images).issues
    assert torch.equal(b.probabilities, again.probabilities)
    assert loaded.meta["data_hash"]["train"] and loaded.meta["metrics"]["issues"]["mean"]["accuracy"] > 0


def test_cli_evaluate_writes_predictions(trained, graded, tmp_path, capsys):
    result, _ = trained
    assert main(["evaluate", str(result.checkpoint), str(graded / "labels_val.csv"), "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "always-none" in printed and "dark" in printed
    pred = pd.read_csv(tmp_path / "predictions.csv")
    assert {"pred_dark", "dark", "filename"} <= set(pred.columns)
    assert np.isin(pred["pred_dark"], [0, 1, 2, 3]).all()

    # rows with a score but no issue labels: empty truth cells, not -1; no score figures for a model without one
    from phoneiqa.evaluate import evaluate

    labels = pd.read_csv(graded / "labels_val.csv")
    labels.iloc[:4].to_csv(tmp_path / "levels.csv", index=False)
    labels.iloc[4:8][["filename"]].assign(mos=50.0).to_csv(tmp_path / "scores.csv", index=False)
    sources = [DataSource(str(tmp_path / name), str(graded)) for name in ("levels.csv", "scores.csv")]
    evaluate(result.model, sources, out_dir=tmp_path / "mixed", figures=True)
    pred = pd.read_csv(tmp_path / "mixed" / "predictions.csv", keep_default_na=False)
    assert pred["dark"].astype(str).tolist() == [str(v) for v in labels["dark"][:4]] + [""] * 4
    assert not (tmp_path / "mixed" / "tsne.png").exists()


def test_a_head_can_read_one_part_of_a_concatenated_encoder(graded, tmp_path):
    """``HeadConfig.inputs`` picks one encoder part's columns, a labelled second view of one encoder included;
    the checkpoint keeps the choice."""
    cfg = TrainConfig(
        DataConfig(
            train=[DataSource(str(graded / "labels_train.csv"))],
            val=[DataSource(str(graded / "labels_val.csv"))],
            cache_dir=str(tmp_path / "cache"),
        ),
        model=ModelConfig(
            encoder="photometric+photometric:small",
            encoder_args={"photometric": {"short_side": 128}, "photometric:small": {"short_side": 48}},
            score_head=None,
            issue_head=HeadConfig("hex-linear", inputs="photometric:small"),
        ),
        optim=OptimConfig(epochs=2),
    )
    with pytest.raises(ValueError, match="not a part"):
        part_columns(create_encoder("photometric"), "effnet-lite0")
    three = create_encoder("photometric+exposure+photometric:again")
    width, extra = three.parts[0].feature_dim, three.parts[1].feature_dim
    assert part_columns(three, "exposure+photometric:again") == (width, 2 * width + extra)
    assert part_columns(three, "photometric+exposure") == (0, width + extra)
    with pytest.raises(ValueError, match="adjacent"):
        part_columns(three, "exposure+photometric")
    result = train(cfg, tmp_path)
    width = result.model.encoder.parts[0].feature_dim
    assert result.model.columns == {"issues": (width, 2 * width)}
    assert result.model.issue_head.in_features == width
    loaded = Model.load(result.checkpoint)
    assert loaded.columns == {"issues": (width, 2 * width)}
    assert [part.preprocess.short_side for part in loaded.encoder.parts] == [128, 48]
    features = torch.randn(4, 2 * width)
    expected = result.model.issue_head.predict(features[:, width:]).probabilities
    assert torch.equal(loaded.predict_features(features).issues.probabilities, expected)


def test_training_computes_only_the_encoder_parts_its_heads_read(graded, tmp_path):
    """Issue rows feed a head that reads the ``exposure`` part only: the ``photometric`` part is never computed,
    and each part's cached features equal the whole encoder's columns."""
    cache = tmp_path / "cache"
    cfg = TrainConfig(
        DataConfig(
            train=[DataSource(str(graded / "labels_train.csv"))],
            val=[DataSource(str(graded / "labels_val.csv"))],
            cache_dir=str(cache),
        ),
        model=ModelConfig(
            encoder="photometric+exposure",
            encoder_args={"photometric": {"short_side": 160}, "exposure": {"short_side": 128}},
            score_head=None,
            issue_head=HeadConfig("hex-linear", inputs="exposure"),
        ),
        optim=OptimConfig(epochs=2),
    )
    result = train(cfg, tmp_path / "run")
    computed = {(folder / "encoder_id.txt").read_text().split("|")[0] for folder in (cache / "features").iterdir()}
    assert computed == {"exposure"}

    # both numpy parts compile into the torch-free runtime, which agrees with the PyTorch model
    runtime = load_runtime(result.checkpoint, cache_dir=tmp_path / "runtime")
    photos = sorted(graded.glob("*.jpg"))[:4]
    for ours, theirs in zip(runtime.assess(photos), result.model.assess(photos), strict=True):
        assert ours.issues == theirs.issues
        for label, probabilities in ours.probabilities.items():
            np.testing.assert_allclose(probabilities, theirs.probabilities[label], atol=1e-4)

    encoder = create_encoder(cfg.model.encoder, **cfg.model.encoder_args)
    paths = sorted(graded.glob("*.jpg"))[:5]
    whole = encoder.encode([load_scaled(p, 160) for p in paths])
    np.testing.assert_allclose(cached_features(encoder, paths, cache).numpy(), whole.numpy(), atol=1e-6)


def test_an_issue_head_trains_alike_whatever_encoder_parts_come_before_it(graded, tmp_path):
    """Building EfficientNet draws random initial weights; the issue head must not depend on that."""
    heads = []
    for encoder in ("photometric", "effnet-lite0+photometric"):
        cfg = TrainConfig(
            DataConfig(
                train=[DataSource(str(graded / "labels_train.csv"))],
                val=[DataSource(str(graded / "labels_val.csv"))],
                cache_dir=str(tmp_path / "cache"),
            ),
            model=ModelConfig(
                encoder=encoder,
                score_head=None,
                issue_head=HeadConfig("hex-linear", {"hidden": 16}, inputs="photometric"),
            ),
            optim=OptimConfig(epochs=2),
        )
        heads.append(train(cfg, tmp_path / encoder).model.issue_head.state_dict())
    assert all(torch.equal(heads[0][k], heads[1][k]) for k in heads[0])


def test_a_kernel_ridge_score_compiles_into_the_runtime(graded, tmp_path):
    """A score that depends on brightness non-linearly, learnt by the kernel ridge head and run by the runtime."""
    photos = sorted(graded.glob("*.jpg"))
    light = np.array([np.asarray(Image.open(p).convert("L"), dtype=np.float64).mean() for p in photos])
    mos = 80 - 0.01 * (light - 120) ** 2
    table = pd.DataFrame({"filename": [p.name for p in photos], "mos": mos})
    table.iloc[::4].to_csv(tmp_path / "val.csv", index=False)
    table.drop(table.index[::4]).to_csv(tmp_path / "train.csv", index=False)
    cfg = TrainConfig(
        DataConfig(
            train=[DataSource(str(tmp_path / "train.csv"), str(graded))],
            val=[DataSource(str(tmp_path / "val.csv"), str(graded))],
            cache_dir=str(tmp_path / "cache"),
        ),
        model=ModelConfig(encoder="photometric", score_head=HeadConfig("kernel-ridge"), issue_head=None),
    )
    result = train(cfg, tmp_path / "run")
    assert result.metrics["score"]["srcc"] > 0.8
    runtime = load_runtime(result.checkpoint, cache_dir=tmp_path / "runtime")
    sample = photos[:8]
    for ours, theirs in zip(runtime.assess(sample), result.model.assess(sample), strict=True):
        assert ours.score == pytest.approx(theirs.score, abs=0.01)  # float32 kernel sums: below the shown 0.1


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"data": {"train": []}, "optim": {"epoch": 3}}, "unknown key 'epoch' in optim (did you mean 'epochs'?)"),
        ({"model": {"encoder": "photometric"}}, "training config needs 'data'"),
        ({"data": {"train": [{"images": "x"}]}}, "data.train entry needs 'csv'"),
        (
            {"data": {"train": []}, "model": {"score_head": {"nme": "ridge"}}},
            "unknown key 'nme' in model.score_head (did you mean 'name'?)",
        ),
        ({"data": {"train": []}, "epochs": 3}, "unknown key 'epochs' in training config (it belongs in 'optim')"),
        ({"data": {"train": []}, "modle": {}}, "unknown key 'modle' in training config (did you mean 'model'?)"),
        ({"data": {"train": "labels.csv"}}, None),
        (
            {"data": {"train": [{"csv": "a.csv", "repeat": 0}]}},
            "data source a.csv: repeat must be a positive integer, got 0",
        ),
    ],
)
def test_configs_are_checked_key_by_key(config, message):
    from phoneiqa.errors import ConfigError

    if message is None:  # a list was expected: say so instead of iterating over the characters
        with pytest.raises(ConfigError, match=r"data\.train entry must be a JSON object, got str"):
            TrainConfig.from_dict(config)
        return
    with pytest.raises(ConfigError) as info:
        TrainConfig.from_dict(config)
    assert str(info.value) == message


def test_a_repeated_source_counts_each_row_that_many_times_with_its_rater(tmp_path):
    header = "filename,bright,dark,low_contrast,high_contrast,overexposed,over_suppressed,rater"
    (tmp_path / "judged.csv").write_text(f"{header}\na.jpg,0,1,0,0,0,0,j1\nb.jpg,0,0,0,0,0,0,j2\n")
    (tmp_path / "synthetic.csv").write_text(
        "filename,bright,dark,low_contrast,high_contrast,overexposed,over_suppressed\nc.jpg,2,0,0,0,0,0\n"
    )
    table = load_table(
        [DataSource(str(tmp_path / "judged.csv"), repeat=3), DataSource(str(tmp_path / "synthetic.csv"))], "smartphone6"
    )
    assert [p.name for p in table.paths] == ["a.jpg"] * 3 + ["b.jpg"] * 3 + ["c.jpg"]
    assert table.levels[:, 1].tolist() == [1, 1, 1, 0, 0, 0, 0]
    assert table.rater_index().tolist() == [0, 0, 0, 1, 1, 1, -1]


def test_a_config_round_trips_through_json():
    """What the checkpoint records (``asdict``) reads back as the same config."""
    import dataclasses

    cfg = TrainConfig(
        DataConfig([DataSource("a.csv", "img", rename={"image": "filename"})], val_fraction=0.1),
        model=ModelConfig(encoder="photometric", score_head=HeadConfig("ridge"), issue_head=None),
        optim=OptimConfig(epochs=3, seed=7),
    )
    assert TrainConfig.from_dict(json.loads(json.dumps(dataclasses.asdict(cfg)))) == cfg


def test_a_nine_label_model_without_a_score_works_everywhere(graded, tmp_path, capsys):
    """The white-balance spec's nine labels and no score head: training, the runtime, the audit table,
    its summary, the HTML report and the CLI table all take their columns from the model."""
    from phoneiqa.audit import audit, summarize
    from phoneiqa.audit.reports.html import write_html

    for split in ("train", "val"):
        table = pd.read_csv(graded / f"labels_{split}.csv")
        table["too_red"], table["too_blue"], table["too_yellow"] = table["dark"], 0, table["bright"]
        table.to_csv(tmp_path / f"{split}.csv", index=False)
    cfg = TrainConfig(
        DataConfig(
            train=[DataSource(str(tmp_path / "train.csv"), str(graded))],
            val=[DataSource(str(tmp_path / "val.csv"), str(graded))],
            cache_dir=str(tmp_path / "cache"),
        ),
        model=ModelConfig(
            encoder="photometric",
            score_head=None,
            issue_head=HeadConfig("hex-linear", {"hidden": 16}),
            spec="smartphone6_wb",
        ),
        optim=OptimConfig(epochs=3),
    )
    result = train(cfg, tmp_path / "run")
    nine = ("bright", "dark", "low_contrast", "high_contrast", "overexposed", "over_suppressed")
    nine += ("too_red", "too_blue", "too_yellow")
    assert result.model.labels == nine and not result.model.has_score
    assert isinstance(result.model.issue_head.config["spec"], dict)  # the schema travels in the checkpoint
    runtime = load_runtime(result.checkpoint, cache_dir=tmp_path / "runtime")
    assert runtime.labels == nine and not runtime.has_score

    photos = tmp_path / "photos"
    photos.mkdir()
    for path in sorted(graded.glob("*.jpg"))[:3]:
        (photos / path.name).write_bytes(path.read_bytes())
    table = audit(photos, model=result.checkpoint, cache=False, workers=0)
    assert table.columns == ["path", "score", *nine, "error"] and table.labels == list(nine)
    assert all(s is None for s in table["score"]) and not any(table.failed())
    assert all(level in (0, 1, 2, 3) for label in nine for level in table[label])
    summary = summarize(table)
    assert summary.startswith("3 files: 3 assessed, 0 from the cache, 0 failed") and "too_yellow" in summary
    page = write_html(table, tmp_path / "report.html").read_text(encoding="utf-8")
    assert '<span id="n-failed">0</span>' in page and '<option value="too_red">' in page

    assert main(["assess", str(sorted(photos.iterdir())[0]), "--model", str(result.checkpoint)]) == 0
    header = capsys.readouterr().out.splitlines()[0].split()
    assert header == ["file", "score", *nine]


def test_cli_train_reads_a_csv_with_other_column_names(scored_images, tmp_path, capsys):
    """CLIVE's own mos.csv names its columns image, mos, mos_std: --rename and --ignore take it as it is."""
    csv, _ = scored_images
    table = pd.read_csv(csv).rename(columns={"filename": "image"}).assign(mos_std=5.0)
    table.to_csv(csv.parent / "mos.csv", index=False)
    args = ["train", "--csv", str(csv.parent / "mos.csv"), "--rename", "image=filename", "--ignore", "mos_std"]
    args += ["--encoder", "photometric", "--score-head", "ridge", "--issue-head", "none"]
    args += ["--out", str(tmp_path / "run")]
    assert main(args) == 0
    assert "SRCC" in capsys.readouterr().out and (tmp_path / "run" / "model.pt").is_file()


def test_cli_train_defaults_to_the_shipped_recipe(scored_images, tmp_path, capsys):
    """No config: the `default` recipe (phoneiqa/pretrained/default.json: encoder, heads, optimisation)."""
    from phoneiqa.training import recipe_path

    csv, _ = scored_images
    assert main(["train", "--csv", str(csv), "--out", str(tmp_path / "run")]) == 0
    recipe = json.loads(recipe_path("default").read_text())
    assert set(recipe) == {"model", "optim"}  # a recipe holds no data paths
    model, parts = Model.load(tmp_path / "run" / "model.pt"), recipe["model"]
    assert (model.encoder_name, model.encoder_args) == (parts["encoder"], parts["encoder_args"])
    assert model.score_head.name == parts["score_head"]["name"] and model.issue_head is None  # no level rows
    capsys.readouterr()

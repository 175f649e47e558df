"""The shipped models' records (phoneiqa.specs): the one place they are named and described, and what reads them."""

from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd
import pytest

import phoneiqa
from phoneiqa.assessment import Assessment
from phoneiqa.labels import load_graph
from phoneiqa.loading import PRETRAINED, list_models, model_file, packed_spec, pretrained_path
from phoneiqa.specs import DEFAULT_MODEL, NAMES, SHIPPED, ModelSpec, shipped
from phoneiqa.training_config import DataConfig, ModelConfig, OptimConfig, TrainConfig, recipe_path


@pytest.mark.parametrize("name", SHIPPED)
def test_a_shipped_record_names_its_files(name):
    spec = SHIPPED[name]
    files = spec.files
    for path in (files.checkpoint, files.recipe, files.runtime_spec, files.runtime_onnx, files.training_record):
        assert path.is_file(), path
    assert set(spec.recipe) == {"model", "optim"}  # a packaged recipe holds no data paths
    assert all(shipped(n) is spec for n in spec.names)
    assert pretrained_path(name) == model_file(name) == files.checkpoint and packed_spec(name) == files.runtime_spec
    assert recipe_path(name) == files.recipe


def test_the_records_are_the_only_list_of_names():
    assert DEFAULT_MODEL == "fast" and shipped("default") is SHIPPED["fast"]
    assert list(NAMES) == list(PRETRAINED) == list(list_models()) == ["default", "fast", "accurate"]
    with pytest.raises(phoneiqa.ModelNotFoundError, match="did you mean 'fast'"):
        shipped("fats")


@pytest.mark.parametrize("name", SHIPPED)
def test_a_record_agrees_with_its_runtime_and_checkpoint(name):
    """Labels, level names and input sizes: the record (read from the recipe and its label spec), the packed
    runtime's spec and the PyTorch checkpoint say the same."""
    spec = SHIPPED[name]
    runtime = json.loads(spec.files.runtime_spec.read_text(encoding="utf-8"))
    graph = load_graph(runtime["issue_spec"])
    assert tuple(lab.key for lab in graph.labels) == spec.labels
    assert {lab.key: lab.level_names for lab in graph.labels} == dict(spec.level_names)
    recipe_sizes = {part: dict(args) for part, args in spec.preprocessing.items()}  # short side, long side, window
    sizes = {p["label"]: {k: p["preprocess"][k] for k in recipe_sizes[p["label"]]} for p in runtime["parts"]}
    assert sizes == recipe_sizes
    model = phoneiqa.load(name)
    assert (model.labels, model.level_names, model.short_side) == (spec.labels, dict(spec.level_names), spec.short_side)

    pytest.importorskip("torch")
    from phoneiqa.model import Model

    checkpoint = Model.load(spec.files.checkpoint)
    assert (checkpoint.labels, checkpoint.level_names) == (spec.labels, dict(spec.level_names))
    assert (checkpoint.encoder_name, checkpoint.encoder_args) == (spec.encoder, spec.recipe["model"]["encoder_args"])


@pytest.mark.parametrize("name", NAMES)
def test_a_shipped_name_is_its_recipe(name):
    cfg = TrainConfig.from_json(name, {"train": []})
    assert cfg == TrainConfig.from_dict({**copy.deepcopy(dict(shipped(name).recipe)), "data": {"train": []}})
    assert cfg.model.encoder == shipped(name).encoder


def test_the_training_defaults_are_the_default_recipe():
    """One default: ModelConfig() and OptimConfig() are what `fast` was trained with (a ridge score head the
    light runtime runs, not an unexportable one); a named encoder gets its parts' own default sizes, as before."""
    recipe = TrainConfig.from_json("default", {"train": []})
    assert (recipe.model, recipe.optim) == (ModelConfig(), OptimConfig())
    assert TrainConfig(DataConfig([])).model == ModelConfig() and ModelConfig().score_head.name == "ridge"
    assert ModelConfig().encoder_args == recipe.model.encoder_args
    assert ModelConfig(encoder=recipe.model.encoder).encoder_args == {}  # a named encoder: its parts' own sizes


def test_flagged_uses_the_level_names_it_was_given():
    custom = {"dark": ("fine", "dim", "murky", "black")}
    a = Assessment(score=50.0, issues={"dark": 2}, probabilities={"dark": [0.1, 0.2, 0.6, 0.1]}, level_names=custom)
    assert a.flagged() == {"dark": "murky"} and str(a) == "score 50.0; dark: murky"
    assert Assessment.from_dict(a.to_dict(), custom).flagged() == {"dark": "murky"} and a == Assessment.from_dict(
        a.to_dict()
    )
    assert Assessment.from_dict(a.to_dict()).flagged() == {"dark": "level 2"}  # made without names
    shipped_model = phoneiqa.load("fast")
    assert shipped_model.level_names == dict(SHIPPED["fast"].level_names)
    assert SHIPPED["fast"].level_names["dark"] == ("none", "normal", "severe", "blocking")  # smartphone6's names


def test_cli_trains_a_shipped_name(scored_images, tmp_path, capsys):
    """`phoneiqa train fast` trains the fast recipe (its encoder, sizes and heads) on the --csv files, and the
    result runs in the light runtime."""
    pytest.importorskip("torch")
    from phoneiqa.cli import main
    from phoneiqa.model import Model

    csv, _ = scored_images
    table = pd.read_csv(csv)
    for key in SHIPPED["fast"].labels:
        table[key] = 0
    table.loc[:7, "dark"] = 1  # the darkest images
    table.to_csv(csv, index=False)
    out = tmp_path / "run"
    assert main(["train", "fast", "--csv", str(csv), "--epochs", "1", "--out", str(out)]) == 0
    capsys.readouterr()
    model, recipe = Model.load(out / "model.pt"), SHIPPED["fast"].recipe["model"]
    assert (model.encoder_name, model.encoder_args) == (recipe["encoder"], recipe["encoder_args"])
    assert model.score_head.name == recipe["score_head"]["name"] and model.issue_head is not None
    runtime = phoneiqa.load(out / "model.pt", backend="onnx")
    probe = np.full((64, 96, 3), 120, dtype=np.uint8)
    assert runtime.assess(probe).issues.keys() == set(SHIPPED["fast"].labels)


def test_a_record_is_typed_and_frozen():
    spec = SHIPPED["accurate"]
    assert isinstance(spec, ModelSpec) and spec.score_range == (0.0, 100.0) and spec.label_spec == "smartphone6"
    with pytest.raises(AttributeError):
        spec.name = "other"  # type: ignore[misc]

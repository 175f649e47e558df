"""What a training run is: :class:`TrainConfig` (JSON-able, as open_clip's model configs) and its parts.

Three parts: the model (:class:`ModelConfig`: encoder, heads, label spec), the data
(:class:`DataConfig` of :class:`DataSource`) and the optimisation (:class:`OptimConfig`).  A shipped
model's recipe (:attr:`phoneiqa.specs.ModelSpec.recipe`) holds the first and the last; a run adds its data.
The defaults are the shipped default model's recipe (``fast``), so ``ModelConfig()`` and ``OptimConfig()``
train what ``fast`` is, a model the light install runs.  Importing this module does not import torch.
"""

from __future__ import annotations

import copy
import json
from dataclasses import MISSING, dataclass, field
from pathlib import Path
from typing import Any

from phoneiqa.errors import ConfigError, check_count, check_real, did_you_mean
from phoneiqa.specs import DEFAULT_MODEL, NAMES, SHIPPED, shipped

DEFAULT_RECIPE: dict[str, Any] = copy.deepcopy(dict(SHIPPED[DEFAULT_MODEL].recipe))
"""The shipped default model's recipe (``{"model": ..., "optim": ...}``): the training defaults."""
_MODEL, _OPTIM = DEFAULT_RECIPE["model"], DEFAULT_RECIPE["optim"]


@dataclass
class DataSource:
    """A label CSV and the folder its ``filename`` column is relative to (default: the CSV's folder).

    ``repeat``: how many times each row counts in training (a small source of real photos beside a large
    synthetic one); a positive integer."""

    csv: str
    images: str | None = None
    rename: dict[str, str] = field(default_factory=dict)
    ignore: list[str] = field(default_factory=list)
    repeat: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.repeat, int) or isinstance(self.repeat, bool) or self.repeat < 1:
            raise ConfigError(f"data source {self.csv}: repeat must be a positive integer, got {self.repeat!r}")


@dataclass
class HeadConfig:
    """Which head to build (a registered name), its constructor arguments, and what it reads.

    ``inputs``: the name of one part of a ``+`` encoder (e.g. ``"photometric"`` of
    ``"effnet-lite0+photometric"``) whose features alone feed this head; default all features.
    """

    name: str
    args: dict[str, Any] = field(default_factory=dict)
    inputs: str | None = None


def _default_head(kind: str) -> HeadConfig:
    """The default recipe's ``score_head`` or ``issue_head``."""
    return HeadConfig(**copy.deepcopy(_MODEL[kind]))


@dataclass
class ModelConfig:
    """What is trained: the frozen encoder (a registered name or ``a+b``, with per-part keyword
    arguments), the score and issue heads on its features (``None``: no such head) and the label spec.

    The defaults are the ``fast`` recipe's: EfficientNet-Lite0 on the whole photo and on its centre
    (``effnet-lite0:window``) + photometric statistics at the recipe's sizes, a ridge score head on all of them
    and a HEX issue head on the whole photo's features.  ``encoder=None``: the recipe's encoder, with its part
    sizes unless ``encoder_args`` is given; a named encoder gets ``encoder_args`` (default: each part's own
    defaults), and the heads' ``inputs`` must name its parts.
    """

    encoder: str | None = None
    encoder_args: dict[str, Any] | None = None
    score_head: HeadConfig | None = field(default_factory=lambda: _default_head("score_head"))
    issue_head: HeadConfig | None = field(default_factory=lambda: _default_head("issue_head"))
    spec: str = _MODEL["spec"]

    def __post_init__(self) -> None:
        if self.encoder is None:
            self.encoder = _MODEL["encoder"]
            if self.encoder_args is None:
                self.encoder_args = copy.deepcopy(_MODEL["encoder_args"])
        if self.encoder_args is None:
            self.encoder_args = {}


@dataclass
class DataConfig:
    """Which photos: the training sources, the validation sources (default: a seeded ``val_fraction``
    of the training rows) and where encoder features are cached (default: not cached)."""

    train: list[DataSource]
    val: list[DataSource] = field(default_factory=list)
    val_fraction: float = 0.2
    cache_dir: str | None = None


@dataclass
class OptimConfig:
    """How the trained heads are fitted: AdamW with a cosine schedule, early stopping after ``patience``
    epochs without a better validation figure; ``seed`` also draws the validation split."""

    seed: int = _OPTIM["seed"]
    epochs: int = _OPTIM["epochs"]
    batch_size: int = _OPTIM["batch_size"]
    lr: float = _OPTIM["lr"]
    weight_decay: float = _OPTIM["weight_decay"]
    patience: int = _OPTIM["patience"]

    def __post_init__(self) -> None:
        for name, minimum in (("seed", 0), ("epochs", 1), ("batch_size", 1), ("patience", 1)):
            check_count(f"optim.{name}", getattr(self, name), minimum)
        check_real("optim.lr", self.lr, 0.0, strict=True)
        check_real("optim.weight_decay", self.weight_decay, 0.0)


SECTIONS: dict[str, type] = {"model": ModelConfig, "data": DataConfig, "optim": OptimConfig}
"""The parts of a :class:`TrainConfig` and their JSON keys."""


@dataclass
class TrainConfig:
    """Everything that defines a training run, saved into the checkpoint: model, data, optimisation."""

    data: DataConfig
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build from plain JSON data (``{"model": ..., "data": ..., "optim": ...}``); an unknown or missing
        key raises :class:`ConfigError` naming it (and, for a key of another part, where it belongs)."""
        parts = _fields(cls, data, "training config")
        model = _fields(ModelConfig, parts.get("model", {}), "model")
        for key in ("score_head", "issue_head"):
            if isinstance(model.get(key), dict):
                model[key] = HeadConfig(**_fields(HeadConfig, model[key], f"model.{key}"))
        source = _fields(DataConfig, parts.get("data", {}), "data")
        for key in ("train", "val"):
            source[key] = [DataSource(**_fields(DataSource, d, f"data.{key} entry")) for d in source.get(key, [])]
        optim = _fields(OptimConfig, parts.get("optim", {}), "optim")
        return cls(DataConfig(**source), ModelConfig(**model), OptimConfig(**optim))

    @classmethod
    def from_json(cls, path: str | Path, data: dict[str, Any] | None = None) -> TrainConfig:
        """Read a JSON config file, or a shipped model's recipe by its name (:data:`RECIPES`: ``"fast"``,
        ``"default"``, ``"accurate"``); ``data`` is the data part when the file has none (a recipe has none);
        unreadable JSON or a bad key raises :class:`ConfigError` naming the file."""
        source = recipe_path(str(path)) if str(path) in RECIPES else Path(path)
        try:
            parsed = json.loads(source.read_text(encoding="utf-8"))
            if isinstance(parsed, dict) and data is not None:
                parsed.setdefault("data", data)
            return cls.from_dict(parsed)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{source}: not valid JSON: {exc}") from None
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None
        except OSError as exc:
            hint = did_you_mean(str(path), RECIPES) or f" (nor a shipped model: {', '.join(RECIPES)})"
            raise ConfigError(f"{source}: cannot read the config: {exc.strerror or exc}{hint}") from None


RECIPES = tuple(NAMES)
"""The names of the shipped models (aliases too), each naming its recipe (:attr:`ModelSpec.files.recipe
<phoneiqa.specs.ModelFiles.recipe>`: encoder, heads and optimisation, no data)."""


def recipe_path(name: str) -> Path:
    """The recipe JSON of the shipped model ``name`` (or alias); :class:`~phoneiqa.ModelNotFoundError` if none."""
    return shipped(name).files.recipe


def _fields(kind: type, data: Any, what: str) -> dict[str, Any]:
    """``data`` (a JSON object) checked against the fields of the dataclass ``kind``: every key known, every
    required one present; returned as a dict."""
    if not isinstance(data, dict):
        raise ConfigError(f"{what} must be a JSON object, got {type(data).__name__}")
    names = list(kind.__dataclass_fields__)
    for key in data:
        if key not in names:
            home = [part for part, section in SECTIONS.items() if key in section.__dataclass_fields__]
            if home and kind is TrainConfig:
                hint = f" (it belongs in {home[0]!r})"
            else:
                hint = did_you_mean(key, names) or f"; known keys: {', '.join(names)}"
            raise ConfigError(f"unknown key {key!r} in {what}{hint}")
    fields = kind.__dataclass_fields__.items()
    required = [n for n, f in fields if f.default is MISSING and f.default_factory is MISSING]
    missing = [n for n in required if n not in data]
    if missing:
        raise ConfigError(f"{what} needs {', '.join(map(repr, missing))}")
    return dict(data)

"""The shipped models, one typed record each (:class:`ModelSpec`): the only place they are named and described.

As timm's ``PretrainedCfg`` and open_clip's ``model_configs/``: a model's whole description is one record
of data, read by every part that needs it: :func:`phoneiqa.load` and :func:`phoneiqa.list_models`
(``phoneiqa models``), ``phoneiqa train <name>`` (the recipe), the runtime packing
(:func:`phoneiqa.runtime.pack_shipped`) and the command line.  A record is built from the model's recipe
(``phoneiqa/pretrained/<stem>.json``: encoder, heads, label spec and optimisation, never data paths) and
its label spec (``data_specs/<spec>.json``: label keys and level names); no torch is imported.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from phoneiqa.errors import ModelNotFoundError, did_you_mean
from phoneiqa.labels import level_names, load_graph

PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"
"""The folder of the shipped models' files."""
DEFAULT_ALIAS = "default"
"""The name of the default model, an alias of one shipped model (:data:`DEFAULT_MODEL`)."""


@dataclass(frozen=True)
class ModelFiles:
    """A shipped model's files in :data:`PRETRAINED_DIR`, all named after one ``stem``."""

    stem: str
    checkpoint: Path
    """The PyTorch checkpoint ``<stem>.pt`` (``phoneiqa.model.Model.load``)."""
    recipe: Path
    """The recipe ``<stem>.json``: encoder, heads, label spec, optimisation; no data."""
    runtime_spec: Path
    """The packed runtime's spec ``<stem>.runtime.json`` (``phoneiqa.runtime.load_packed``)."""
    runtime_onnx: Path
    """The packed runtime's graph ``<stem>.onnx`` (its large weights in the shared ``weights-<i>.npz``)."""
    training_record: Path
    """How the checkpoint was trained: ``TRAINING-<stem>.md`` (``tools/train_shipped_models.py``)."""

    @classmethod
    def of(cls, stem: str, folder: Path = PRETRAINED_DIR) -> ModelFiles:
        """The files of ``stem`` in ``folder``."""
        return cls(
            stem,
            folder / f"{stem}.pt",
            folder / f"{stem}.json",
            folder / f"{stem}.runtime.json",
            folder / f"{stem}.onnx",
            folder / f"TRAINING-{stem}.md",
        )


@dataclass(frozen=True)
class ModelSpec:
    """One shipped model: its names, files, recipe, labels, level names, score range and preprocessing."""

    name: str
    """The name :func:`phoneiqa.load` takes (``"fast"``)."""
    aliases: tuple[str, ...]
    """Other names it takes (``"default"``)."""
    summary: str
    """What it is, in one line (``phoneiqa models``)."""
    files: ModelFiles
    recipe: Mapping[str, Any]
    """The recipe JSON as read (``{"model": ..., "optim": ...}``; read-only): what ``phoneiqa train <name>``
    trains, given data."""
    label_spec: str
    """The label spec it reports on (``data_specs/<label_spec>.json``)."""
    labels: tuple[str, ...]
    """The label keys of its spec, in order (``Assessor.labels``)."""
    level_names: Mapping[str, tuple[str, ...]]
    """Label key -> the names of its levels 0..K-1, from its spec (``Assessor.level_names``)."""
    score_range: tuple[float, float]
    """The score's scale: the mean opinion score of human ratings, 0..100, higher is better (scores are
    clamped to it)."""
    preprocessing: Mapping[str, Mapping[str, Any]]
    """Encoder part -> how its input is scaled (``short_side``, ``max_long_side``), from the recipe."""

    @property
    def names(self) -> tuple[str, ...]:
        """Every name of this model: its name and its aliases."""
        return (self.name, *self.aliases)

    @property
    def encoder(self) -> str:
        """The recipe's encoder (``"effnet-lite0+photometric"``)."""
        return self.recipe["model"]["encoder"]

    @property
    def short_side(self) -> int:
        """The short side photos are decoded to at least: the largest of its parts' (``Assessor.short_side``)."""
        return max(int(part["short_side"]) for part in self.preprocessing.values())

    @classmethod
    def from_recipe(cls, name: str, stem: str, summary: str, aliases: tuple[str, ...] = ()) -> ModelSpec:
        """The record of the shipped model ``name`` whose files are named ``stem``, read from its recipe and
        the label spec the recipe names."""
        files = ModelFiles.of(stem)
        recipe = json.loads(files.recipe.read_text(encoding="utf-8"))
        model = recipe["model"]
        graph = load_graph(model["spec"])
        return cls(
            name=name,
            aliases=aliases,
            summary=summary,
            files=files,
            recipe=MappingProxyType(recipe),
            label_spec=model["spec"],
            labels=tuple(lab.key for lab in graph.labels),
            level_names=MappingProxyType(level_names(graph)),
            score_range=(0.0, 100.0),
            preprocessing=MappingProxyType(
                {part: MappingProxyType(dict(args)) for part, args in model["encoder_args"].items()}
            ),
        )


SHIPPED: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec.from_recipe(
            "fast",
            "default",
            "EfficientNet-Lite0 on the photo at short side 288 and on its centred 256 px at 500, photometric "
            "statistics; ridge score: the default",
            aliases=(DEFAULT_ALIAS,),
        ),
        ModelSpec.from_recipe(
            "accurate",
            "accurate",
            "EfficientNet-Lite0 on the photo at short side 288 and on its centred 320 px at 500, photometric "
            "statistics; kernel ridge score on the centre",
        ),
    )
}
"""The models shipped in the package, by name: the one place they are named."""
DEFAULT_MODEL = next(name for name, spec in SHIPPED.items() if DEFAULT_ALIAS in spec.aliases)
"""The shipped model that ``"default"`` names."""
NAMES: dict[str, ModelSpec] = {
    **{alias: spec for spec in SHIPPED.values() for alias in spec.aliases},
    **SHIPPED,
}
"""Every name :func:`phoneiqa.load` accepts for a shipped model (aliases included) -> its record."""


def shipped(name: str) -> ModelSpec:
    """The record of a shipped model by name or alias; :class:`ModelNotFoundError` naming the shipped ones."""
    try:
        return NAMES[name]
    except KeyError:
        hint = did_you_mean(name, NAMES)
        raise ModelNotFoundError(f"unknown model {name!r}{hint}; shipped models: {', '.join(NAMES)}") from None

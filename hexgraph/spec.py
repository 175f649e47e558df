"""Read ordinal HEX-graph specs in the seed's JSON format.

A spec is a JSON object (or file) with

``Nodes``
    ``[{"label": name, "levels": [1, 2, ..., K], "key": short_name?, "level_names": [...]?}]``.
    Levels are 1-based; level 1 means "no issue".  A K-level label becomes K-1 cumulative
    binary nodes ``key>=1 ... key>=K-1`` with subsumptions ``key>=k+1 => key>=k``.
``Exclusions``
    ``[{"label_a", "a_levels", "label_b", "b_levels"}]``: every level in ``a_levels`` of
    ``label_a`` excludes every level in ``b_levels`` of ``label_b`` (level 1 has no node
    and may not appear).
``Subsumptions``
    ``[{"label_a", "label_b", "map": [[a, b], ...]}]``: level ``a`` of ``label_a`` implies
    level ``b`` of ``label_b``.
``level_names`` (optional, top level)
    Default level names for labels that give none (else ``"0" ... "K-1"``).

Labels may be referred to by their ``label`` or their ``key``.  :func:`graph_from_spec` builds the
:class:`~hexgraph.graph.HexGraph` of a spec; :func:`parse_spec` gives its parts.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hexgraph.errors import HexGraphError
from hexgraph.graph import DEFAULT_MAX_STATES, HexGraph
from hexgraph.labels import Edge, OrdinalLabel


def load_spec(spec: str | os.PathLike | Mapping) -> dict[str, Any]:
    """The spec as a dict, from a dict or a JSON file path."""
    if isinstance(spec, Mapping):
        return dict(spec)
    path = Path(spec)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise HexGraphError(f"cannot read spec {path}: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise HexGraphError(f"spec {path} is not valid JSON: {exc}") from exc


def graph_from_spec(spec: str | os.PathLike | Mapping, *, max_states: int = DEFAULT_MAX_STATES) -> HexGraph:
    """The ordinal HEX graph of a spec file or dict in the seed format (see :func:`parse_spec`).

    ``max_states`` is passed to :class:`~hexgraph.graph.HexGraph`.
    """
    names, subsumptions, exclusions, labels = parse_spec(spec)
    return HexGraph(names, subsumptions, exclusions, labels=labels, max_states=max_states)


def parse_spec(
    spec: str | os.PathLike | Mapping,
) -> tuple[list[str], list[Edge], list[Edge], list[OrdinalLabel]]:
    """Expand a spec into node names, subsumption and exclusion edges and ordinal labels."""
    data = load_spec(spec)
    if not isinstance(data.get("Nodes"), list) or not data["Nodes"]:
        raise HexGraphError("spec needs a non-empty 'Nodes' list")
    default_names = data.get("level_names")
    names: list[str] = []
    subsumptions: list[Edge] = []
    labels: list[OrdinalLabel] = []
    node_of: dict[str, list[str]] = {}  # label name or key -> node names for levels 2..K (1-based)
    for entry in data["Nodes"]:
        label = _node_label(entry)
        key = str(entry.get("key", label))
        levels = entry.get("levels")
        if not isinstance(levels, list) or levels != list(range(1, len(levels) + 1)) or len(levels) < 2:
            raise HexGraphError(f"label {label!r}: 'levels' must be [1, 2, ..., K] with K >= 2, got {levels!r}")
        k = len(levels)
        level_names = entry.get("level_names") or (
            default_names if default_names and len(default_names) == k else [str(i) for i in range(k)]
        )
        nodes = [f"{key}>={i}" for i in range(1, k)]
        for alias in {label, key}:
            if alias in node_of:
                raise HexGraphError(f"label {alias!r} is defined twice")
            node_of[alias] = nodes
        first = len(names)
        names.extend(nodes)
        subsumptions.extend(itertools.pairwise(nodes))
        labels.append(OrdinalLabel(key, tuple(range(first, first + k - 1)), tuple(level_names), name=label))

    def node(label: Any, level: Any, where: str) -> str:
        if label not in node_of:
            raise HexGraphError(f"{where} names unknown label {label!r}")
        nodes = node_of[label]
        if not isinstance(level, int) or not 2 <= level <= len(nodes) + 1:
            raise HexGraphError(
                f"{where}: level {level!r} of {label!r} is out of range 2..{len(nodes) + 1} "
                "(1-based; level 1 means 'none' and has no node)"
            )
        return nodes[level - 2]

    exclusions: list[Edge] = []
    for i, ex in enumerate(data.get("Exclusions", [])):
        where = f"Exclusions[{i}]"
        for la in _field(ex, "a_levels", where):
            for lb in _field(ex, "b_levels", where):
                exclusions.append(
                    (node(_field(ex, "label_a", where), la, where), node(_field(ex, "label_b", where), lb, where))
                )
    for i, sub in enumerate(data.get("Subsumptions", [])):
        where = f"Subsumptions[{i}]"
        for pair in _field(sub, "map", where):
            if not isinstance(pair, list) or len(pair) != 2:
                raise HexGraphError(f"{where}: each map entry must be [level_a, level_b], got {pair!r}")
            child = node(_field(sub, "label_a", where), pair[0], where)
            parent = node(_field(sub, "label_b", where), pair[1], where)
            if child != parent:
                subsumptions.append((parent, child))
    return names, subsumptions, exclusions, labels


def _node_label(entry: Any) -> str:
    if not isinstance(entry, Mapping) or "label" not in entry:
        raise HexGraphError(f"each node needs a 'label', got {entry!r}")
    return str(entry["label"])


def _field(entry: Mapping, name: str, where: str) -> Any:
    if name not in entry:
        raise HexGraphError(f"{where} lacks {name!r}")
    return entry[name]

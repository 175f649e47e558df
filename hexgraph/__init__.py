"""hexgraph: Hierarchy-and-Exclusion (HEX) graphs with exact, differentiable CRF inference.

Standalone: it depends on numpy, networkx and torch only.  The modules form layers:
:mod:`hexgraph.graph` (structure, legal states, numpy inference) imports neither of
:mod:`hexgraph.spec` (the seed JSON format, :func:`graph_from_spec`) and
:mod:`hexgraph.inference` (exact torch inference: :func:`marginals`, :func:`log_partition`,
:func:`log_likelihood`, :func:`map_state`, :func:`level_probabilities`), which both build on it.
The torch functions are loaded on first use, so ``import hexgraph`` does not import torch.

>>> from hexgraph import HexGraph
>>> g = HexGraph(["animal", "dog", "cat"], subsumptions=[("animal", "dog"), ("animal", "cat")],
...              exclusions=[("dog", "cat")])
>>> g.num_states
4
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hexgraph.errors import HexGraphError
from hexgraph.graph import Component, HexGraph, confident_levels, median_levels
from hexgraph.labels import OrdinalLabel
from hexgraph.spec import graph_from_spec, load_spec, parse_spec

if TYPE_CHECKING:
    from hexgraph.inference import level_probabilities, log_likelihood, log_partition, map_state, marginals

_TORCH = ("level_probabilities", "log_likelihood", "log_partition", "map_state", "marginals")
"""The names of :mod:`hexgraph.inference` offered here, imported (with torch) on first use."""

__all__ = [
    "Component",
    "HexGraph",
    "HexGraphError",
    "OrdinalLabel",
    "confident_levels",
    "graph_from_spec",
    "level_probabilities",
    "load_spec",
    "log_likelihood",
    "log_partition",
    "map_state",
    "marginals",
    "median_levels",
    "parse_spec",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name in _TORCH:
        from hexgraph import inference

        return getattr(inference, name)
    raise AttributeError(f"module 'hexgraph' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_TORCH})

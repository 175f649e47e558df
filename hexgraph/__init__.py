"""hexgraph: Hierarchy-and-Exclusion (HEX) graphs with exact, differentiable CRF inference.

Standalone: it depends on numpy, networkx and torch only.

>>> from hexgraph import HexGraph
>>> g = HexGraph(["animal", "dog", "cat"], subsumptions=[("animal", "dog"), ("animal", "cat")],
...              exclusions=[("dog", "cat")])
>>> g.num_states
4
"""

from hexgraph.errors import HexGraphError
from hexgraph.graph import Component, HexGraph, confident_levels, median_levels
from hexgraph.labels import OrdinalLabel
from hexgraph.spec import load_spec, parse_spec

__all__ = [
    "Component",
    "HexGraph",
    "HexGraphError",
    "OrdinalLabel",
    "confident_levels",
    "load_spec",
    "median_levels",
    "parse_spec",
]
__version__ = "0.1.0"

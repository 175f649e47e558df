"""The plain types a HEX graph is described with: edges between node names and ordinal labels."""

from __future__ import annotations

from dataclasses import dataclass

Edge = tuple[str, str]
"""A directed pair of node names: (parent, child) for a subsumption, an unordered pair for an exclusion."""


@dataclass(frozen=True)
class OrdinalLabel:
    """A K-level ordinal label stored as K-1 cumulative nodes (level >= 1, ..., >= K-1)."""

    key: str
    nodes: tuple[int, ...]
    level_names: tuple[str, ...]
    name: str = ""

    @property
    def num_levels(self) -> int:
        return len(self.nodes) + 1

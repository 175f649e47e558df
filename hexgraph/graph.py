"""HEX graphs: binary labels tied by subsumption (hierarchy) and exclusion edges.

A subsumption edge ``(parent, child)`` says "child implies parent": a state with
``y[child] = 1`` and ``y[parent] = 0`` is illegal.  An exclusion edge ``(a, b)`` says
``y[a] = y[b] = 1`` is illegal.  Legal states are enumerated per connected component by
propagation in topological order, so the cost grows with the number of legal states,
never with ``2 ** n``.

This module knows neither the spec format nor the torch inference: :mod:`hexgraph.spec` builds graphs
(:func:`~hexgraph.spec.graph_from_spec`) and :mod:`hexgraph.inference` computes on them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import networkx as nx
import numpy as np

from hexgraph.errors import HexGraphError
from hexgraph.labels import Edge, OrdinalLabel

if TYPE_CHECKING:  # torch is imported only by the methods that build tensors, so numpy-only users never load it
    import torch
    from torch import Tensor

DEFAULT_MAX_STATES = 1 << 20


@dataclass(frozen=True)
class Component:
    """One connected component: its node indices and its legal local states."""

    nodes: np.ndarray  # [n_c] indices into the graph's node list
    states: np.ndarray  # [S_c, n_c] bool, every legal assignment of these nodes


def median_levels(probabilities: Any) -> Any:
    """Each label's median level under its exact marginals: the number of levels k >= 1 with P(level >= k) > 1/2.

    ``probabilities`` ``[..., L, K]`` (numpy array or torch tensor) -> int64 levels ``[..., L]``.  Unlike the
    levels of the MAP state, a label is reported at level >= 1 exactly when its own probability of an issue
    exceeds 1/2, and a stronger level never has less than half the probability.  The result is always legal:
    two mutually exclusive nodes cannot both have probability above 1/2, and a node implies its ancestors,
    whose probabilities are at least its own.
    """
    return confident_levels(probabilities, 0.5)


def confident_levels(probabilities: Any, confidence: float) -> Any:
    """Each label's level that it reaches with probability above ``confidence``: the number of levels k >= 1
    with P(level >= k) > ``confidence`` (:func:`median_levels` at 1/2; higher values flag less, lower more).

    Legal for ``confidence`` >= 1/2, as :func:`median_levels`; below 1/2 two exclusive labels can both be set.
    """
    tail = 1 - probabilities.cumsum(-1)[..., :-1]
    return (tail > confidence).sum(-1)


class HexGraph:
    """A consistent HEX graph over binary nodes with its legal states.

    Parameters
    ----------
    names:
        Node names, in the order used by every tensor of this graph.
    subsumptions:
        ``(parent, child)`` pairs: ``child = 1`` implies ``parent = 1``.
    exclusions:
        ``(a, b)`` pairs that may not both be 1.
    labels:
        Optional ordinal labels over the nodes (see :func:`hexgraph.spec.graph_from_spec`), which enable
        :func:`hexgraph.inference.level_probabilities`, :meth:`predict_levels`, :meth:`levels` and
        :meth:`encode_levels`.
    max_states:
        Largest number of legal states one connected component may have before
        enumeration is refused with :class:`HexGraphError`.
    """

    def __init__(
        self,
        names: Sequence[str],
        subsumptions: Iterable[Edge] = (),
        exclusions: Iterable[Edge] = (),
        *,
        labels: Sequence[OrdinalLabel] = (),
        max_states: int = DEFAULT_MAX_STATES,
    ) -> None:
        self.names: tuple[str, ...] = tuple(names)
        if len(set(self.names)) != len(self.names):
            dup = sorted({n for n in self.names if self.names.count(n) > 1})
            raise HexGraphError(f"duplicate node names: {dup}")
        self.index = {name: i for i, name in enumerate(self.names)}
        self.subsumptions: tuple[Edge, ...] = _unique_edges(subsumptions, self.index, "subsumption")
        self.exclusions: tuple[Edge, ...] = _unique_edges(exclusions, self.index, "exclusion")
        self.max_states = max_states
        self.hierarchy = nx.DiGraph()
        self.hierarchy.add_nodes_from(self.names)
        self.hierarchy.add_edges_from(self.subsumptions)
        _check_consistent(self.hierarchy, self.exclusions)
        self.components: tuple[Component, ...] = tuple(self._enumerate_components())
        self.labels: tuple[OrdinalLabel, ...] = tuple(labels)
        _check_labels(self)
        self._tensor_cache: dict[object, object] = {}

    @property
    def n(self) -> int:
        """Number of binary nodes."""
        return len(self.names)

    @property
    def num_states(self) -> int:
        """Number of legal states of the whole graph (product over components)."""
        return int(np.prod([len(c.states) for c in self.components], dtype=object))

    def __repr__(self) -> str:
        return (
            f"HexGraph(n={self.n}, subsumptions={len(self.subsumptions)}, "
            f"exclusions={len(self.exclusions)}, components={len(self.components)}, "
            f"states={self.num_states})"
        )

    # ------------------------ numpy inference, levels, tensors for hexgraph.inference
    def predict_levels(self, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Inference in numpy alone, for deployment without torch: for potentials ``f`` ``[B, n]``, the
        exact level probabilities ``[B, L, K]`` (as :func:`hexgraph.inference.level_probabilities`) and the levels
        ``[B, L]`` of the most probable legal state (as ``levels(map_state(graph, f))``), both float64 / int64."""
        self._require_labels()
        f = np.asarray(f, dtype=np.float64)
        if f.ndim != 2 or f.shape[1] != self.n:
            raise ValueError(f"potentials must have shape [B, {self.n}], got {f.shape}")
        probs, best = [], []
        for comp in self.components:
            scores = f[:, comp.nodes] @ comp.states.T.astype(np.float64)
            best.append(scores.argmax(axis=1))
            p = np.exp(scores - scores.max(axis=1, keepdims=True))
            probs.append(p / p.sum(axis=1, keepdims=True))
        onehots = self._level_onehots()
        probabilities = np.stack([probs[c] @ onehot for c, onehot in onehots], axis=1)
        levels = np.stack([onehot[best[c]].argmax(axis=1) for c, onehot in onehots], axis=1)
        return probabilities, levels.astype(np.int64)

    def levels(self, state: Tensor) -> Tensor:
        """Level per ordinal label of 0/1 states ``[B, n]``; returns ``[B, L]`` int64."""
        import torch

        self._require_labels()
        state = torch.as_tensor(state)
        return torch.stack([state[:, list(lab.nodes)].to(torch.int64).sum(dim=1) for lab in self.labels], dim=1)

    def encode_levels_numpy(self, levels: np.ndarray) -> np.ndarray:
        """0/1 node states ``[B, n]`` (bool) for integer levels ``[B, L]``, in numpy alone: node ``k`` of a label
        is set when its level exceeds ``k`` (the inverse of :meth:`levels`)."""
        self._require_labels()
        levels = np.asarray(levels)
        if levels.ndim != 2 or levels.shape[1] != len(self.labels):
            raise ValueError(f"levels must have shape [B, {len(self.labels)}], got {tuple(levels.shape)}")
        out = np.zeros((levels.shape[0], self.n), dtype=bool)
        for j, lab in enumerate(self.labels):
            col = levels[:, j]
            if ((col < 0) | (col >= lab.num_levels)).any():
                raise ValueError(f"levels of {lab.key!r} must lie in 0..{lab.num_levels - 1}")
            for k, node in enumerate(lab.nodes):
                out[:, node] = col > k
        return out

    def encode_levels(self, levels: Tensor, dtype: torch.dtype | None = None) -> Tensor:
        """:meth:`encode_levels_numpy` as a tensor on ``levels``' device, float32 unless ``dtype``."""
        import torch

        levels = torch.as_tensor(levels)
        states = self.encode_levels_numpy(levels.detach().cpu().numpy())
        return torch.from_numpy(states).to(device=levels.device, dtype=dtype or torch.float32)

    def _require_labels(self) -> None:
        if not self.labels:
            raise HexGraphError("this graph has no ordinal labels; build it with hexgraph.graph_from_spec")

    def component_tensors(self, device: torch.device, dtype: torch.dtype) -> list[tuple[Tensor, Tensor]]:
        """Per component, its node indices and ``[S_c, n_c]`` states on ``device``, cached."""
        import torch

        key = ("states", torch.device(device), dtype)
        if key not in self._tensor_cache:
            self._tensor_cache[key] = [
                (torch.as_tensor(c.nodes, device=device), torch.as_tensor(c.states, dtype=dtype, device=device))
                for c in self.components
            ]
        return self._tensor_cache[key]

    def component_inverse_order(self, device: torch.device) -> Tensor:
        """Permutation that puts the concatenation of per-component columns back in node order."""
        import torch

        key = ("inverse", torch.device(device))
        if key not in self._tensor_cache:
            order = np.concatenate([c.nodes for c in self.components])
            self._tensor_cache[key] = torch.as_tensor(np.argsort(order), device=device)
        return self._tensor_cache[key]

    def level_tensors(self, device: torch.device, dtype: torch.dtype) -> list[tuple[int, Tensor]]:
        """Per ordinal label, its component index and a ``[S_c, K]`` one-hot of each state's level."""
        import torch

        self._require_labels()
        key = ("levels", torch.device(device), dtype)
        if key not in self._tensor_cache:
            self._tensor_cache[key] = [
                (comp, torch.as_tensor(onehot, dtype=dtype, device=device)) for comp, onehot in self._level_onehots()
            ]
        return self._tensor_cache[key]

    def _level_onehots(self) -> list[tuple[int, np.ndarray]]:
        """Per ordinal label, its component index and a ``[S_c, K]`` float64 one-hot of each state's level."""
        if "onehots" not in self._tensor_cache:
            k_max = max(lab.num_levels for lab in self.labels)
            where = {
                int(node): (c, pos) for c, comp in enumerate(self.components) for pos, node in enumerate(comp.nodes)
            }
            out = []
            for lab in self.labels:
                comp = where[lab.nodes[0]][0]
                cols = [where[node][1] for node in lab.nodes]
                level = self.components[comp].states[:, cols].sum(axis=1)
                out.append((comp, np.eye(k_max)[level]))
            self._tensor_cache["onehots"] = out
        return self._tensor_cache["onehots"]

    # ------------------------------------------------------------------ states
    def legal_states(self, max_states: int | None = None) -> np.ndarray:
        """All legal states of the whole graph as a ``[S, n]`` bool array.

        The product over components can be huge even when each component is small;
        ``max_states`` (default: the graph's own limit) guards against that.
        """
        limit = self.max_states if max_states is None else max_states
        if self.num_states > limit:
            raise HexGraphError(
                f"the graph has {self.num_states} legal states, more than max_states={limit}; "
                "use the per-component states in .components instead"
            )
        full = np.zeros((1, self.n), dtype=bool)
        for comp in self.components:
            s_prev, s_c = len(full), len(comp.states)
            full = np.repeat(full, s_c, axis=0)
            full[:, comp.nodes] = np.tile(comp.states, (s_prev, 1))
        return full

    def is_legal(self, y: np.ndarray) -> np.ndarray:
        """Whether each row of ``y`` (``[..., n]``, 0/1) is a legal state."""
        y = np.asarray(y).astype(bool)
        ok = np.ones(y.shape[:-1], dtype=bool)
        for parent, child in self.subsumptions:
            ok &= ~(y[..., self.index[child]] & ~y[..., self.index[parent]])
        for a, b in self.exclusions:
            ok &= ~(y[..., self.index[a]] & y[..., self.index[b]])
        return ok

    @cached_property
    def _undirected(self) -> nx.Graph:
        g = nx.Graph()
        g.add_nodes_from(range(self.n))
        g.add_edges_from((self.index[a], self.index[b]) for a, b in self.subsumptions)
        g.add_edges_from((self.index[a], self.index[b]) for a, b in self.exclusions)
        return g

    def _enumerate_components(self) -> Iterable[Component]:
        order = {name: i for i, name in enumerate(nx.lexicographical_topological_sort(self.hierarchy))}
        for members in sorted(nx.connected_components(self._undirected), key=min):
            nodes = sorted(members, key=lambda i: order[self.names[i]])
            yield Component(np.asarray(nodes, dtype=np.int64), self._component_states(nodes))

    def _component_states(self, nodes: list[int]) -> np.ndarray:
        """Legal states of one component, grown one node at a time in topological order.

        Every partial state extends to a legal one by setting the rest to 0, so each step
        keeps all current rows with the new node at 0 and adds a copy at 1 of the rows
        where its parents are all 1 and no earlier exclusion partner is 1: the work is
        linear in the number of legal states.
        """
        local = {node: k for k, node in enumerate(nodes)}
        excluded: list[list[int]] = [[] for _ in nodes]
        for a, b in self.exclusions:
            ka, kb = local.get(self.index[a]), local.get(self.index[b])
            if ka is not None and kb is not None:
                excluded[max(ka, kb)].append(min(ka, kb))
        states = np.zeros((1, len(nodes)), dtype=bool)
        for k, node in enumerate(nodes):
            parents = [local[self.index[p]] for p in self.hierarchy.predecessors(self.names[node])]
            can_be_one = states[:, parents].all(axis=1) & ~states[:, excluded[k]].any(axis=1)
            ones = states[can_be_one]
            ones[:, k] = True
            states = np.concatenate([states, ones])
            if len(states) > self.max_states:
                names = [self.names[i] for i in nodes[:5]]
                raise HexGraphError(
                    f"a connected component of {len(nodes)} nodes ({', '.join(names)}, ...) has more "
                    f"than max_states={self.max_states} legal states; exact enumeration is refused"
                )
        return states[np.lexsort(states.T[::-1])]


def _unique_edges(edges: Iterable[Edge], index: dict[str, int], kind: str) -> tuple[Edge, ...]:
    seen: dict[Edge, None] = {}
    for edge in edges:
        a, b = edge
        for node in (a, b):
            if node not in index:
                raise HexGraphError(f"{kind} edge {a!r}-{b!r} names unknown node {node!r}")
        if a == b:
            raise HexGraphError(f"{kind} edge {a!r}-{b!r} joins a node to itself")
        key = tuple(sorted((a, b))) if kind == "exclusion" else (a, b)
        seen.setdefault(key, None)
    return tuple(seen)


def _check_consistent(hierarchy: nx.DiGraph, exclusions: Sequence[Edge]) -> None:
    """Raise :class:`HexGraphError` unless every node can be 1 in some legal state."""
    try:
        cycle = nx.find_cycle(hierarchy)
    except nx.NetworkXNoCycle:
        cycle = None
    if cycle:
        path = " -> ".join(edge[0] for edge in cycle) + f" -> {cycle[-1][1]}"
        raise HexGraphError(f"subsumption cycle: {path}")
    for a, b in exclusions:
        if a in nx.ancestors(hierarchy, b) or b in nx.ancestors(hierarchy, a):
            raise HexGraphError(f"exclusion {a!r}-{b!r} joins a node and its ancestor: the descendant can never be 1")
    excluded = {frozenset(e) for e in exclusions}
    for node in hierarchy.nodes:
        closure = sorted(nx.ancestors(hierarchy, node))
        for i, a in enumerate(closure):
            for b in closure[i + 1 :]:
                if frozenset((a, b)) in excluded:
                    raise HexGraphError(
                        f"exclusion {a!r}-{b!r} is between two ancestors of {node!r}: {node!r} can never be 1"
                    )


def _check_labels(graph: HexGraph) -> None:
    """Each ordinal label's nodes must form a chain: level >= k+1 implies level >= k."""
    seen: set[int] = set()
    for lab in graph.labels:
        if not lab.nodes:
            raise HexGraphError(f"label {lab.key!r} has no nodes")
        if len(lab.level_names) != lab.num_levels:
            raise HexGraphError(f"label {lab.key!r} has {lab.num_levels} levels but {len(lab.level_names)} level names")
        if seen & set(lab.nodes):
            raise HexGraphError(f"label {lab.key!r} shares nodes with another label")
        seen |= set(lab.nodes)
        for lower, upper in zip(lab.nodes, lab.nodes[1:], strict=False):
            a, b = graph.names[lower], graph.names[upper]
            if a not in nx.ancestors(graph.hierarchy, b):
                raise HexGraphError(f"label {lab.key!r}: node {b!r} must imply {a!r} (ordinal chain)")

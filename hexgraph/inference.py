"""Exact, differentiable inference for HEX graphs in torch.

``P(y | f) = exp(f . y) / Z(f)`` over legal states ``y`` only.  The partition function
factors over connected components, so each component contributes one log-sum-exp over
its own legal states; every function here is batched over the first dimension, works on
any device and dtype, and is differentiable by autograd.

>>> import torch
>>> from hexgraph import HexGraph, marginals
>>> g = HexGraph(["animal", "dog", "cat"], subsumptions=[("animal", "dog"), ("animal", "cat")],
...              exclusions=[("dog", "cat")])
>>> marginals(g, torch.zeros(1, 3)).tolist()  # 4 legal states: {}, {animal}, {animal, dog}, {animal, cat}
[[0.75, 0.25, 0.25]]
"""

from __future__ import annotations

import torch
from torch import Tensor

from hexgraph.graph import HexGraph


def _check_potentials(graph: HexGraph, f: Tensor) -> None:
    if f.dim() != 2 or f.shape[1] != graph.n:
        raise ValueError(f"potentials must have shape [B, {graph.n}], got {tuple(f.shape)}")


def component_log_probs(graph: HexGraph, f: Tensor) -> list[Tensor]:
    """Per component, ``[B, S_c]`` log-probabilities of its legal local states."""
    _check_potentials(graph, f)
    out = []
    for nodes, states in graph.component_tensors(f.device, f.dtype):
        scores = f[:, nodes] @ states.T
        out.append(scores - torch.logsumexp(scores, dim=1, keepdim=True))
    return out


def log_partition(graph: HexGraph, f: Tensor) -> Tensor:
    """``log Z(f)`` over legal states, shape ``[B]``."""
    _check_potentials(graph, f)
    total = f.new_zeros(f.shape[0])
    for nodes, states in graph.component_tensors(f.device, f.dtype):
        total = total + torch.logsumexp(f[:, nodes] @ states.T, dim=1)
    return total


def marginals(graph: HexGraph, f: Tensor) -> Tensor:
    """``P(y_i = 1 | f)`` for every node, shape ``[B, n]``."""
    parts = [
        logp.exp() @ states
        for logp, (_, states) in zip(
            component_log_probs(graph, f), graph.component_tensors(f.device, f.dtype), strict=False
        )
    ]
    return torch.cat(parts, dim=1)[:, graph.component_inverse_order(f.device)]


def log_likelihood(graph: HexGraph, f: Tensor, y: Tensor) -> Tensor:
    """``log P(y | f)`` for legal 0/1 targets ``y`` of shape ``[B, n]``, shape ``[B]``."""
    _check_potentials(graph, f)
    if y.shape != f.shape:
        raise ValueError(f"targets must have the shape of the potentials {tuple(f.shape)}, got {tuple(y.shape)}")
    legal = graph.is_legal(y.detach().cpu().numpy())
    if not legal.all():
        row = int((~legal).nonzero()[0][0])
        raise ValueError(f"target row {row} is not a legal state of the graph")
    return (f * y.to(f.dtype)).sum(dim=1) - log_partition(graph, f)


def map_state(graph: HexGraph, f: Tensor) -> Tensor:
    """The most probable legal state per row, shape ``[B, n]``, 0/1 in ``f``'s dtype."""
    _check_potentials(graph, f)
    parts = [
        states[(f[:, nodes] @ states.T).argmax(dim=1)] for nodes, states in graph.component_tensors(f.device, f.dtype)
    ]
    return torch.cat(parts, dim=1)[:, graph.component_inverse_order(f.device)]


def level_probabilities(graph: HexGraph, f: Tensor) -> Tensor:
    """``P(level of label l = k | f)``, shape ``[B, L, K]`` (K = most levels of any label).

    Summed exactly over the legal states of the label's component, so entries are
    non-negative and each row sums to 1; labels with fewer than K levels are padded with 0.
    The graph needs ordinal labels (built by :func:`hexgraph.spec.graph_from_spec`).
    """
    onehots = graph.level_tensors(f.device, f.dtype)  # first: a graph without labels is refused before f is checked
    logps = component_log_probs(graph, f)
    rows = [logps[comp].exp() @ onehot for comp, onehot in onehots]
    return torch.stack(rows, dim=1)

"""hexgraph against an independent brute-force enumerator and hand-worked cases."""

from __future__ import annotations

import ast
import itertools
import json
import subprocess
import sys
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hexgraph import (
    HexGraph,
    HexGraphError,
    confident_levels,
    graph_from_spec,
    level_probabilities,
    log_likelihood,
    log_partition,
    map_state,
    marginals,
    median_levels,
)

SPECS = Path(__file__).resolve().parents[1] / "data_specs"


# ---------------------------------------------------------------- brute force
def brute_states(n: int, subs: list[tuple[int, int]], excl: list[tuple[int, int]]) -> np.ndarray:
    """All 2**n assignments filtered by the edge rules, written from the definitions only."""
    rows = []
    for bits in itertools.product([0, 1], repeat=n):
        if any(bits[c] and not bits[p] for p, c in subs):
            continue
        if any(bits[a] and bits[b] for a, b in excl):
            continue
        rows.append(bits)
    return np.asarray(rows, dtype=np.float64)


def brute_log_z_and_marginals(states: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scores = f @ states.T  # [B, S]
    top = scores.max(axis=1, keepdims=True)
    w = np.exp(scores - top)
    z = w.sum(axis=1, keepdims=True)
    return (np.log(z) + top)[:, 0], (w / z) @ states


def ancestors_closure(n: int, subs: list[tuple[int, int]]) -> list[set[int]]:
    anc = [set() for _ in range(n)]
    changed = True
    while changed:
        changed = False
        for p, c in subs:
            new = {p} | anc[p]
            if not new <= anc[c]:
                anc[c] |= new
                changed = True
    return anc


@st.composite
def consistent_graphs(draw, max_nodes: int = 14):
    n = draw(st.integers(1, max_nodes))
    perm = draw(st.permutations(range(n)))
    # a random DAG: edges only from earlier to later in a random order
    subs = [
        (perm[i], perm[j])
        for i in range(n)
        for j in range(i + 1, n)
        if draw(st.floats(0, 1)) < draw(st.sampled_from([0.0, 0.1, 0.25]))
    ]
    anc = ancestors_closure(n, subs)
    closure = [anc[v] | {v} for v in range(n)]
    excl: list[tuple[int, int]] = []
    p_ex = draw(st.sampled_from([0.0, 0.2, 0.5, 0.9]))
    for a, b in itertools.combinations(range(n), 2):
        if draw(st.floats(0, 1)) >= p_ex:
            continue
        # keep consistency: no node may have both a and b in its closure
        if any(a in cl and b in cl for cl in closure):
            continue
        excl.append((a, b))
    return n, subs, excl


def build(n, subs, excl) -> HexGraph:
    names = [f"v{i}" for i in range(n)]
    return HexGraph(names, [(names[p], names[c]) for p, c in subs], [(names[a], names[b]) for a, b in excl])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(consistent_graphs(), st.integers(0, 2**31 - 1))
def test_matches_brute_force(graph_def, seed):
    n, subs, excl = graph_def
    g = build(n, subs, excl)
    expected = brute_states(n, subs, excl)
    got = g.legal_states().astype(np.float64)
    assert {tuple(r) for r in got} == {tuple(r) for r in expected}
    assert len(got) == len(expected) == g.num_states

    rng = np.random.default_rng(seed)
    f = rng.normal(scale=3.0, size=(5, n))
    log_z, marg = brute_log_z_and_marginals(expected, f)
    ft = torch.tensor(f, dtype=torch.float64)
    np.testing.assert_allclose(log_partition(g, ft).numpy(), log_z, rtol=0, atol=1e-9)
    np.testing.assert_allclose(marginals(g, ft).numpy(), marg, rtol=0, atol=1e-9)

    # MAP equals the brute-force argmax over legal states
    scores = f @ expected.T
    best = scores.max(axis=1)
    got_map = map_state(g, ft).numpy()
    np.testing.assert_allclose((got_map * f).sum(axis=1), best, atol=1e-9)
    assert g.is_legal(got_map).all()

    # log-likelihood of a random legal state
    y = expected[rng.integers(len(expected), size=5)]
    ll = log_likelihood(g, ft, torch.tensor(y)).numpy()
    np.testing.assert_allclose(ll, (f * y).sum(axis=1) - log_z, atol=1e-9)


def test_gradcheck_marginals():
    g = graph_from_spec(SPECS / "smartphone6.json")
    f = torch.randn(3, g.n, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(partial(marginals, g), (f,))
    assert torch.autograd.gradcheck(partial(log_partition, g), (f,))


def test_marginals_are_gradient_of_log_partition():
    g = graph_from_spec(SPECS / "smartphone6.json")
    f = torch.randn(4, g.n, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(log_partition(g, f).sum(), f)
    torch.testing.assert_close(grad, marginals(g, f.detach()), atol=1e-12, rtol=0)


def test_smartphone6_spec_shape():
    g = graph_from_spec(SPECS / "smartphone6.json")
    assert g.n == 18
    assert g.num_states == 343 == 7**3
    assert [lab.key for lab in g.labels] == [
        "bright", "dark", "low_contrast", "high_contrast", "overexposed", "over_suppressed"
    ]  # fmt: skip
    assert all(lab.level_names == ("none", "normal", "severe", "blocking") for lab in g.labels)
    states = torch.tensor(g.legal_states(), dtype=torch.float64)
    lv = g.levels(states)
    # bright and dark never both present; levels in range; encode/decode round trip
    assert not ((lv[:, 0] > 0) & (lv[:, 1] > 0)).any()
    assert not ((lv[:, 2] > 0) & (lv[:, 3] > 0)).any()
    assert not ((lv[:, 4] > 0) & (lv[:, 5] > 0)).any()
    assert torch.equal(g.encode_levels(lv, dtype=torch.float64), states)
    # 7 states per pair: none, or one of the two at level 1..3
    assert len({tuple(r[:2].tolist()) for r in lv}) == 7


def test_white_balance_spec_is_general():
    g = graph_from_spec(SPECS / "smartphone6_wb.json")
    assert g.n == 27
    # three mutually exclusive 4-level labels: 1 + 3 * 3 = 10 states
    assert g.num_states == 343 * 10


def test_level_probabilities_exact():
    g = graph_from_spec(SPECS / "smartphone6.json")
    f = torch.randn(6, g.n, dtype=torch.float64) * 4
    probs = level_probabilities(g, f)
    assert probs.shape == (6, 6, 4)
    torch.testing.assert_close(probs.sum(-1), torch.ones(6, 6, dtype=torch.float64))
    # independent: brute force over the 343 joint states
    states = g.legal_states().astype(np.float64)
    w = torch.softmax(f @ torch.tensor(states).T, dim=1)
    lv = g.levels(torch.tensor(states))
    for lab in range(6):
        for k in range(4):
            expected = w[:, lv[:, lab] == k].sum(dim=1)
            torch.testing.assert_close(probs[:, lab, k], expected, atol=1e-12, rtol=0)


def test_all_exclusion_graph_is_softmax():
    names = [f"c{i}" for i in range(6)]
    g = HexGraph(names, exclusions=list(itertools.combinations(names, 2)))
    assert g.num_states == 7
    f = torch.randn(4, 6, dtype=torch.float64)
    # the all-zero state acts as a class with potential 0
    expected = torch.softmax(torch.cat([f, torch.zeros(4, 1, dtype=torch.float64)], dim=1), dim=1)[:, :6]
    torch.testing.assert_close(marginals(g, f), expected)


def test_edgeless_graph_is_independent_sigmoids():
    g = HexGraph([f"x{i}" for i in range(10)])
    assert g.num_states == 2**10
    f = torch.randn(4, 10, dtype=torch.float64)
    torch.testing.assert_close(marginals(g, f), torch.sigmoid(f))
    torch.testing.assert_close(log_partition(g, f), torch.nn.functional.softplus(f).sum(1))


def test_stable_for_huge_potentials():
    g = graph_from_spec(SPECS / "smartphone6.json")
    for dtype in (torch.float32, torch.float64):
        f = (torch.randn(8, g.n) * 1e4).to(dtype).requires_grad_(True)
        marg = marginals(g, f)
        log_z = log_partition(g, f)
        (marg.sum() + log_z.sum()).backward()
        for t in (marg, log_z, f.grad, level_probabilities(g, f.detach())):
            assert torch.isfinite(t).all()


def test_large_graphs_are_instant():
    # 12 independent 5-node components: a root with 4 mutually exclusive children
    names, subs, excl = [], [], []
    for c in range(12):
        root = f"r{c}"
        kids = [f"r{c}k{j}" for j in range(4)]
        names += [root, *kids]
        subs += [(root, k) for k in kids]
        excl += list(itertools.combinations(kids, 2))
    g = HexGraph(names, subs, excl)
    assert g.n == 60 and len(g.components) == 12
    assert g.num_states == 6**12  # never enumerated as a whole
    f = torch.randn(256, 60)
    assert torch.isfinite(marginals(g, f)).all()

    # a 40-node tree hierarchy (Deng et al.): children of a node are mutually exclusive
    names = [f"t{i}" for i in range(40)]
    parent = {i: (i - 1) // 3 for i in range(1, 40)}
    subs = [(names[p], names[c]) for c, p in parent.items()]
    excl = [(names[a], names[b]) for a, b in itertools.combinations(range(1, 40), 2) if parent[a] == parent[b]]
    tree = HexGraph(names, subs, excl)
    assert tree.num_states == 41  # empty, or a path from the root to any node
    marg = marginals(tree, torch.zeros(1, 40, dtype=torch.float64))[0]
    assert marg[0].item() == pytest.approx(40 / 41)


@pytest.mark.parametrize(
    ("subs", "excl", "message"),
    [
        ([("a", "b"), ("b", "c"), ("c", "a")], [], "cycle"),
        ([("a", "b")], [("a", "b")], "ancestor"),
        ([("a", "c"), ("b", "c")], [("a", "b")], "two ancestors of 'c'"),
        ([("a", "zzz")], [], "unknown node 'zzz'"),
        ([("a", "a")], [], "itself"),
    ],
)
def test_inconsistent_graphs_raise(subs, excl, message):
    with pytest.raises(HexGraphError, match=message):
        HexGraph(["a", "b", "c"], subs, excl)


def _spec_with(**changes):
    spec = json.loads((SPECS / "smartphone6.json").read_text(encoding="utf-8"))
    spec.update(changes)
    return spec


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"Exclusions": [{"label_a": "bright", "a_levels": [2], "label_b": "nope", "b_levels": [2]}]}, "unknown label"),
        ({"Exclusions": [{"label_a": "bright", "a_levels": [1], "label_b": "dark", "b_levels": [2]}]}, "level 1"),
        ({"Exclusions": [{"label_a": "bright", "a_levels": [5], "label_b": "dark", "b_levels": [2]}]}, "out of range"),
        ({"Exclusions": [{"label_a": "bright", "a_levels": [2], "label_b": "bright", "b_levels": [3]}]}, "ancestor"),
        ({"Subsumptions": [{"label_a": "bright", "label_b": "bright", "map": [[2, 3]]}]}, "cycle"),
        (
            {
                "Subsumptions": [{"label_a": "dark", "label_b": "bright", "map": [[2, 2]]}],
                "Exclusions": [{"label_a": "bright", "a_levels": [2], "label_b": "dark", "b_levels": [2]}],
            },
            "ancestor",
        ),
    ],
)
def test_inconsistent_specs_raise(changes, message):
    with pytest.raises(HexGraphError, match=message):
        graph_from_spec(_spec_with(**changes))


def test_state_limits_are_clear_errors():
    # the whole-graph product is refused, the components stay usable
    edgeless = HexGraph([f"x{i}" for i in range(12)], max_states=100)
    with pytest.raises(HexGraphError, match="max_states=100"):
        edgeless.legal_states()
    # one component with 1 + 2**12 states: a root with 12 free children
    kids = [f"k{i}" for i in range(12)]
    with pytest.raises(HexGraphError, match="more than max_states=100"):
        HexGraph(["root", *kids], [("root", k) for k in kids], max_states=100)


def test_illegal_target_rejected():
    g = graph_from_spec(SPECS / "smartphone6.json")
    y = torch.zeros(1, g.n)
    y[0, 0] = y[0, 3] = 1  # bright>=1 and dark>=1
    with pytest.raises(ValueError, match="row 0"):
        log_likelihood(g, torch.zeros(1, g.n), y)


def test_map_never_illegal_where_thresholding_is():
    g = graph_from_spec(SPECS / "smartphone6.json")
    f = torch.zeros(1, g.n)
    f[0, 0] = f[0, 3] = 5.0  # both bright>=1 and dark>=1 strongly supported
    assert g.is_legal(map_state(g, f).numpy()).all()
    lv = g.levels(map_state(g, f))
    assert not (lv[0, 0] > 0 and lv[0, 1] > 0)


def test_runs_on_other_devices_and_dtypes():
    g = graph_from_spec(SPECS / "smartphone6.json")
    f = torch.randn(2, g.n)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    for dtype in (torch.float32, torch.float64, torch.bfloat16):
        out = marginals(g, f.to(device=device, dtype=dtype))
        assert out.dtype == dtype and out.device.type == device


def test_numpy_prediction_matches_the_torch_inference():
    """predict_levels (numpy, for torch-free deployment) = level_probabilities and levels(map_state)."""
    graph = graph_from_spec(SPECS / "smartphone6.json")
    f = torch.randn(64, graph.n, dtype=torch.float64) * 3
    f[0] = 0.0  # all states tie: both pick the first legal state
    probabilities, levels = graph.predict_levels(f.numpy())
    np.testing.assert_allclose(probabilities, level_probabilities(graph, f).numpy(), atol=1e-12)
    np.testing.assert_array_equal(levels, graph.levels(map_state(graph, f)).numpy())
    with pytest.raises(ValueError, match="shape"):
        graph.predict_levels(np.zeros((2, 3)))


def test_importing_hexgraph_does_not_import_torch():
    code = (
        "import sys, hexgraph; hexgraph.graph_from_spec; before = 'torch' in sys.modules; "
        "hexgraph.marginals; print(before, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]  # the torch functions load torch on first use


def test_the_graph_module_imports_neither_the_spec_nor_the_inference():
    """The layers: spec -> graph and inference -> graph, never back; any import anywhere in graph.py counts,
    inside functions and under ``if TYPE_CHECKING:`` too."""
    tree = ast.parse((SPECS.parent / "hexgraph" / "graph.py").read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "graph.py uses a relative import"
            found |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
    assert found & {"hexgraph", "hexgraph.spec", "hexgraph.inference"} == set()
    assert {name for name in found if name.startswith("hexgraph.")} <= {
        "hexgraph.errors",
        "hexgraph.labels",
        "hexgraph.errors.HexGraphError",
        "hexgraph.labels.Edge",
        "hexgraph.labels.OrdinalLabel",
    }


def test_level_probabilities_needs_an_ordinal_graph():
    g = HexGraph(["a", "b"], subsumptions=[("a", "b")])
    with pytest.raises(HexGraphError, match=r"no ordinal labels; build it with hexgraph\.graph_from_spec"):
        level_probabilities(g, torch.zeros(2, 5))  # refused for the graph before the shape is checked
    with pytest.raises(HexGraphError, match="no ordinal labels"):
        g.predict_levels(np.zeros((2, 2)))


def test_median_levels_hand_worked_and_legal_and_consistent_with_probabilities():
    probabilities = np.array([[[0.3, 0.3, 0.3, 0.1], [0.5, 0.2, 0.2, 0.1], [0.05, 0.05, 0.1, 0.8]]])
    # P(level >= 1, 2, 3): 0.7, 0.4, 0.1 -> 1;  0.5 (not > 1/2) -> 0;  0.95, 0.9, 0.8 -> 3
    np.testing.assert_array_equal(median_levels(probabilities), [[1, 0, 3]])
    assert median_levels(torch.from_numpy(probabilities)).tolist() == [[1, 0, 3]]

    graph = graph_from_spec(SPECS / "smartphone6.json")
    f = torch.randn(4096, graph.n, dtype=torch.float64) * 4
    f[:, [0, 3]] += 3.0  # bright>=1 and dark>=1 both pushed: the joint must still choose
    p = level_probabilities(graph, f)
    levels = median_levels(p)
    assert graph.is_legal(graph.encode_levels(levels).numpy()).all()
    np.testing.assert_array_equal((levels >= 1).numpy(), (p[..., 0] < 0.5).numpy())


def test_confident_levels_hand_worked_legal_and_monotone_in_the_confidence():
    probabilities = np.array([[[0.3, 0.3, 0.3, 0.1], [0.05, 0.05, 0.1, 0.8]]])
    # P(level >= 1, 2, 3): 0.7, 0.4, 0.1 and 0.95, 0.9, 0.8
    assert confident_levels(probabilities, 0.6).tolist() == [[1, 3]]
    assert confident_levels(probabilities, 0.85).tolist() == [[0, 2]]
    assert confident_levels(probabilities, 0.35).tolist() == [[2, 3]]

    graph = graph_from_spec(SPECS / "smartphone6.json")
    p = level_probabilities(graph, torch.randn(2048, graph.n, dtype=torch.float64) * 4)
    previous = median_levels(p)
    for confidence in (0.6, 0.75, 0.9, 0.99):
        levels = confident_levels(p, confidence)
        assert graph.is_legal(graph.encode_levels(levels).numpy()).all()
        assert (levels <= previous).all()  # surer means never a higher level
        previous = levels

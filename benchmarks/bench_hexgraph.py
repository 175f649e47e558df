"""Marginals + backward on the six-label spec: hexgraph vs dense legal-state matrix vs 2**18 brute force.

    python -m benchmarks hexgraph [--batch 4096] [--repeats 5]

All three compute the same exact marginals (checked), measured side by side in one run.
"""

from __future__ import annotations

import argparse
import itertools
import time

import torch

from benchmarks.results import save
from hexgraph import HexGraph, graph_from_spec, marginals
from phoneiqa.labels import spec_path


def ours(graph: HexGraph, f: torch.Tensor) -> torch.Tensor:
    return marginals(graph, f)


def dense(states: torch.Tensor):
    """One softmax over the full [343, 18] legal-state matrix."""

    def run(f: torch.Tensor) -> torch.Tensor:
        return torch.softmax(f @ states.T, dim=1) @ states

    return run


def brute(graph: HexGraph, chunk: int = 256):
    """Every one of the 2**18 assignments, illegal ones masked to -inf, in row chunks to bound memory."""
    all_states = torch.tensor(list(itertools.product([0.0, 1.0], repeat=graph.n)))
    mask = torch.tensor(graph.is_legal(all_states.numpy()))
    penalty = torch.where(mask, 0.0, float("-inf"))

    def run(f: torch.Tensor) -> torch.Tensor:
        return torch.cat([torch.softmax(part @ all_states.T + penalty, dim=1) @ all_states for part in f.split(chunk)])

    return run


def timed(fn, f: torch.Tensor, repeats: int) -> tuple[float, torch.Tensor]:
    times = []
    for _ in range(repeats):
        x = f.detach().clone().requires_grad_(True)
        start = time.perf_counter()
        out = fn(x)
        out.sum().backward()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2], out.detach()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.manual_seed(0)
    graph = graph_from_spec(spec_path("smartphone6"))
    f = torch.randn(args.batch, graph.n) * 3
    legal = torch.tensor(graph.legal_states(), dtype=torch.float32)
    sizes = [len(c.states) for c in graph.components]
    components = f"{len(sizes)} × {sizes[0]}" if len(set(sizes)) == 1 else " + ".join(map(str, sizes))

    rows = [
        (f"hexgraph (per component, {components} states)", lambda x: ours(graph, x), args.repeats),
        (f"dense softmax over the {len(legal)} legal joint states", dense(legal), args.repeats),
        (f"brute force over all 2^{graph.n} assignments, illegal masked", brute(graph), 1),
    ]
    print(f"marginals + backward, B={args.batch}, torch {torch.__version__}, threads {torch.get_num_threads()}")
    print(f"{'method':<58}{'median ms':>12}{'vs hexgraph':>14}{'max |diff|':>14}")
    base_t, base_out, table = None, None, []
    for name, fn, repeats in rows:
        t, out = timed(fn, f, repeats)
        if base_t is None:
            base_t, base_out = t, out
        diff = (out - base_out).abs().max().item()
        print(f"{name:<58}{t * 1e3:>12.2f}{t / base_t:>13.1f}x{diff:>14.2e}")
        table.append({"method": name, "median ms": t * 1e3, "vs hexgraph": t / base_t, "max abs diff": diff})
    formats = {"median ms": "{:,.1f}", "vs hexgraph": "{:,.1f}×", "max abs diff": "{:.1e}"}
    meta = {
        "batch": args.batch,
        "repeats": args.repeats,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }
    save("hexgraph", table, meta, formats={"hexgraph": formats})


if __name__ == "__main__":
    main()

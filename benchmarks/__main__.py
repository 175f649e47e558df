"""``python -m benchmarks``: list the benchmarks; ``python -m benchmarks NAME [args]``: run one
(``NAME --help`` shows its options); ``python -m benchmarks readme [--check]``: README tables from runs/bench/."""

from __future__ import annotations

import runpy
import sys

from benchmarks import benchmarks


def main(argv: list[str]) -> int:
    known = benchmarks()
    if not argv or argv[0] in {"-h", "--help", "list"}:
        print(__doc__.replace("``", ""))
        print()
        width = max(len(name) for name in known)
        for name, (_, description) in known.items():
            print(f"  {name:{width}s}  {description}")
        print(f"  {'readme':{width}s}  README tables between <!-- bench:NAME --> markers, from runs/bench/NAME.json")
        return 0
    name, rest = argv[0], argv[1:]
    if name == "readme":
        from benchmarks.readme import main as readme

        return readme(rest)
    module = known.get(name, (None,))[0] or known.get(name.removeprefix("bench_"), (None,))[0]
    if module is None:
        print(f"unknown benchmark {name!r}; `python -m benchmarks` lists them", file=sys.stderr)
        return 2
    sys.argv = [f"python -m benchmarks {name}", *rest]
    runpy.run_module(f"benchmarks.{module}", run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

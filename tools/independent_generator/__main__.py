"""``python -m tools.independent_generator --out DIR``: write the independent evaluation set."""

from tools.independent_generator import main

main()

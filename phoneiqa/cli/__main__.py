"""``python -m phoneiqa.cli``: the ``phoneiqa`` command."""

import sys

from phoneiqa.cli import main

sys.exit(main())

"""``python -m recsys``: the command-line interface (see :mod:`recsys.cli`)."""

import sys

from recsys.cli import main

sys.exit(main())

"""``python -m tfner``: the command line (:mod:`tfner.cli`)."""

import sys

from tfner.cli import main

sys.exit(main())

"""``python -m latentlab``: the same as the ``latentlab`` command."""

import sys

from latentlab.cli import main

sys.exit(main())

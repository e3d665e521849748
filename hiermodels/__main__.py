"""``python -m hiermodels``: see :mod:`hiermodels.cli`."""

import sys

from hiermodels.cli import main

sys.exit(main())

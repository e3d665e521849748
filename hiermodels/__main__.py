"""``python -m hiermodels`` (and the ``hiermodels`` command): see :mod:`hiermodels.cli`.

When the command is done, the registered exit handlers run and the process ends without the interpreter's own
finalisation: with PyMC, numba, xarray and nutpie imported, tearing down their modules took 0.6-0.7 s of every
fit's wall time (1,000,000 rows, all three poolings: exit handlers done at 8.23 s, process gone at 8.97 s), and a
command leaves nothing that needs it (its files are closed and its output is flushed here). An error that ends
the command (``SystemExit``, an exception) takes the interpreter's usual way out.
"""

import atexit
import os
import sys
from typing import NoReturn

from hiermodels.cli import main


def run() -> NoReturn:
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    atexit._run_exitfuncs()  # what the interpreter would run first: logging, tempfile clean-up, ...
    os._exit(code or 0)


if __name__ == "__main__":
    run()

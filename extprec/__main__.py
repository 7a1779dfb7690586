"""``python -m extprec``: the command-line interface (see :mod:`extprec.cli`)."""

import sys

from extprec.cli import main

if __name__ == "__main__":
    sys.exit(main())

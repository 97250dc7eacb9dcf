"""`python -m connection_summary`: the same command line as `connection-summary`."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())

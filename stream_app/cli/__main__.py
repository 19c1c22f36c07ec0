"""`python -m stream_app.cli`: the console script without an installed entry point (tests, benchmarks)."""

import sys

from stream_app.cli import main

sys.exit(main())

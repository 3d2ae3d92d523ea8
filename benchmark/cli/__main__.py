"""`python -m benchmark.cli`: the `mimo-bench` command."""

import sys

from benchmark.cli.main import main

sys.exit(main())

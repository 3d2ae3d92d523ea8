"""One file per built-in strategy: its defining property."""

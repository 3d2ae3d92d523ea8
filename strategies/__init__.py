"""Built-in strategies, one module each; see `benchmark.strategy` for the contract."""

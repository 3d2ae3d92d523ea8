"""Built-in strategies, one module each; see `benchmark.api.strategy` for the contract."""

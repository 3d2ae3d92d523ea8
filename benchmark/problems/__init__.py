"""Built-in problems, one module each; see `benchmark.api.problem` for the contract."""

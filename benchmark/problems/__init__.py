"""Built-in problems, one module each; see `benchmark.problem` for the contract."""

"""The two plugin registries.  Importing this module imports neither torch nor mlflow."""

from benchmark.registry import Registry

STRATEGIES: Registry = Registry("strategy", "strategies", "mimo_bench.strategies", "benchmark.strategy:Strategy")
PROBLEMS: Registry = Registry("problem", "benchmark.problems", "mimo_bench.problems", "benchmark.problem:Problem")

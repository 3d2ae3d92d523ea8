"""`mimo-bench perf`: timing loops measured as ratios, and their tables."""

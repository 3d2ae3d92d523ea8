"""System tests: real processes, stores and servers."""

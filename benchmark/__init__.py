"""mimo-bench: a benchmark harness for loss balancing in multi-task (MIMO) deep learning."""

__version__ = "0.1.0"

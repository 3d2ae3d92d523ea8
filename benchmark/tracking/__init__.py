"""The one place that talks to MLflow: the store, run logs, heartbeats, claims and filter strings."""

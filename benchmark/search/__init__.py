"""Optuna studies over strategies: storages, the objective, workers, stale trials, export and trial plots."""

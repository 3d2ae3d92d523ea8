"""The work queue every run and search goes through: Optuna storages, and units of work popped by exactly one process."""

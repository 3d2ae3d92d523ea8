"""A suite run: the runner, its --jobs worker processes, progress, the end-of-suite summary and stopping."""

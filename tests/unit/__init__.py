"""Unit tests: fast and in-process."""

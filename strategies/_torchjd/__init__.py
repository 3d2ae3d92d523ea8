"""Gradient-manipulation strategies over torchjd's aggregators and weightings: one adapter, one table."""

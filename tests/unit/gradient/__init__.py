"""Defining properties of the gradient-manipulation strategies, one file per method."""

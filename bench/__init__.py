"""Benchmarks: each script prints a table with its own baseline measured in the same run."""

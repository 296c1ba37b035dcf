"""Synthetic data for tests and benchmarks: a city at any scale and named neighbourhood
layouts."""

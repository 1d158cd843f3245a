"""Compositions of monitor stages: batch, live and training pipelines, and the CLI."""

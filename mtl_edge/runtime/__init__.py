"""Streaming inference: backends, sources, the pipeline and its results."""

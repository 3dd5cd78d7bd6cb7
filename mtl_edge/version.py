"""The package version: one constant, importable from every layer (the package root is the top one)."""

__version__ = "0.1.0"

"""Backdrop: declarative YAML recipes for batches of AI background replacements."""

__version__ = "0.1.0"

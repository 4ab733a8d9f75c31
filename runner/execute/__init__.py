"""Execution: crash-safe state, scheduling, and the upload/generate/download steps."""

"""The 1min.ai API: its limits (one source of truth) and an async client."""

"""`backdrop status`: where a campaign stands and what to run next (read-only)."""

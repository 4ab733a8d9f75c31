"""One module per command: each parses its options, calls the core and prints the outcome."""

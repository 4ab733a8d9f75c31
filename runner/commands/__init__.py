"""One module per command: parse nothing, call the core, print the result."""

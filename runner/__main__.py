"""`python -m runner` is `backdrop`."""

from runner.cli import main

main()

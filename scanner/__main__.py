"""`python -m scanner` runs the camscan command line."""

from scanner.cli import main

main()

"""Docker's presentation: Go templates (`--format`), filters, human sizes and times, tables."""

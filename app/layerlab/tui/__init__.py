"""The terminal UI: a Textual app that shows each command's effect on the union filesystem."""

"""Serving commands: the resident fork server, its client, and `serve` for browsers."""

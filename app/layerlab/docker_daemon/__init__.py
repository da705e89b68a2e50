"""A real Docker daemon, read through the Docker SDK for Python: its images, containers and
layers for the TUI (`tui --docker`), and its images copied into the store
(`pull docker-daemon:NAME`). Read-only: nothing here changes the daemon.
"""

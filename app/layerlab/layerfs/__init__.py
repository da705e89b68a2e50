"""Layers and the union filesystem: layer tars, overlay mounts, layer analysis, archives, `cp`."""

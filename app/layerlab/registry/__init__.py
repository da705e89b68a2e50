"""Registries: Docker Registry HTTP API v2 / OCI distribution (`pull`, `push`, `login`).

An image in a registry is a manifest naming a config blob and layer blobs by digest; this
package moves those blobs between a registry and the store, and records each transfer in the
store (`transfers.py`) so every face can draw it while it happens.
"""

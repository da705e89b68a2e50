"""An image as a registry would have it: its manifest, with each layer's three names.

A registry knows an image by a manifest (Docker's v2 schema 2): the config blob (whose
digest is the image id) and one blob per layer, named by the digest of its compressed bytes.
The store knows a layer by its `diff_id` (the uncompressed tar's digest, which the config
lists) and its chain id (the layer with all those below it). Compressing is not
reproducible, so a layer's compressed digest is known only once a pull or a push has met
it; until then the manifest says so. Plain data in, a document out: no UI here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from layerlab.registry.manifest import DOCKER_CONFIG, DOCKER_LAYER, DOCKER_MANIFEST
from layerlab.storage.images import Image

NOT_YET = "not yet compressed"  # no pull or push has met this layer's blob
NOT_RECORDED = "not recorded: the registry knows it"  # a blob's size is not kept in the store


def as_registry(
    image: Image,
    config_size: int,
    known_blobs: Callable[[str], list[dict[str, Any]]],
    repo_digests: list[str],
) -> dict[str, Any]:
    """The manifest a push of `image` would send, its layers named three ways, and the
    `RepoDigests` it was pulled or pushed under. `known_blobs(diff_id)`: the registry blobs
    a pull or push learned for a layer, newest first (`Digest`, and `Size` when known)."""
    layers: list[dict[str, Any]] = []
    for layer in image.layers:
        blob = next(iter(known_blobs(layer.diff_id)), None)
        entry: dict[str, Any] = {"mediaType": DOCKER_LAYER}
        if blob is None:
            entry |= {"size": NOT_YET, "digest": NOT_YET}
        else:
            entry |= {"size": blob.get("Size", NOT_RECORDED), "digest": blob["Digest"]}
        entry |= {"diff_id": layer.diff_id, "chain_id": layer.chain_id}
        layers.append(entry)
    return {
        "RepoDigests": repo_digests,
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": DOCKER_CONFIG, "size": config_size, "digest": image.id},
        "layers": layers,
    }

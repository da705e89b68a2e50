"""Manifests: Docker's v2 schema 2 and OCI's, image indexes, and the platform Docker picks.

An image in a registry is a manifest: a config blob and a list of layer blobs, each named by
the digest of its (compressed) bytes. A multi-platform image is an index (Docker's
"manifest list") naming one manifest per platform; the one pulled is the running machine's
(`linux/amd64` on x86_64), as Docker picks it, or the one `--platform` names.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any

from layerlab.errors import LayerlabError

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = OCI_LAYER + "+gzip"
OCI_LAYER_ZSTD = OCI_LAYER + "+zstd"
SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+prettyjws"

MANIFESTS = (DOCKER_MANIFEST, OCI_MANIFEST)
INDEXES = (DOCKER_LIST, OCI_INDEX)
ACCEPT = [DOCKER_MANIFEST, DOCKER_LIST, OCI_MANIFEST, OCI_INDEX]
MAX_BYTES = 4 << 20  # distribution's limit for a manifest


def compression(media_type: str) -> str:
    """`gzip`, `zstd` or `` (a plain tar) by a layer's media type (the bytes' magic decides
    where a registry names none we know)."""
    if media_type.endswith("+zstd") or media_type.endswith(".zstd"):
        return "zstd"
    if media_type in {OCI_LAYER, OCI_LAYER.replace(".layer.", ".layer.nondistributable.")}:
        return ""
    return "gzip"


def digest_of(payload: bytes) -> str:
    return "sha256:" + hashlib.sha256(payload).hexdigest()


@dataclass(frozen=True)
class Descriptor:
    """A blob or manifest named by digest: what it is, its size, its platform (in an index)."""

    media_type: str
    digest: str
    size: int
    platform: dict[str, Any] | None = None
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Manifest:
    """An image manifest as received: `raw` is the bytes its digest names."""

    media_type: str
    digest: str
    raw: bytes
    config: Descriptor
    layers: list[Descriptor]


@dataclass(frozen=True)
class Index:
    """An image index (Docker's manifest list): one manifest per platform."""

    media_type: str
    digest: str
    raw: bytes
    manifests: list[Descriptor]


def _bad(what: str) -> LayerlabError:
    return LayerlabError(f"invalid manifest: {what}")


def _descriptor(obj: Any) -> Descriptor:
    if not isinstance(obj, dict):
        raise _bad("a descriptor is not an object")
    digest, size = obj.get("digest"), obj.get("size")
    if not isinstance(digest, str) or not digest.startswith("sha256:") or len(digest) != 71:
        raise _bad(f"unsupported digest {str(digest)[:80]!r}")
    if not isinstance(size, int) or size < 0:
        raise _bad(f"blob {digest} has no size")
    platform = obj.get("platform")
    annotations = obj.get("annotations")
    return Descriptor(
        str(obj.get("mediaType") or ""),
        digest,
        size,
        platform if isinstance(platform, dict) else None,
        annotations if isinstance(annotations, dict) else {},
    )


def parse(raw: bytes, content_type: str, digest: str) -> Manifest | Index:
    """A manifest or an index from a registry's answer; its `mediaType` (else the response's
    Content-Type, else its shape) says which."""
    if content_type.split(";")[0].strip() == SCHEMA1:
        raise LayerlabError("unsupported manifest format: Docker's schema 1 (deprecated)")
    try:
        body = json.loads(raw)
    except ValueError:
        raise _bad("not JSON") from None
    if not isinstance(body, dict):
        raise _bad("not an object")
    kind = str(body.get("mediaType") or content_type.split(";")[0].strip())
    if kind in INDEXES or (kind not in MANIFESTS and "manifests" in body):
        listed = body.get("manifests")
        if not isinstance(listed, list):
            raise _bad("an index without manifests")
        return Index(kind or OCI_INDEX, digest, raw, [_descriptor(m) for m in listed])
    if kind not in MANIFESTS and "config" not in body:
        raise LayerlabError(f"unsupported manifest media type {kind!r}")
    layers = body.get("layers")
    if not isinstance(layers, list):
        raise _bad("a manifest without layers")
    return Manifest(
        kind or OCI_MANIFEST, digest, raw, _descriptor(body.get("config")),
        [_descriptor(layer) for layer in layers],
    )  # fmt: skip


# --- platforms -------------------------------------------------------------------------

_ARCH = {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "armhf": "arm", "armel": "arm",
         "i386": "386", "i686": "386"}  # fmt: skip


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str = ""

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


def _normalize(os_name: str, arch: str, variant: str) -> Platform:
    arch = _ARCH.get(arch.lower(), arch.lower())
    variant = variant.lower()
    if arch == "arm64" and variant in {"8", "v8"}:
        variant = ""
    if arch == "arm" and variant and not variant.startswith("v"):
        variant = f"v{variant}"
    return Platform(os_name.lower(), arch, variant)


def running_platform() -> Platform:
    """This machine's platform as Docker names it (arm's variant from the kernel's name)."""
    machine = os.uname().machine
    variant = ""
    if machine.startswith("armv"):
        variant = f"v{machine[4]}"
    return _normalize("linux", machine if not machine.startswith("armv") else "arm", variant)


def parse_platform(text: str) -> Platform:
    """`--platform`: `os[/arch[/variant]]` or a bare architecture, as containerd parses it."""
    parts = text.strip().split("/")
    if not text.strip() or len(parts) > 3 or not all(parts):
        raise LayerlabError(f'"{text}": unknown operating system or architecture: invalid argument')
    if len(parts) == 1:
        if parts[0].lower() == "linux":
            return running_platform()
        return _normalize("linux", parts[0], "")
    return _normalize(parts[0], parts[1], parts[2] if len(parts) == 3 else "")


def _candidates(wanted: Platform) -> list[Platform]:
    """What `wanted` runs, best first: arm v7 runs v6 and v5 (containerd's `Only`)."""
    if wanted.architecture == "arm" and wanted.variant[1:].isdigit():
        own = int(wanted.variant[1:])
        return [Platform(wanted.os, "arm", f"v{v}") for v in range(own, 4, -1)]
    return [wanted]


def choose(index: Index, wanted: Platform) -> Descriptor:
    """The manifest for `wanted` in an index, as Docker 20.10 picks it; Docker's error
    without one."""
    found: dict[Platform, Descriptor] = {}
    for desc in index.manifests:
        p = desc.platform or {}
        have = _normalize(
            str(p.get("os", "")), str(p.get("architecture", "")), str(p.get("variant", ""))
        )
        found.setdefault(have, desc)
    for candidate in _candidates(wanted):
        if candidate in found:
            return found[candidate]
        if not candidate.variant:  # a variant we did not ask for still runs (amd64 v2...)
            for have, desc in found.items():
                if (have.os, have.architecture) == (candidate.os, candidate.architecture):
                    return desc
    raise LayerlabError(f"no matching manifest for {wanted} in the manifest list entries")

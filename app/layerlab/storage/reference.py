"""References and ids: `name[:tag]`, `sha256:<hex>`, and the 12-character short ids.

Docker prints and accepts these in one way everywhere (ps, images, history,
rmi, the build output), so they are spelled here once.
"""

from __future__ import annotations

import hashlib
import re

from layerlab.errors import LayerlabError

SHORT_ID_LENGTH = 12


def strip_digest(ref: str) -> str:
    """`sha256:abc...` -> `abc...`; a bare id stays as it is."""
    return ref.removeprefix("sha256:")


def short_id(any_id: str) -> str:
    """The 12 hex characters Docker shows for a container, image or layer id."""
    return strip_digest(any_id)[:SHORT_ID_LENGTH]


def display_id(any_id: str, no_trunc: bool = False) -> str:
    """An id as a listing shows it: whole with `--no-trunc`, else short."""
    return any_id if no_trunc else short_id(any_id)


_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
# A registry host has a dot or a port, or is localhost (Docker 20.10): `UPPER/case` has none,
# so its first part is a path component, and must be lower-case.
_HOST = r"(?:localhost|[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)+)(?::[0-9]+)?|[a-zA-Z0-9-]+:[0-9]+"
REFERENCE_RE = re.compile(rf"(?:(?:{_HOST})/)?{_COMPONENT}(?:/{_COMPONENT})*:[\w][\w.-]{{0,127}}")


DIGEST_RE = re.compile(r"@sha256:[0-9a-f]{64}$")  # `name@sha256:…`: an image by its digest


def is_valid_reference(ref: object) -> bool:
    """Docker's reference grammar: `[host[:port]/]name[:tag]`, lower-case name, tag <= 128."""
    return isinstance(ref, str) and REFERENCE_RE.fullmatch(normalize_ref(ref)) is not None


def reference_error(ref: str) -> str | None:
    """Docker's words for a reference that does not parse (a digest allowed); None if it does."""
    name = DIGEST_RE.sub("", ref)
    if is_valid_reference(name):
        return None
    if is_valid_reference(name.lower()):
        return "invalid reference format: repository name must be lowercase"
    return "invalid reference format"


def validate_reference(ref: str) -> None:
    """A name to give an image (`tag`, `commit`, `build -t`, `load`): it parses, no digest."""
    error = reference_error(ref)
    if error is not None:
        raise LayerlabError(error)
    if DIGEST_RE.search(ref):
        raise LayerlabError("refusing to create a tag with a digest reference")


def split_ref(ref: str) -> tuple[str, str]:
    """`name[:tag]` -> (name, tag); a colon inside a registry host:port is not a tag."""
    name, sep, tag = ref.rpartition(":")
    if not sep or "/" in tag:
        return ref, "latest"
    return name, tag


def normalize_ref(ref: str) -> str:
    name, tag = split_ref(ref)
    return f"{name}:{tag}"


def chain_id(parent_chain_id: str | None, diff_id: str) -> str:
    """OCI: ChainID(L0)=DiffID(L0); ChainID(Ln)=sha256(ChainID(Ln-1) + ' ' + DiffID(Ln)).

    Names a layer *with everything below it*, which is what a store directory holds.
    """
    if parent_chain_id is None:
        return diff_id
    return "sha256:" + hashlib.sha256(f"{parent_chain_id} {diff_id}".encode()).hexdigest()

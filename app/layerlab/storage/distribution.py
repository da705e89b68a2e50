"""What the store knows of registries: which blob is which layer, and where it came from.

A layer has two digests. Its `diff_id` names the uncompressed tar (the config's
`rootfs.diff_ids`, the store's identity for it); a registry names the compressed blob it
sends (the manifest's layer digest). Compressing is not reproducible, so the link between
the two is a fact learned from a pull, kept as Docker keeps it (moby's
`distribution/metadata`):

    distribution/diffid-by-digest/sha256/<blob hex>      the diff_id the blob unpacked to
    distribution/v2metadata-by-diffid/sha256/<diff hex>  [{"Digest", "SourceRepository",
                                                           "HMAC"}]: the blobs known for a
                                                           layer and the repositories that
                                                           have them
    distribution/repodigests.json                        {"NAME@sha256:<manifest>": image id}

A push reads the second to tell the registry it already has a blob (`Layer already
exists`) or to mount it from another repository of that registry (`Mounted from ...`)
instead of sending it. `RepoDigests` (`inspect`, `images --digests`) read the third: the
manifest digest a repository served an image under; an image pulled by digest is found by
it (`run NAME@sha256:...`). Entries whose image has gone are ignored on reading.

Writers hold the store lock (a pull records these when it commits its image); every file
is written atomically, so a reader never sees half of one.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from layerlab.storage.reference import strip_digest
from layerlab.storage.store import Store, read_json, write_bytes_atomic, write_json_atomic

DISTRIBUTION = "distribution"


def _folder(store: Store, kind: str) -> Path:
    return store.root / DISTRIBUTION / kind / "sha256"


def _repo_digests_path(store: Store) -> Path:
    return store.root / DISTRIBUTION / "repodigests.json"


def diff_id_for(store: Store, blob_digest: str) -> str | None:
    """The diff_id a registry blob unpacked to, if a pull learned it."""
    try:
        text = (_folder(store, "diffid-by-digest") / strip_digest(blob_digest)).read_text()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return text.strip() or None


def blobs_for(store: Store, diff_id: str) -> list[dict[str, str]]:
    """The blobs known for a layer: `Digest`, `SourceRepository` (`host/path`), `HMAC`."""
    path = _folder(store, "v2metadata-by-diffid") / strip_digest(diff_id)
    try:
        found = read_json(path)
    except (FileNotFoundError, ValueError):
        return []
    return [e for e in found if isinstance(e, dict)] if isinstance(found, list) else []


def record_blob(store: Store, diff_id: str, blob_digest: str, repository: str) -> None:
    """Under the store lock: blob `blob_digest` of `repository` unpacks to `diff_id`."""
    by_digest = _folder(store, "diffid-by-digest")
    by_digest.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(by_digest / strip_digest(blob_digest), diff_id.encode())
    entry = {"Digest": blob_digest, "SourceRepository": repository, "HMAC": ""}
    known = [e for e in blobs_for(store, diff_id) if e != entry]
    by_diff = _folder(store, "v2metadata-by-diffid")
    by_diff.mkdir(parents=True, exist_ok=True)
    write_json_atomic(by_diff / strip_digest(diff_id), [entry, *known])


def _read_repo_digests(store: Store) -> dict[str, str]:
    try:
        data: Any = read_json(_repo_digests_path(store))
    except (FileNotFoundError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): str(v) for k, v in data.items()}


def record_repo_digest(store: Store, repo_digest: str, image_id: str) -> None:
    """Under the store lock: `NAME@sha256:...` (familiar name) names image `image_id`."""
    known = _read_repo_digests(store)
    known[repo_digest] = image_id
    _repo_digests_path(store).parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(_repo_digests_path(store), dict(sorted(known.items())))


def repo_digests(store: Store, image_id: str) -> list[str]:
    """The image's `RepoDigests`, sorted as Docker lists them."""
    return sorted(k for k, v in _read_repo_digests(store).items() if v == image_id)


def image_by_repo_digest(store: Store, repo_digest: str) -> str | None:
    """The image `NAME@sha256:...` names, if it is still in the store."""
    image_id = _read_repo_digests(store).get(repo_digest)
    if image_id is None:
        return None
    with contextlib.suppress(OSError):
        if store.image_path(image_id).is_file():
            return image_id
    return None

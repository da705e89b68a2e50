"""`push` (registry/push.py sends the blobs and the manifest) and `search`.

A push's failure is printed bare, one line, as Docker's client prints an error from the
push's stream (`unauthorized: authentication required`, a registry that is down); the
registry modules load on use (requests is heavy for every other command).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from layerlab.errors import ClientError
from layerlab.storage import events as journal

if TYPE_CHECKING:
    from layerlab.engine.context import Context
    from layerlab.registry.catalog import Found
    from layerlab.registry.client import RegistryError
    from layerlab.registry.pull import Observer, Say
    from layerlab.registry.push import PushResult


def push(
    ctx: Context, name: str, all_tags: bool, say: Say | None, observe: Observer | None
) -> PushResult:
    """`docker push NAME[:TAG]` (`all_tags`: every local tag of NAME)."""
    from layerlab.registry.client import RegistryError, parse_reference
    from layerlab.registry.push import push as push_image

    try:
        result = push_image(ctx.store, name, all_tags, say or (lambda line: None), observe)
    except RegistryError as exc:
        raise ClientError(_words(exc)) from None
    repository = parse_reference(name).familiar
    for pushed in result.tags:
        journal.image(ctx.store.root, f"{repository}:{pushed.tag}", "push", name=repository)
    return result


def search(ctx: Context, term: str, limit: int, filters: list[str]) -> list[Found]:
    """`docker search [HOST[:PORT]/]TERM` in the registry's catalog; a registry that refuses
    it, or is not there, in one line (Docker's daemon's words)."""
    from layerlab.registry.catalog import search as search_catalog

    return search_catalog(ctx.store.root, term, limit, filters)


def _words(exc: RegistryError) -> str:
    """A push's failure as Docker prints it: what the registry answered bare (its errcode:
    `unauthorized: authentication required`), a failed connection with its URL (Go's
    url.Error: `Get "http://...": dial tcp ...: connection refused`)."""
    if exc.code and '": ' in exc.reason:
        return exc.reason.split('": ', 1)[1]
    return exc.reason

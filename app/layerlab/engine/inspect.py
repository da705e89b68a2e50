"""`inspect`: a container's record or an image's metadata, shaped as Docker's."""

from __future__ import annotations

from typing import Any

from layerlab import network
from layerlab.engine.context import Context
from layerlab.errors import InvalidReference, NotFound
from layerlab.runtime.spec import MASKED_PATHS, READONLY_PATHS
from layerlab.storage import images as imagelib
from layerlab.storage.containers import Container
from layerlab.storage.distribution import repo_digests


def inspect(ctx: Context, ref: str, size: bool = False, kind: str | None = None) -> dict[str, Any]:
    """A container's or an image's top-level metadata, container first as Docker does;
    `kind` ("container" or "image", `--type`) looks for that one only.

    With `size`, a container's also has `SizeRw` and `SizeRootFs` (`inspect -s`).
    """
    if kind == "image":
        return image_inspect(ctx, ctx.image(ref))
    try:
        data = ctx.container(ref).data
    except NotFound:
        if kind == "container":
            raise
    else:
        if size:
            data["SizeRw"], data["SizeRootFs"] = ctx.container_sizes(Container(data))
        _hidden_paths(data["HostConfig"])
        data["NetworkSettings"] = network.settings(data, ctx.store.container_dir(data["Id"]))
        return data
    try:
        image = ctx.image(ref)
    except (NotFound, InvalidReference):
        raise NotFound(f"No such object: {ref}", exit_code=1) from None
    return image_inspect(ctx, image)


def _hidden_paths(host: dict[str, Any]) -> None:
    """The /proc paths the runtime masks or makes read-only, as Docker's daemon records them
    in the HostConfig (none for a privileged container): what the runtime's spec does."""
    if not host.get("Privileged"):
        host.setdefault("MaskedPaths", list(MASKED_PATHS))
        host.setdefault("ReadonlyPaths", list(READONLY_PATHS))


def image_inspect(ctx: Context, image: imagelib.Image) -> dict[str, Any]:
    """`docker image inspect`'s fields for one image."""
    tags = imagelib.tags_of(ctx.store, image.id)
    cfg = image.config
    return {
        "Id": image.id,
        "RepoTags": tags,
        "RepoDigests": repo_digests(ctx.store, image.id),
        "Parent": imagelib.image_parent(ctx.store, image.id) or "",
        "Comment": (cfg.get("history") or [{}])[-1].get("comment", ""),
        "Created": cfg.get("created", ""),
        "Container": cfg.get("container", ""),
        "ContainerConfig": cfg.get("container_config") or {},
        "DockerVersion": cfg.get("docker_version", ""),
        "Author": cfg.get("author", ""),
        "Config": cfg.get("config") or {},
        "Architecture": cfg.get("architecture", ""),
        "Os": cfg.get("os", ""),
        "Size": image.size,
        "GraphDriver": {
            "Name": "overlay2",
            "Data": {
                **_image_lower_dir(image.layers[:-1]),
                "UpperDir": str(image.layers[-1].diff_path) if image.layers else "",
            },
        },
        "RootFS": {"Type": "layers", "Layers": [layer.diff_id for layer in image.layers]},
    }


def _image_lower_dir(layers: list[Any]) -> dict[str, str]:
    """An image's `LowerDir`: the layers under its top one, top first; none for one layer."""
    return {"LowerDir": ":".join(str(x.diff_path) for x in reversed(layers))} if layers else {}

"""`create` (and `run`'s first half): a writable layer on an image, plus the record.

Everything a flag can get wrong is refused before anything is made (Docker: 125,
nothing created); the container's folder is staged under `tmp/` and renamed into
place whole, so no reader ever sees half a container.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from layerlab import network
from layerlab.errors import Conflict, LayerlabError
from layerlab.layerfs import unionfs
from layerlab.runtime.spec import DEFAULT_CAPS, INIT_PATH
from layerlab.storage import events as journal
from layerlab.storage import images as imagelib
from layerlab.storage import limits as limitlib
from layerlab.storage import volumes as volumelib
from layerlab.storage.containers import (
    BUILD_OWNER,
    Container,
    CreateOptions,
    merge_env,
    new_record,
    parse_signal,
)
from layerlab.storage.names import generate_name
from layerlab.storage.reference import reference_error, short_id
from layerlab.storage.store import record_durable, write_json_atomic

if TYPE_CHECKING:
    from layerlab.engine.context import Context

NAME_RE = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")


@dataclass(frozen=True)
class _Plan:
    """What `create` worked out before taking the store lock."""

    image: imagelib.Image
    command: tuple[list[str], list[str]]  # entrypoint, cmd
    env: list[str]
    mount_request: volumelib.MountRequest
    mount_plan: list[volumelib.Planned]
    limits: dict[str, Any]  # HostConfig's limit and security fields


def check_name(name: str) -> None:
    """Docker's rule for a container name (`--name`, `rename`)."""
    if not NAME_RE.match(name):
        raise LayerlabError(
            f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )


def name_conflict(name: str, owner: str) -> Conflict:
    return Conflict(
        f'Conflict. The container name "/{name}" is already in use by container "{owner}". '
        "You have to remove (or rename) that container to be able to reuse that name."
    )


def create(ctx: Context, image_ref: str, opts: CreateOptions) -> Container:
    """A writable layer on top of the image, plus metadata: no mount, no process."""
    plan = _plan(ctx, image_ref, opts)
    cid = os.urandom(32).hex()
    with ctx.store.lock():
        imagelib.read_image(ctx.store, plan.image.id)  # still there: a racing rmi may be done
        ctx.store.ensure()
        names = {c.name for c in ctx.containers(all=True)}
        name = (opts.name or "").lstrip("/") or generate_name(names)
        if name in names:
            raise name_conflict(name, ctx.container(name).id)
        data = _make(ctx, cid, name, image_ref, opts, plan)
    journal.container(ctx.store.root, data, "create")
    return Container(data)


def _plan(ctx: Context, image_ref: str, opts: CreateOptions) -> _Plan:
    if opts.workdir and not opts.workdir.startswith("/"):
        raise LayerlabError(
            f"the working directory '{opts.workdir}' is invalid, it needs to be an absolute path"
        )
    if opts.name is not None:
        check_name(opts.name)
    parse_error = None if image_ref.startswith("sha256:") else reference_error(image_ref)
    if parse_error is not None:  # `run` and `create` parse the name before looking for it
        raise LayerlabError(parse_error)
    image = ctx.image_or_pull(image_ref)
    cfg = image.run_config
    if opts.entrypoint is not None:
        entrypoint = [opts.entrypoint] if opts.entrypoint else []
        cmd = list(opts.command)
    else:
        entrypoint = list(cfg.get("Entrypoint") or [])
        cmd = list(opts.command) or list(cfg.get("Cmd") or [])
    if not entrypoint + cmd:
        raise LayerlabError("No command specified")
    mount_request = volumelib.MountRequest(opts.volumes, opts.mounts, opts.tmpfs)
    mount_plan = volumelib.plan(mount_request, list(cfg.get("Volumes") or {}))
    env = merge_env(list(cfg.get("Env") or []), opts.env)
    _check_run_flags(opts)
    limit_fields = _limit_fields(ctx, opts)
    return _Plan(image, (entrypoint, cmd), env, mount_request, mount_plan, limit_fields)


def _make(
    ctx: Context, cid: str, name: str, image_ref: str, opts: CreateOptions, plan: _Plan
) -> dict[str, Any]:
    """Under the store lock: the container's folder staged whole, then renamed into place."""
    store = ctx.store
    staged = store.make_tmp_dir("container-")
    final = store.container_dir(cid)
    mounts: dict[str, Any] = {"Mounts": []}
    try:
        volumelib.realize(store, plan.mount_plan)
        mounts = volumelib.record_fields(store, plan.mount_request, plan.mount_plan)
        for sub in ("diff", "work", "merged", "bundle"):
            (staged / sub).mkdir()
        unionfs.create_init_layer(staged / "init")
        if opts.init:  # the mount point of Docker's /sbin/docker-init
            (staged / "init" / "sbin").mkdir(exist_ok=True)
            (staged / "init" / INIT_PATH.lstrip("/")).touch()
        hostname = opts.hostname or short_id(cid)
        unionfs.write_etc_files(staged, hostname)
        data = new_record(
            cid, final, name, plan.image.id, plan.image.run_config, image_ref, plan.command,
            plan.env, hostname, opts, ctx.runtime.name,
        )  # fmt: skip
        _set_mounts(data, mounts)
        network.configure(store.root, data, opts.network, store.resolve_container)
        data["HostConfig"].update(plan.limits)
        data["GraphDriver"] = _graph_driver(final, plan.image)
        write_json_atomic(staged / "config.json", data, durable=record_durable(data))
        if opts.owner_pid is not None:
            (staged / BUILD_OWNER).write_text(f"{opts.owner_pid}\n")
        os.rename(staged, final)
    except BaseException:
        store.discard(staged)
        volumelib.remove_anonymous(store, mounts)
        raise
    return data


def _graph_driver(final: Path, image: imagelib.Image) -> dict[str, Any]:
    """Where `inspect` shows the union's folders: the init layer on the image's layers."""
    lowers = [final / "init"] + [layer.diff_path for layer in reversed(image.layers)]
    return {
        "Name": "overlay2",
        "Data": {
            "LowerDir": ":".join(str(p) for p in lowers),
            "UpperDir": str(final / "diff"),
            "MergedDir": str(final / "merged"),
            "WorkDir": str(final / "work"),
        },
    }


def _set_mounts(data: dict[str, Any], fields: dict[str, Any]) -> None:
    """A new record's mounts, where `docker inspect` shows them."""
    data["Mounts"] = fields["Mounts"]
    host = data["HostConfig"]
    host["Binds"], host["Mounts"], host["Tmpfs"] = (
        fields["Binds"],
        fields["HostMounts"],
        fields["Tmpfs"],
    )
    data["Config"]["Volumes"] = fields["Volumes"]


def _limit_fields(ctx: Context, opts: CreateOptions) -> dict[str, Any]:
    """HostConfig's limits (flags over the store's daemon.json) and security options,
    checked before anything is made."""
    from layerlab.runtime import seccomp

    fields = limitlib.host_config(opts.limits, limitlib.store_defaults(ctx.store.root))
    seccomp.capabilities(DEFAULT_CAPS, opts.cap_add, opts.cap_drop, opts.privileged)
    opts.security_opt = seccomp.security_options(opts.security_opt)
    return fields


def _check_run_flags(opts: CreateOptions) -> None:
    """Refuse at create what could never start (Docker: 125, nothing created)."""
    if opts.stop_signal is not None:
        parse_signal(opts.stop_signal)
    if opts.init:
        from layerlab.engine.sysinfo import init_binary

        if init_binary() is None:
            raise LayerlabError(
                "--init needs an init binary on the host (docker-init or tini-static): "
                "apt-get install tini"
            )

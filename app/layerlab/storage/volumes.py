"""Volumes and mounts: what bypasses the union filesystem.

A volume is a plain directory under the store (`volumes/<name>/_data`) that
runc bind-mounts into the container over the union: what a container writes
there never reaches its writable layer, so it is not in `diff`, not in
`commit`'s layer and not in `export`. A bind mount does the same with a host
directory; a tmpfs with memory.

Here: the volume records (`volume create/ls/inspect/rm/prune`), the parsing of
`-v`, `--mount` and `--tmpfs` into one mount plan (Docker's words for the
errors), the record fields a plan fills (`Mounts`, `HostConfig.Binds`, ...),
the OCI spec mounts it becomes, and which volumes get the image's files on first use
(the engine copies them, and measures what a volume holds).
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from layerlab.errors import Conflict, Corrupted, LayerlabError, NotFound
from layerlab.presentation.humanize import parse_rfc3339
from layerlab.storage import events
from layerlab.storage.store import Store, read_json, write_json_atomic

NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
META = "layerlab-volume.json"  # beside `_data`, as Docker keeps its metadata.db


@dataclass(frozen=True)
class Volume:
    """One volume as `docker volume inspect` shows it."""

    name: str
    mountpoint: Path
    created_at: str
    labels: dict[str, str] | None = None
    anonymous: bool = False

    def inspect(self) -> dict[str, Any]:
        """Docker's fields; `volume create` sends labels and options as empty maps, a volume
        made by `-v` or an image's VOLUME has them null."""
        return {
            "CreatedAt": self.created_at,
            "Driver": "local",
            "Labels": self.labels,
            "Mountpoint": str(self.mountpoint),
            "Name": self.name,
            "Options": None if self.labels is None else {},
            "Scope": "local",
        }


# --- the records -------------------------------------------------------------------
def _now() -> str:
    # Docker's CreatedAt: RFC 3339 to the second, UTC.
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def validate_name(name: str) -> None:
    if not NAME_RE.match(name):
        raise LayerlabError(
            f'create {name}: "{name}" includes invalid characters for a local volume name, '
            'only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host '
            "directory, use absolute path",
            exit_code=1,
        )


def read(store: Store, name: str) -> Volume:
    """A volume by name; Docker's `get NAME: no such volume` otherwise."""
    if "/" in name or name in ("", ".", ".."):
        raise NotFound(f"get {name}: no such volume", exit_code=1)
    try:
        meta = read_json(store.volume_dir(name) / META)
    except (FileNotFoundError, NotADirectoryError):
        raise NotFound(f"get {name}: no such volume", exit_code=1) from None
    return Volume(
        name=name,
        mountpoint=store.volume_dir(name) / "_data",
        created_at=str(meta.get("CreatedAt", "")),
        labels=meta.get("Labels"),
        anonymous=bool(meta.get("Anonymous")),
    )


def create(
    store: Store,
    name: str | None = None,
    labels: dict[str, str] | None = None,
    *,
    anonymous: bool = False,
) -> Volume:
    """Create a volume (a random 64-hex name when none is given); an existing one is returned
    as it is - `docker volume create` is idempotent."""
    if name is None:
        name = os.urandom(32).hex()
    validate_name(name)
    with store.lock():
        with contextlib.suppress(NotFound):
            return read(store, name)
        store.volumes_dir.mkdir(parents=True, exist_ok=True)
        staged = store.make_tmp_dir("volume-")
        try:
            (staged / "_data").mkdir(mode=0o755)
            os.chmod(staged / "_data", 0o755)
            meta = {"CreatedAt": _now(), "Labels": labels, "Anonymous": anonymous}
            write_json_atomic(staged / META, meta)
            os.rename(staged, store.volume_dir(name))
        except BaseException:
            store.discard(staged)
            raise
    events.volume(store.root, name, "create")
    return read(store, name)


def names(store: Store) -> list[str]:
    """Every volume's name, sorted as `docker volume ls` lists them."""
    try:
        entries = os.scandir(store.volumes_dir)
    except FileNotFoundError:
        return []
    with entries:
        return sorted(e.name for e in entries if (Path(e.path) / META).exists())


def listing(store: Store) -> list[Volume]:
    """Every volume; one removed during the listing is left out."""
    found = []
    for name in names(store):
        with contextlib.suppress(NotFound):
            found.append(read(store, name))
    return found


def mounted(record: dict[str, Any]) -> set[str]:
    """The volumes a container record mounts, by name (`ps`'s LOCAL VOLUMES counts them)."""
    return {m["Name"] for m in record.get("Mounts") or [] if m.get("Type") == "volume"}


@dataclass(frozen=True)
class Mounted:
    """One thing mounted over a container's union: outside its layers, so its files are
    in no `diff`, no `commit` and no `export`."""

    type: str  # "volume" | "bind" | "tmpfs"
    destination: str  # where the container sees it
    source: str  # a volume's name, a bind's host folder; "" for a tmpfs
    read_only: bool = False


def mounts_of(record: dict[str, Any]) -> tuple[Mounted, ...]:
    """A container record's mounts by destination: `.Mounts`, and the `--tmpfs` ones that
    Docker lists only in `HostConfig.Tmpfs`."""
    found = [
        Mounted(
            type=m.get("Type", ""),
            destination=m.get("Destination", ""),
            source=m.get("Name", "") if m.get("Type") == "volume" else m.get("Source", ""),
            read_only=not m.get("RW", True),
        )
        for m in record.get("Mounts") or []
    ]
    tmpfs = (record.get("HostConfig") or {}).get("Tmpfs") or {}
    found += [
        Mounted("tmpfs", dest, "", "ro" in options.split(",")) for dest, options in tmpfs.items()
    ]
    return tuple(sorted(found, key=lambda m: m.destination))


def users(name: str, records: list[dict[str, Any]]) -> list[str]:
    """The ids of the containers (records) that mount volume `name`."""
    return [str(r["Id"]) for r in records if name in mounted(r)]


def in_use(records: list[dict[str, Any]]) -> set[str]:
    """The volumes some container mounts, running or not (the others are `dangling`)."""
    return set().union(*map(mounted, records))


def remove(store: Store, name: str, records: list[dict[str, Any]], force: bool = False) -> None:
    """Delete a volume no container uses.

    Docker refuses one in use, naming the containers: `remove NAME: volume is in use - [ID]`.
    """
    with store.lock():
        try:
            read(store, name)
        except NotFound:
            if force:
                return
            raise
        using = users(name, records)
        if using:
            raise Conflict(f"remove {name}: volume is in use - [{', '.join(using)}]", exit_code=1)
        vdir = store.volume_dir(name)
        doomed = store.make_tmp_dir("removing-")
        os.rename(vdir, doomed / name)
    store.discard(doomed)
    events.volume(store.root, name, "destroy")


def _records(store: Store) -> list[dict[str, Any]]:
    found = []
    for cid in store.container_ids():
        with contextlib.suppress(FileNotFoundError, Corrupted):  # an unreadable one: skipped
            found.append(store.read_container(cid))
    return found


def remove_anonymous(store: Store, record: dict[str, Any]) -> list[str]:
    """`rm -v` and `run --rm`: the container's anonymous volumes go with it (named ones stay,
    and so does one another container mounts too). Call once the record left the store."""
    others = [r for r in _records(store) if r.get("Id") != record.get("Id")]
    host = record.get("HostConfig") or {}
    named = {b.split(":")[0] for b in host.get("Binds") or []}  # as moby: a spec's source
    named |= {m.get("Source") for m in host.get("Mounts") or []}
    gone = []
    for m in record.get("Mounts") or []:
        if m.get("Type") != "volume" or m["Name"] in named:
            continue
        try:
            remove(store, m["Name"], others)
        except LayerlabError:
            continue
        gone.append(m["Name"])
    return gone


def created_order(volume: Volume) -> float:
    try:
        return parse_rfc3339(volume.created_at)
    except ValueError:
        return 0.0


# --- the mount plan ------------------------------------------------------------------
@dataclass
class MountRequest:
    """What `create`/`run` asked for: `-v` strings, `--mount` specs, `--tmpfs` strings."""

    volumes: list[str] = field(default_factory=list)
    mounts: list[str] = field(default_factory=list)
    tmpfs: list[str] = field(default_factory=list)


@dataclass
class Planned:
    """One mount of a container: a bind, a volume (named or anonymous) or a tmpfs."""

    type: str  # "bind" | "volume" | "tmpfs"
    destination: str
    source: str = ""  # bind: host path; volume: its name ("" = a new anonymous one)
    read_only: bool = False
    mode: str = ""
    options: str = ""  # tmpfs options
    listed: bool = True  # shown in `.Mounts` (Docker leaves `--tmpfs` out)
    declared: bool = False  # an anonymous `-v /ctr` or an image's VOLUME: in `Config.Volumes`


def _absolute(path: str, kind: str, spec: str | None = None) -> str:
    if not path.startswith("/"):
        why = f"invalid mount path: '{path}' mount path must be absolute"
        if kind == "tmpfs":
            raise LayerlabError(why)
        message = f'invalid mount config for type "{kind}": {why}'
        if spec is not None:
            message = f"invalid volume specification: '{spec}': {message}"
        raise LayerlabError(message)
    return os.path.normpath(path) if path != "/" else "/"


def parse_volume_flag(spec: str, cwd: str | None = None) -> Planned:
    """`-v`: `/ctr` (anonymous), `NAME:/ctr[:opts]` (named), `/host:/ctr[:opts]` (bind)."""
    parts = spec.split(":")
    if len(parts) == 1:
        return Planned("volume", _absolute(parts[0], "volume", spec), declared=True)
    if len(parts) > 3 or not all(parts[:2]):
        raise LayerlabError(f"invalid volume specification: '{spec}'")
    source, dest = parts[0], parts[1]
    mode = parts[2] if len(parts) == 3 else ""
    modes = set(mode.split(",")) if mode else set()
    allowed = {"ro", "rw", "z", "Z", "nocopy", "private", "rprivate", "shared", "rshared",
               "slave", "rslave"}  # fmt: skip
    if not modes <= allowed or {"ro", "rw"} <= modes:
        raise LayerlabError(f"invalid mode: {mode}")
    read_only = "ro" in modes
    if source.startswith(("/", ".")):
        host = os.path.abspath(os.path.join(cwd or os.getcwd(), source))
        return Planned("bind", _absolute(dest, "bind", spec), host, read_only, mode)
    validate_name(source)
    return Planned("volume", _absolute(dest, "volume", spec), source, read_only, mode or "z")


def parse_mount_flag(spec: str) -> Planned:
    """`--mount type=bind|volume|tmpfs,source=…,target=…[,readonly]`."""
    fields: dict[str, str] = {}
    for item in spec.split(","):
        key, sep, value = item.partition("=")
        key = key.strip().lower()
        if not sep and key in ("readonly", "ro"):
            value = "true"
        elif not sep:
            raise LayerlabError(f"invalid field '{item}' must be a key=value pair")
        fields[key] = value
    kind = fields.get("type", "volume")
    source = fields.get("source", fields.get("src", ""))
    target = fields.get("target", fields.get("destination", fields.get("dst", "")))
    read_only = fields.get("readonly", fields.get("ro", "false")).lower() in ("1", "true")
    bad = f'invalid mount config for type "{kind}": '
    if kind not in ("bind", "volume", "tmpfs"):
        raise LayerlabError(bad + "mount type unknown")
    if not target:
        raise LayerlabError(bad + "field Target must not be empty")
    dest = _absolute(target, kind)
    if kind == "bind":
        if not source:
            raise LayerlabError(bad + "field Source must not be empty")
        if not os.path.exists(source):
            raise LayerlabError(bad + f"bind source path does not exist: {source}")
        return Planned("bind", dest, os.path.abspath(source), read_only)
    if kind == "tmpfs":
        if source:
            raise LayerlabError(bad + "field Source must not be specified")
        size = fields.get("tmpfs-size", "")
        return Planned("tmpfs", dest, read_only=read_only, options=f"size={size}" if size else "")
    if source:
        validate_name(source)
    return Planned("volume", dest, source, read_only, "z" if source else "")


def parse_tmpfs_flag(spec: str) -> Planned:
    """`--tmpfs /path[:options]`: a tmpfs, left out of `.Mounts` as Docker does."""
    dest, _, options = spec.partition(":")
    return Planned("tmpfs", _absolute(dest, "tmpfs"), options=options, listed=False)


def plan(request: MountRequest, image_volumes: list[str]) -> list[Planned]:
    """Every mount of a new container, in Docker's order; refuses a doubled destination.

    An image's `VOLUME` the flags don't cover becomes an anonymous volume.
    """
    planned = [parse_volume_flag(v) for v in request.volumes]
    planned += [parse_mount_flag(m) for m in request.mounts]
    planned += [parse_tmpfs_flag(t) for t in request.tmpfs]
    seen: set[str] = set()
    for p in planned:
        if p.destination in seen:
            raise LayerlabError(f"Duplicate mount point: {p.destination}")
        seen.add(p.destination)
    for path in image_volumes:
        dest = os.path.normpath(path) if path.startswith("/") else "/" + path
        if dest not in seen:
            seen.add(dest)
            planned.append(Planned("volume", dest, declared=True))
    return planned


def realize(store: Store, planned: list[Planned]) -> None:
    """Make what the plan needs on the host: named and anonymous volumes, missing `-v` dirs."""
    for p in planned:
        if p.type == "volume":
            volume = create(store, p.source or None, anonymous=not p.source)
            if not p.source:
                p.source = volume.name
        elif p.type == "bind" and not os.path.exists(p.source):
            os.makedirs(p.source, exist_ok=True)  # `-v` makes a missing host dir, as Docker


def record_fields(store: Store, request: MountRequest, planned: list[Planned]) -> dict[str, Any]:
    """What the plan adds to a container record: `Mounts`, `HostConfig.Binds/Mounts/Tmpfs`,
    `Config.Volumes` - Docker's inspect shapes."""
    mounts = []
    for p in planned:
        if not p.listed:
            continue
        entry: dict[str, Any] = {"Type": p.type}
        if p.type == "volume":
            entry["Name"] = p.source
            entry["Source"] = str(store.volume_dir(p.source) / "_data")
        else:
            entry["Source"] = p.source
        entry["Destination"] = p.destination
        if p.type == "volume":
            entry["Driver"] = "local"
        entry.update(
            Mode=p.mode, RW=not p.read_only, Propagation="rprivate" if p.type == "bind" else ""
        )
        mounts.append(entry)
    binds = [v for v in request.volumes if ":" in v]
    anon: dict[str, dict[str, Any]] = {p.destination: {} for p in planned if p.declared}
    host_mounts = []
    for spec in request.mounts:
        p = parse_mount_flag(spec)
        item: dict[str, Any] = {"Type": p.type, "Source": p.source, "Target": p.destination}
        if p.type == "tmpfs":
            del item["Source"]
        if p.read_only:
            item["ReadOnly"] = True
        host_mounts.append(item)
    tmpfs = {p.destination: p.options for p in planned if p.type == "tmpfs" and not p.listed}
    return {
        "Mounts": mounts,
        "Binds": [_absolute_bind(b) for b in binds] or None,
        "HostMounts": host_mounts or None,
        "Tmpfs": tmpfs or None,
        "Volumes": anon or None,
    }


def _absolute_bind(spec: str) -> str:
    """`./rel:/x` is stored as `/abs/rel:/x`, as the docker client sends it."""
    source, sep, rest = spec.partition(":")
    if source.startswith("."):
        source = os.path.abspath(source)
    return source + sep + rest


def spec_mounts(store: Store, record: dict[str, Any]) -> list[dict[str, Any]]:
    """The OCI mounts of a container's volumes, binds and tmpfs, after runc's defaults."""
    out: list[dict[str, Any]] = []
    for m in record.get("Mounts") or []:
        ro = [] if m.get("RW", True) else ["ro"]
        if m["Type"] in ("bind", "volume"):
            source = m["Source"]
            if m["Type"] == "volume":
                source = str(store.volume_dir(m["Name"]) / "_data")
            out.append({"destination": m["Destination"], "type": "bind", "source": source,
                        "options": ["rbind", "rprivate", *ro]})  # fmt: skip
        elif m["Type"] == "tmpfs":
            out.append(_tmpfs(m["Destination"], "", not m.get("RW", True)))
    for dest, options in ((record.get("HostConfig") or {}).get("Tmpfs") or {}).items():
        out.append(_tmpfs(dest, options, False))
    return out


def _tmpfs(dest: str, options: str, read_only: bool) -> dict[str, Any]:
    opts = ["nosuid", "nodev", "noexec"]
    opts += [o for o in options.split(",") if o and o not in opts]
    if read_only:
        opts.append("ro")
    return {"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": opts}


def to_populate(store: Store, record: dict[str, Any]) -> list[tuple[str, Path]]:
    """Docker's first-use copy: (destination, `_data`) of each empty volume the record
    mounts without `nocopy`, which gets the image's files found at its destination."""
    found = []
    for m in record.get("Mounts") or []:
        if m.get("Type") != "volume" or "nocopy" in str(m.get("Mode", "")).split(","):
            continue
        data = store.volume_dir(m["Name"]) / "_data"
        try:
            if any(os.scandir(data)):
                continue
        except FileNotFoundError:
            continue
        found.append((m["Destination"], data))
    return found

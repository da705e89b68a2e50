"""`version`, `info` and `system df`: Docker's shapes, with layerlab's own values.

Each returns plain data (what `--format` templates see, with Docker's field names) and
the text Docker prints for it. Sizes follow Docker: shared layers are counted once.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from layerlab import __version__
from layerlab.presentation.humanize import bytes_size, human_size

if TYPE_CHECKING:
    from layerlab.engine.context import Context

INIT_BINARIES = ("docker-init", "tini-static")  # static: it runs inside any image


def init_binary() -> str | None:
    """The host's init for `--init` (Docker bind-mounts docker-init = tini-static)."""
    for name in INIT_BINARIES:
        path = shutil.which(name)
        if path:
            return os.path.realpath(path)
    return None


def _init_name() -> str:
    return next((name for name in INIT_BINARIES if shutil.which(name)), "")


def runtime_version(binary: str) -> tuple[str, str]:
    """(version, commit) from `runc --version`."""
    try:
        out = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=10
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return "", ""
    version = commit = ""
    for line in out.splitlines():
        if " version " in line:
            version = line.rsplit(" ", 1)[-1]
        elif line.startswith("commit:"):
            commit = line.partition(":")[2].strip()
    return version, commit


def _go_arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def version(ctx: Context) -> dict[str, Any]:
    runc, commit = runtime_version(ctx.runtime.binary)
    python = platform.python_version()
    os_arch = f"linux/{_go_arch()}"
    components = [
        {"Name": "Engine", "Version": __version__,
         "Details": {"PythonVersion": python, "OsArch": os_arch}},
        {"Name": ctx.runtime.name, "Version": runc, "Details": {"GitCommit": commit}},
    ]  # fmt: skip
    init = init_binary()
    if init:
        init_version = subprocess.run(
            [init, "--version"], capture_output=True, text=True, check=False
        ).stdout.split()
        components.append({
            "Name": "docker-init",
            "Version": init_version[2] if len(init_version) > 2 else "",
            "Details": {"GitCommit": ""},
        })  # fmt: skip
    return {
        "Client": {"Version": __version__, "PythonVersion": python, "Os": "linux",
                   "Arch": _go_arch(), "Context": "default"},
        "Server": {"Version": __version__, "PythonVersion": python, "Os": "linux",
                   "Arch": _go_arch(), "Components": components},
    }  # fmt: skip


def version_text(data: dict[str, Any]) -> str:
    client, server = data["Client"], data["Server"]
    lines = [
        "Client:",
        f" Version:           {client['Version']}",
        f" Python version:    {client['PythonVersion']}",
        f" OS/Arch:           {client['Os']}/{client['Arch']}",
        f" Context:           {client['Context']}",
        "",
        "Server:",
    ]
    for component in server["Components"]:
        lines.append(f" {component['Name']}:")
        lines.append(f"  Version:          {component['Version']}")
        details = component["Details"]
        if "PythonVersion" in details:
            lines.append(f"  Python version:   {details['PythonVersion']}")
            lines.append(f"  OS/Arch:          {details['OsArch']}")
            lines.append("  Experimental:     false")
        else:
            lines.append(f"  GitCommit:        {details['GitCommit']}")
    return "\n".join(lines) + "\n"


def _cgroup_version() -> str:
    return "2" if Path("/sys/fs/cgroup/cgroup.controllers").exists() else "1"


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.partition("=")[2].strip('"')
    except OSError:
        pass
    return "Linux"


def _memory() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def _backing_fs(root: Path) -> str:
    try:
        out = subprocess.run(
            ["stat", "-f", "-c", "%T", str(root)], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        return ""
    return {"ext2/ext3": "extfs"}.get(out, out)


def info(ctx: Context) -> dict[str, Any]:
    containers = ctx.containers(all=True)
    running = sum(1 for c in containers if c.running and not c.paused)
    paused = sum(1 for c in containers if c.paused)
    images = {image.id for _, image in ctx.images(all=True)}
    runc, commit = runtime_version(ctx.runtime.binary)
    uname = os.uname()
    return {
        "Containers": len(containers),
        "ContainersRunning": running,
        "ContainersPaused": paused,
        "ContainersStopped": len(containers) - running - paused,
        "Images": len(images),
        "ServerVersion": __version__,
        "Driver": "overlay2",
        "DriverStatus": [["Backing Filesystem", _backing_fs(ctx.store.root)],
                         ["Supports d_type", "true"]],
        "LoggingDriver": "json-file",
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": _cgroup_version(),
        "Runtimes": {ctx.runtime.name: {"path": ctx.runtime.binary}},
        "DefaultRuntime": ctx.runtime.name,
        "InitBinary": _init_name(),
        "RuncCommit": {"ID": commit, "Version": runc},
        "KernelVersion": uname.release,
        "OperatingSystem": _os_name(),
        "OSType": "linux",
        "Architecture": uname.machine,
        "NCPU": os.cpu_count() or 1,
        "MemTotal": _memory(),
        "Name": uname.nodename,
        "DockerRootDir": str(ctx.store.root),
        "Debug": False,
        "ExperimentalBuild": False,
        "LiveRestoreEnabled": False,
    }  # fmt: skip


def info_text(data: dict[str, Any]) -> str:
    lines = [
        "Client:",
        f" Version:    {__version__}",
        " Context:    default",
        " Debug Mode: false",
        "",
        "Server:",
        f" Containers: {data['Containers']}",
        f"  Running: {data['ContainersRunning']}",
        f"  Paused: {data['ContainersPaused']}",
        f"  Stopped: {data['ContainersStopped']}",
        f" Images: {data['Images']}",
        f" Server Version: {data['ServerVersion']}",
        f" Storage Driver: {data['Driver']}",
        *(f"  {key}: {value}" for key, value in data["DriverStatus"]),
        f" Logging Driver: {data['LoggingDriver']}",
        f" Cgroup Driver: {data['CgroupDriver']}",
        f" Cgroup Version: {data['CgroupVersion']}",
        f" Runtimes: {' '.join(data['Runtimes'])}",
        f" Default Runtime: {data['DefaultRuntime']}",
        f" Init Binary: {data['InitBinary']}",
        f" runc version: {data['RuncCommit']['ID'] or data['RuncCommit']['Version']}",
        f" Kernel Version: {data['KernelVersion']}",
        f" Operating System: {data['OperatingSystem']}",
        f" OSType: {data['OSType']}",
        f" Architecture: {data['Architecture']}",
        f" CPUs: {data['NCPU']}",
        f" Total Memory: {bytes_size(data['MemTotal'])}",
        f" Name: {data['Name']}",
        f" Docker Root Dir: {data['DockerRootDir']}",
        " Debug Mode: false",
        " Experimental: false",
        " Live Restore Enabled: false",
    ]
    return "\n".join(lines) + "\n"


def disk_usage(ctx: Context) -> dict[str, Any]:
    """`system df`: images (layers shared between images counted once) and containers.

    A layer is shared when two listed images use it: an intermediate image does not count,
    as moby's daemon/images/images.go counts `layerRefs` over the listed images only."""
    rows = ctx.images(all=False)
    images: dict[str, Any] = {}
    layer_users: dict[str, set[str]] = {}
    layer_size: dict[str, int] = {}
    for _, image in ctx.images(all=True):
        for layer in image.layers:
            layer_size[layer.chain_id] = layer.size
    for _, image in rows:
        for layer in image.layers:
            layer_users.setdefault(layer.chain_id, set()).add(image.id)
    containers = ctx.containers(all=True)
    used_by: dict[str, int] = {}
    for c in containers:
        used_by[c.data["Image"]] = used_by.get(c.data["Image"], 0) + 1
    for ref, image in rows:
        if image.id not in images:
            shared = sum(
                layer.size for layer in image.layers if len(layer_users[layer.chain_id]) > 1
            )
            images[image.id] = {"image": image, "refs": [], "shared": shared}
        images[image.id]["refs"].append(ref)
    total = sum(layer_size.values())
    # docker/cli's formatter (diskUsageImagesContext.Reclaimable): all but the unique size
    # of the images in use - a layer they share with another image counts as reclaimable.
    in_use = sum(
        sum(layer.size for layer in info["image"].layers) - info["shared"]
        for info in images.values()
        if used_by.get(info["image"].id)
    )
    reclaimable = total - in_use
    sizes = [(c, ctx.container_sizes(c)[0]) for c in containers]
    from layerlab.layerfs.layers import dir_bytes  # tarfile's module: `system df` only
    from layerlab.storage.volumes import listing, mounted

    links: dict[str, int] = {}  # volume name -> how many containers mount it (LINKS)
    for c in containers:
        for name in mounted(c.data):
            links[name] = links.get(name, 0) + 1
    volumes = [(v, links.get(v.name, 0), dir_bytes(v.mountpoint)) for v in listing(ctx.store)]
    return {
        "images": images,
        "images_active": sum(1 for i in images if used_by.get(i)),
        "images_size": total,
        "images_reclaimable": reclaimable,
        "containers": sizes,
        "used_by": used_by,
        "volumes": volumes,
    }


def _reclaim(reclaimable: int, total: int) -> str:
    if total <= 0:
        return human_size(reclaimable)
    return f"{human_size(reclaimable)} ({reclaimable * 100 // total}%)"


def df_rows(usage: dict[str, Any]) -> list[dict[str, Any]]:
    """The four rows of `system df` with Docker's field names (`--format` sees these)."""
    containers = usage["containers"]
    rw_total = sum(size for _, size in containers)
    stopped = sum(size for c, size in containers if not c.running)
    volumes = usage["volumes"]
    volumes_size = sum(size for _, _, size in volumes)
    unused = sum(size for _, links, size in volumes if not links)
    return [
        {"Type": "Images", "TotalCount": str(len(usage["images"])),
         "Active": str(usage["images_active"]), "Size": human_size(usage["images_size"]),
         "Reclaimable": _reclaim(usage["images_reclaimable"], usage["images_size"])},
        {"Type": "Containers", "TotalCount": str(len(containers)),
         "Active": str(sum(1 for c, _ in containers if c.running)),
         "Size": human_size(rw_total), "Reclaimable": _reclaim(stopped, rw_total)},
        {"Type": "Local Volumes", "TotalCount": str(len(volumes)),
         "Active": str(sum(1 for _, links, _ in volumes if links)),
         "Size": human_size(volumes_size), "Reclaimable": _reclaim(unused, volumes_size)},
        {"Type": "Build Cache", "TotalCount": "0", "Active": "0", "Size": "0B",
         "Reclaimable": "0B"},
    ]  # fmt: skip


DF_DEFAULT = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"
DF_TITLES = {
    "Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE",
    "Reclaimable": "RECLAIMABLE",
}  # fmt: skip


def df_verbose_text(usage: dict[str, Any], now: float | None = None) -> str:
    from layerlab.presentation.humanize import ago
    from layerlab.presentation.table import format_table
    from layerlab.storage.volumes import mounted

    now = time.time() if now is None else now
    image_rows = []
    for info in usage["images"].values():  # one row an image, by its first name (Docker's)
        image = info["image"]
        repo, _, tag = info["refs"][0].rpartition(":")
        image_rows.append([
            repo, tag, image.id.removeprefix("sha256:")[:12], ago(image.created, now),
            human_size(image.size), human_size(info["shared"]),
            human_size(image.size - info["shared"]), str(usage["used_by"].get(image.id, 0)),
        ])  # fmt: skip
    container_rows = []
    for c, size in usage["containers"]:
        command = c.command if len(c.command) <= 20 else c.command[:19] + "…"
        container_rows.append([
            c.short_id, c.image_ref, '"' + command + '"', str(len(mounted(c.data))),
            human_size(size),
            ago(c.created, now), c.status_text(now), c.name,
        ])  # fmt: skip
    return "".join([
        "Images space usage:\n\n",
        format_table(["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE", "SHARED SIZE",
                      "UNIQUE SIZE", "CONTAINERS"], image_rows),
        "\nContainers space usage:\n\n",
        format_table(["CONTAINER ID", "IMAGE", "COMMAND", "LOCAL VOLUMES", "SIZE", "CREATED",
                      "STATUS", "NAMES"], container_rows),
        "\nLocal Volumes space usage:\n\n",
        format_table(["VOLUME NAME", "LINKS", "SIZE"],
                     [[v.name, str(n), human_size(size)] for v, n, size in usage["volumes"]]),
        "\nBuild cache usage: 0B\n\n",
        format_table(["CACHE ID", "CACHE TYPE", "SIZE", "CREATED", "LAST USED", "USAGE",
                      "SHARED"], []),
    ])  # fmt: skip

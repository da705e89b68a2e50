"""The OCI runtime spec (`bundle/config.json`) for a container, with Docker's defaults.

Docker's defaults are the security baseline a student's container should have:
its capability set, masked and read-only /proc paths, a private pid, ipc, uts,
mount and network namespace, and its own cgroup.
"""

from __future__ import annotations

import os
import resource
import stat
from pathlib import Path
from typing import Any

from layerlab.runtime import seccomp
from layerlab.storage import limits

# moby/oci/caps/defaults.go
DEFAULT_CAPS = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
]

# moby/oci/defaults.go
MASKED_PATHS = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
]
READONLY_PATHS = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
]

DOCKER_NOFILE = 1048576


def _nofile_limit() -> int:
    """Docker's 1048576 open files, or the most this host allows us to hand on."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return DOCKER_NOFILE if hard == resource.RLIM_INFINITY else min(DOCKER_NOFILE, hard)


def spec_user(ids: tuple[int, int, list[int]]) -> dict[str, Any]:
    """The process's user: `users.resolve_user`'s (uid, gid, additional gids)."""
    uid, gid, additional = ids
    return {"uid": uid, "gid": gid, "additionalGids": additional}


INIT_PATH = "/sbin/docker-init"  # where Docker mounts its init (tini) for `--init`


def apply_host_options(spec: dict[str, Any], *, read_only: bool, init: str | None) -> None:
    """`--read-only`: the root mounted read-only; `--init`: tini as pid 1 running the rest."""
    spec["root"]["readonly"] = read_only
    if init:
        spec["mounts"].append(
            {"destination": INIT_PATH, "type": "bind", "source": init,
             "options": ["rbind", "ro", "nosuid", "nodev"]}
        )  # fmt: skip
        spec["process"]["args"] = [INIT_PATH, "--", *spec["process"]["args"]]


def apply_limits(spec: dict[str, Any], host: dict[str, Any]) -> None:
    """`-m`, `--memory-swap`, `--cpus`, `--cpu-shares`, `--pids-limit` into the cgroup runc
    makes; `--ulimit` into the process's rlimits."""
    spec["linux"]["resources"].update(limits.oci_resources(host))
    spec["process"]["rlimits"] = limits.oci_rlimits(host, spec["process"]["rlimits"])


def apply_security(spec: dict[str, Any], host: dict[str, Any]) -> None:
    """Capabilities, seccomp and no-new-privileges; `--privileged` lifts the confinement:
    every capability we hold, no seccomp, no masked paths, the host's devices, rw /sys."""
    privileged = bool(host.get("Privileged"))
    security_opt = list(host.get("SecurityOpt") or [])
    caps = seccomp.capabilities(
        DEFAULT_CAPS, list(host.get("CapAdd") or []), list(host.get("CapDrop") or []), privileged
    )
    process = spec["process"]
    process["capabilities"] = {"bounding": caps, "effective": caps, "permitted": caps}
    process["noNewPrivileges"] = seccomp.no_new_privileges(security_opt)
    profile = seccomp.seccomp_profile(security_opt, privileged)
    if profile is not None:
        spec["linux"]["seccomp"] = seccomp.oci_seccomp(profile, caps)
    if privileged:
        linux = spec["linux"]
        linux["maskedPaths"], linux["readonlyPaths"] = [], []
        linux["resources"]["devices"] = [{"allow": True, "access": "rwm"}]
        linux["devices"] = host_devices()
        for mount in spec["mounts"]:
            if mount["destination"] in ("/sys", "/sys/fs/cgroup"):
                mount["options"] = [o for o in mount["options"] if o != "ro"] + ["rw"]


def host_devices(root: str = "/dev") -> list[dict[str, Any]]:
    """The host's device nodes, as `--privileged` hands them to the container (not pts)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in ("pts", "shm", "mqueue")]
        for name in filenames:
            path = os.path.join(dirpath, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if not (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)):
                continue
            if path in ("/dev/console", "/dev/ptmx", "/dev/tty"):
                continue  # runc makes these itself
            found.append({
                "path": path, "type": "c" if stat.S_ISCHR(st.st_mode) else "b",
                "major": os.major(st.st_rdev), "minor": os.minor(st.st_rdev),
                "fileMode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid,
            })  # fmt: skip
    return found


def build_spec(
    *,
    args: list[str],
    env: list[str],
    cwd: str,
    user: tuple[int, int, list[int]],
    hostname: str,
    tty: bool,
    rootfs: Path,
    container_dir: Path,
    cgroup: str,
    mounts: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The runtime spec runc is handed; pure data, so tests and the TUI can read it.

    `mounts` (volumes, binds, tmpfs) come after Docker's defaults, parents before children.
    """
    extra = sorted(mounts or [], key=lambda m: len(Path(m["destination"]).parts))
    caps = list(DEFAULT_CAPS)
    nofile = _nofile_limit()
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": tty,
            "user": spec_user(user),
            "args": args,
            "env": env,
            "cwd": cwd or "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": nofile, "soft": nofile}],
            "noNewPrivileges": True,
        },
        "root": {"path": str(rootfs), "readonly": False},
        "hostname": hostname,
        "mounts": [*_default_mounts(container_dir), *extra],
        "linux": {
            "namespaces": [
                {"type": "pid"},
                {"type": "ipc"},
                {"type": "uts"},
                {"type": "mount"},
                # A new one, made by the runtime (which brings up its `lo`), not one of ours.
                {"type": "network"},
            ],
            "cgroupsPath": cgroup,
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "maskedPaths": MASKED_PATHS,
            "readonlyPaths": READONLY_PATHS,
        },
    }


def _default_mounts(container_dir: Path) -> list[dict[str, Any]]:
    """Docker's mounts in every container: /proc, /dev and its parts, /sys and its cgroup
    (read-only), and the container's own resolv.conf, hostname and hosts."""
    return [
        {
            "destination": "/proc",
            "type": "proc",
            "source": "proc",
            "options": ["nosuid", "noexec", "nodev"],
        },
        {
            "destination": "/dev",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
        },
        {
            "destination": "/dev/pts",
            "type": "devpts",
            "source": "devpts",
            "options": [
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        },
        {
            "destination": "/sys",
            "type": "sysfs",
            "source": "sysfs",
            "options": ["nosuid", "noexec", "nodev", "ro"],
        },
        {
            "destination": "/sys/fs/cgroup",
            "type": "cgroup",
            "source": "cgroup",
            "options": ["ro", "nosuid", "noexec", "nodev"],
        },
        {
            "destination": "/dev/mqueue",
            "type": "mqueue",
            "source": "mqueue",
            "options": ["nosuid", "noexec", "nodev"],
        },
        {
            "destination": "/dev/shm",
            "type": "tmpfs",
            "source": "shm",
            "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        },
        *(
            {
                "destination": f"/etc/{name}",
                "type": "bind",
                "source": str(container_dir / name),
                "options": ["rbind", "rprivate"],
            }
            for name in ("resolv.conf", "hostname", "hosts")
        ),
    ]

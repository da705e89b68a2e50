"""/etc/hosts, /etc/hostname and /etc/resolv.conf of a container: files in its folder
that the spec bind-mounts (so they are in no layer, not in `diff`, not in `commit`).

A container on a user-defined network finds the others there by name: their entries are
in its /etc/hosts, rewritten as they join and leave (Docker's embedded DNS answers the
same names). The default bridge resolves no names, as Docker's does not.
"""

from __future__ import annotations

import os
from pathlib import Path

BASE = (
    "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n"
    "ff02::2\tip6-allrouters\n"
)


def write_hosts(path: Path, own: list[tuple[str, str]], others: list[tuple[str, str]]) -> None:
    """Rewrite in place (the bind mount holds the inode): the base lines, the container's
    own addresses with its hostname, then the other members' addresses with their names."""
    text = BASE + "".join(f"{ip}\t{name}\n" for ip, name in own + others)
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def host_files(container_dir: Path) -> None:
    """`--network host`: the host's own hosts and resolv.conf, as Docker copies them."""
    for name in ("hosts", "resolv.conf"):
        try:
            data = Path("/etc", name).read_bytes()
        except OSError:
            continue
        (container_dir / name).write_bytes(data)

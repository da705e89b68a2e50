"""The few Linux system calls Python 3.11 lacks: mount, umount2, unshare, setns, prctl."""

from __future__ import annotations

import ctypes
import os

MS_RDONLY = 0x1
MS_BIND = 0x1000
MS_PRIVATE = 1 << 18
MNT_DETACH = 0x2
CLONE_NEWNET = 0x40000000
CLONE_FS = 0x200

# The C library the interpreter already links: no `ldconfig -p` lookup at start-up.
_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_NAME = 15
PR_SET_CHILD_SUBREAPER = 36


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def mount(source: str, target: str, fstype: str, flags: int = 0, data: str = "") -> None:
    _check(
        _libc.mount(source.encode(), target.encode(), fstype.encode(), flags, data.encode()),
        f"mount {target}",
    )


def umount(target: str, flags: int = 0) -> None:
    _check(_libc.umount2(target.encode(), flags), f"umount {target}")


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def setns(fd: int, nstype: int) -> None:
    _check(_libc.setns(fd, nstype), "setns")


def become_subreaper() -> None:
    """Orphaned descendants (a container's first process) are re-parented to us."""
    _check(_libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), "prctl")


def set_name(name: str) -> None:
    """This process's name (`comm`, 15 bytes: what `ps -e`, `top` and `pstree` show)."""
    _check(_libc.prctl(PR_SET_NAME, name.encode()[:15], 0, 0, 0), "prctl")


PR_SET_PDEATHSIG = 1


def die_with_parent(signum: int) -> None:
    """The kernel sends `signum` to this process when the thread that forked it ends:
    a helper the shim forks (a port's proxy) never outlives the shim, however it dies."""
    _check(_libc.prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0), "prctl")

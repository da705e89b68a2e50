"""`-u/--user` on run, create and exec: a name or id, resolved as Docker resolves it.

`name|uid[:group|gid]` is looked up in the container's own /etc/passwd and /etc/group (as
the image and its writable layer see them): a name that is not there is refused with
Docker's words; a numeric uid without an entry runs with gid 0, as in Docker.
"""

from __future__ import annotations

from collections.abc import Callable

from layerlab.errors import LayerlabError

Reader = Callable[[str], str | None]  # "etc/passwd" -> its text in the container, or None


def _entries(text: str | None) -> list[list[str]]:
    return [line.split(":") for line in (text or "").splitlines() if line and line[0] != "#"]


def resolve_user(spec: str, read: Reader) -> tuple[int, int, list[int]]:
    """(uid, gid, additional gids) for `spec`; `read` gives the container's files.

    The additional gids are Docker's (moby daemon/oci_linux.go getUser): the gid itself,
    then, when no group is given, the groups /etc/group lists the user in, in file order.
    """
    user, _, group = (spec or "0").partition(":")
    passwd = _entries(read("etc/passwd")) if not (user.isdigit() and group.isdigit()) else []
    uid: int | None = None
    gid = 0
    if user.isdigit():
        uid = int(user)
        for entry in passwd:
            if len(entry) > 3 and entry[2] == user and entry[3].isdigit():
                gid = int(entry[3])
                break
    else:
        for entry in passwd:
            if entry[0] == user and len(entry) > 3 and entry[2].isdigit():
                uid, gid = int(entry[2]), int(entry[3]) if entry[3].isdigit() else 0
                break
        if uid is None:
            raise LayerlabError(f"unable to find user {user}: no matching entries in passwd file")
    groups = _entries(read("etc/group"))
    if group:
        if group.isdigit():
            gid = int(group)
        else:
            found = next((e for e in groups if e[0] == group and len(e) > 2), None)
            if found is None or not found[2].isdigit():
                raise LayerlabError(
                    f"unable to find group {group}: no matching entries in group file"
                )
            gid = int(found[2])
    name = user if not user.isdigit() else next((e[0] for e in passwd if e[2:3] == [user]), "")
    member = [
        int(e[2]) for e in groups if len(e) > 3 and e[2].isdigit() and name in e[3].split(",")
    ] if name and not group else []  # fmt: skip
    return uid, gid, [gid, *member]

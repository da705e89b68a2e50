"""Seccomp and capabilities as Docker sets them: its default profile, `--security-opt`,
`--cap-add`/`--cap-drop`, and `--privileged`.

`seccomp_default.json` is Docker's default profile (moby `profiles/seccomp/default.json`)
in Docker's own profile format, the one `--security-opt seccomp=PROFILE.json` takes:
an allow-list (defaultAction ERRNO), with argument filters (clone without namespace
flags, personality, socket) and groups allowed only with a capability (mount,
unshare, setns, bpf... with CAP_SYS_ADMIN). `oci_seccomp` turns such a profile into
the OCI `linux.seccomp` section for one container's capabilities, as moby's
`setupSeccomp` does.

The profile's data follows moby's (Copyright Docker, Inc., Apache License 2.0): the
same syscall lists, so a student's container is confined exactly as Docker's would be.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from layerlab.errors import LayerlabError

# Every capability runc knows (linux/capability.h), lowest bit first.
ALL_CAPS = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
]  # fmt: skip

# Docker's arch names (runtime.GOARCH) for this machine.
_GOARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "s390x": "s390x",
           "ppc64le": "ppc64le", "riscv64": "riscv64", "i686": "x86"}  # fmt: skip
_SCMP_ARCH = {"amd64": "SCMP_ARCH_X86_64", "arm64": "SCMP_ARCH_AARCH64", "arm": "SCMP_ARCH_ARM",
              "s390x": "SCMP_ARCH_S390X", "ppc64le": "SCMP_ARCH_PPC64LE",
              "riscv64": "SCMP_ARCH_RISCV64", "x86": "SCMP_ARCH_X86"}  # fmt: skip


def bounding_caps() -> list[str]:
    """The capabilities this process may hand on (its bounding set): `--privileged` gets these."""
    try:
        with open("/proc/self/status") as f:
            line = next(x for x in f if x.startswith("CapBnd:"))
        mask = int(line.split()[1], 16)
    except (OSError, StopIteration, ValueError):
        return list(ALL_CAPS)
    return [cap for bit, cap in enumerate(ALL_CAPS) if mask >> bit & 1]


def normalize_cap(name: str) -> str:
    upper = name.strip().upper()
    return upper if upper == "ALL" or upper.startswith("CAP_") else "CAP_" + upper


def capabilities(
    default: list[str], add: list[str], drop: list[str], privileged: bool
) -> list[str]:
    """Docker's TweakCapabilities: ALL in add wins, ALL in drop keeps only the adds."""
    if privileged:
        return bounding_caps()
    adds = [normalize_cap(c) for c in add]
    drops = [normalize_cap(c) for c in drop]
    for which, names in (("CapAdd", adds), ("CapDrop", drops)):
        for cap in names:
            if cap != "ALL" and cap not in ALL_CAPS:
                raise LayerlabError(f'invalid {which}: unknown capability: "{cap}"')
    if "ALL" in adds:
        base = bounding_caps()
        return [c for c in base if c not in drops]
    base = [] if "ALL" in drops else [c for c in default if c not in drops]
    return base + [c for c in adds if c not in base and (c not in drops or "ALL" in drops)]


# Beside this module (the package is never zipped): importlib.resources would cost every
# container start the import of zipfile and its readers.
DEFAULT_PROFILE = Path(__file__).with_name("seccomp_default.json")


def default_profile() -> dict[str, Any]:
    text = DEFAULT_PROFILE.read_text()
    profile: dict[str, Any] = json.loads(text)
    return profile


def load_profile(path: str) -> dict[str, Any]:
    """A profile a user names in `--security-opt seccomp=PATH` (Docker's format)."""
    try:
        with open(path) as f:
            profile = json.load(f)
    except OSError as exc:
        raise LayerlabError(f"opening seccomp profile ({path}) failed: {exc.strerror}") from None
    except ValueError as exc:
        raise LayerlabError(f"Decoding seccomp profile failed: {exc}") from None
    if not isinstance(profile, dict):
        raise LayerlabError("Decoding seccomp profile failed: not an object")
    return profile


def _kernel() -> tuple[int, ...]:
    release = os.uname().release
    parts = []
    for piece in release.split(".")[:2]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def _applies(rule: dict[str, Any], caps: list[str], arch: str) -> bool:
    inc = rule.get("includes") or {}
    exc = rule.get("excludes") or {}
    if inc.get("arches") and arch not in inc["arches"]:
        return False
    if any(c not in caps for c in inc.get("caps") or []):
        return False
    if inc.get("minKernel"):
        wanted = tuple(int(x) for x in str(inc["minKernel"]).split(".")[:2])
        if _kernel() < wanted:
            return False
    if arch in (exc.get("arches") or []):
        return False
    return not any(c in caps for c in exc.get("caps") or [])


def oci_seccomp(profile: dict[str, Any], caps: list[str]) -> dict[str, Any]:
    """The OCI `linux.seccomp` for a process with `caps`, from a Docker-format profile."""
    machine = os.uname().machine
    arch = _GOARCH.get(machine, machine)
    native = _SCMP_ARCH.get(arch)
    arches: list[str] = list(profile.get("architectures") or [])
    for entry in profile.get("archMap") or []:
        if native is not None and entry.get("architecture") == native:
            arches = [native, *(entry.get("subArchitectures") or [])]
    out: dict[str, Any] = {"defaultAction": profile.get("defaultAction", "SCMP_ACT_ERRNO")}
    if profile.get("defaultErrnoRet") is not None:
        out["defaultErrnoRet"] = int(profile["defaultErrnoRet"])
    if arches:
        out["architectures"] = arches
    syscalls = []
    for rule in profile.get("syscalls") or []:
        if not _applies(rule, caps, arch):
            continue
        names = rule.get("names") or ([rule["name"]] if rule.get("name") else [])
        one: dict[str, Any] = {"names": names, "action": rule["action"]}
        if rule.get("args"):
            one["args"] = [
                {k: a[k] for k in ("index", "value", "valueTwo", "op") if k in a}
                for a in rule["args"]
            ]
        if rule.get("errnoRet") is not None:
            one["errnoRet"] = int(rule["errnoRet"])
        syscalls.append(one)
    out["syscalls"] = syscalls
    return out


def security_options(values: list[str]) -> list[str]:
    """`--security-opt` values, checked: seccomp=unconfined|PATH, no-new-privileges[=bool]."""
    found = []
    for value in values:
        key, sep, arg = value.partition("=" if "=" in value else ":")
        if key == "seccomp" and sep and arg:
            if arg != "unconfined":  # kept as its text, as Docker's client sends it
                value = "seccomp=" + json.dumps(load_profile(arg), separators=(",", ":"))
        elif key == "no-new-privileges" and (not sep or arg in ("true", "false")):
            pass
        elif key in ("apparmor", "label"):
            pass  # accepted; this host's LSMs are not layerlab's business
        else:
            raise LayerlabError(f"Invalid --security-opt: {value!r}")
        found.append(value)
    return found


def seccomp_profile(security_opt: list[str], privileged: bool) -> dict[str, Any] | None:
    """The Docker-format profile a container runs under; None: unconfined."""
    choice = "unconfined" if privileged else "default"
    for value in security_opt:
        key, _, arg = value.partition("=")
        if key == "seccomp":
            choice = arg
    if choice == "unconfined":
        return None
    if choice == "default":
        return default_profile()
    profile: dict[str, Any] = json.loads(choice)
    return profile


def no_new_privileges(security_opt: list[str]) -> bool:
    """layerlab sets it by default (Docker leaves it off); `no-new-privileges=false` clears it."""
    flag = True
    for value in security_opt:
        key, _, arg = value.partition("=")
        if key == "no-new-privileges":
            flag = arg != "false"
    return flag

"""Resource limits and log rotation: Docker's flags, the store's defaults, the OCI resources.

A teacher limits every container of a store without flags in `<root>/daemon.json`:

    {"default-ulimits": {"nofile": {"Name": "nofile", "Hard": 1024, "Soft": 1024}},
     "log-opts": {"max-size": "10m", "max-file": "3"},
     "default-memory": "256m", "default-memory-swap": "256m",
     "default-pids-limit": 100, "default-cpus": "1"}

`default-ulimits` and `log-opts` are Docker's own daemon.json keys; the `default-*`
ones are layerlab's (Docker has no per-daemon memory/pids/cpu default). A flag given
to `create`/`run` wins over the store's default.
"""

from __future__ import annotations

import json
import os
import re
import resource
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from layerlab.errors import Corrupted, LayerlabError

DAEMON_JSON = "daemon.json"
# Docker's json-file default is unlimited; one student's `yes` would fill the disk.
DEFAULT_LOG_OPTS = {"max-size": "10m", "max-file": "3"}
CPU_PERIOD = 100_000  # microseconds, the CFS period Docker uses for --cpus
MIN_MEMORY = 6 * 1024 * 1024  # Docker: "Minimum memory limit allowed is 6MB"

_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?\s*$", re.IGNORECASE)

# Docker's `--ulimit` names (go-units ulimit.go) -> the OCI rlimit types.
ULIMITS = {
    "core": "RLIMIT_CORE", "cpu": "RLIMIT_CPU", "data": "RLIMIT_DATA",
    "fsize": "RLIMIT_FSIZE", "locks": "RLIMIT_LOCKS", "memlock": "RLIMIT_MEMLOCK",
    "msgqueue": "RLIMIT_MSGQUEUE", "nice": "RLIMIT_NICE", "nofile": "RLIMIT_NOFILE",
    "nproc": "RLIMIT_NPROC", "rss": "RLIMIT_RSS", "rtprio": "RLIMIT_RTPRIO",
    "rttime": "RLIMIT_RTTIME", "sigpending": "RLIMIT_SIGPENDING", "stack": "RLIMIT_STACK",
}  # fmt: skip


def parse_bytes(value: str | int, what: str = "memory") -> int:
    """Docker's RAMInBytes: `32m`, `1g`, `512k`, `100` (bytes); binary units."""
    if isinstance(value, int):
        return value
    match = _SIZE_RE.match(value)
    if not match:
        raise LayerlabError(f'invalid argument "{value}" for "--{what}" flag: invalid size')
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def parse_swap(value: str | int) -> int:
    """`--memory-swap`: a size, or -1 for unlimited swap."""
    if str(value).strip() == "-1":
        return -1
    return parse_bytes(value, "memory-swap")


def parse_cpus(value: str | float) -> int:
    """`--cpus 1.5` -> NanoCpus 1500000000, as Docker's opts.ParseCPUs reads a rational
    number and its daemon checks the range; ValueError with Docker's words for a value
    that is no number (`nan`, `inf`), LayerlabError for one out of range."""
    try:
        cpus = Fraction(str(value))  # Go's big.Rat: "1.5", "3/2", "1e-2"; never nan or inf
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"failed to parse {value} as a rational number") from None
    nano = cpus * 1_000_000_000
    if nano.denominator != 1:
        raise ValueError("value is too precise")
    count = len(os.sched_getaffinity(0))  # Go's runtime.NumCPU, as Docker counts them
    if nano < 0 or nano > count * 1_000_000_000:
        raise LayerlabError(
            f"Range of CPUs is from 0.01 to {count}.00, as there are only {count} CPUs available"
        )
    return int(nano)


def flag_cpus(value: str) -> int:
    """`--cpus VALUE` read as Docker's flag parser does: its error names the flag."""
    try:
        return parse_cpus(value)
    except ValueError as exc:
        raise LayerlabError(f'invalid argument "{value}" for "--cpus" flag: {exc}') from None


def parse_ulimit(value: str) -> dict[str, Any]:
    """`nofile=100:200` or `nproc=50` -> Docker's `{"Name","Hard","Soft"}`."""
    name, sep, limits = value.partition("=")
    bad = f'invalid argument "{value}" for "--ulimit" flag: '
    if not sep:
        raise LayerlabError(bad + f"invalid ulimit argument: {value}")
    if name not in ULIMITS:
        raise LayerlabError(bad + f"invalid ulimit type: {name}")
    soft_s, _, hard_s = limits.partition(":")
    try:
        soft = int(soft_s)
        hard = int(hard_s) if hard_s else soft
    except ValueError:
        raise LayerlabError(bad + f"invalid ulimit argument: {limits}") from None
    if soft > hard:
        raise LayerlabError(bad + f"ulimit soft limit must be less than or equal to hard limit: "
                            f"{soft} > {hard}")  # fmt: skip
    return {"Name": name, "Hard": hard, "Soft": soft}


def parse_log_opts(values: list[str]) -> dict[str, str]:
    """`--log-opt max-size=10m --log-opt max-file=3`, checked as json-file checks them."""
    opts: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep:
            raise LayerlabError(f"invalid key value pair format: {item}")
        if key not in ("max-size", "max-file", "compress", "labels", "env", "tag"):
            raise LayerlabError(f"unknown log opt '{key}' for json-file log driver")
        opts[key] = value
    log_rotation(opts)  # refuse what the shim could not apply
    return opts


def log_rotation(opts: dict[str, str]) -> tuple[int, int]:
    """(max bytes per file or 0 for unlimited, files kept) from a LogConfig's `Config`."""
    size = opts.get("max-size", "")
    max_size = -1 if size in ("", "-1") else parse_bytes(size, "log-opt max-size")
    try:
        max_file = int(opts.get("max-file", "1"))
    except ValueError:
        raise LayerlabError(f"invalid value for max-file: {opts['max-file']}") from None
    if max_file < 1:
        raise LayerlabError("max-file cannot be less than 1")
    if max_file > 1 and max_size < 0:
        raise LayerlabError("max-file cannot be set without max-size")
    return max(max_size, 0), max_file


@dataclass
class LimitOptions:
    """The flags of `create`/`run` (and `update`); None: not given."""

    memory: str | None = None
    memory_swap: str | None = None
    pids_limit: int | None = None
    cpus: str | None = None
    cpu_shares: int | None = None
    ulimits: list[str] = field(default_factory=list)
    log_opts: list[str] = field(default_factory=list)


def store_defaults(root: Path) -> dict[str, Any]:
    """`<root>/daemon.json`, or {} without one; a broken file is `Corrupted`, in dockerd's
    words."""
    path = root / DAEMON_JSON
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, RecursionError) as exc:
        reason = str(exc)
    else:
        if isinstance(data, dict):
            return data
        reason = "not an object"
    raise Corrupted(path, reason, f"unable to configure the store with file {path}: {reason}")


def _pick(flag: Any, default: Any) -> Any:
    return flag if flag is not None else default


def host_config(opts: LimitOptions, defaults: dict[str, Any]) -> dict[str, Any]:
    """The `HostConfig` fields `docker inspect` shows, flags over the store's defaults.

    A bad flag is named as Docker names it; a bad value only the store's daemon.json
    holds is blamed on that file.
    """
    if opts.cpus is not None:
        flag_cpus(opts.cpus)
    try:
        return _host_config(opts, defaults)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise LayerlabError(f"invalid value in the store's {DAEMON_JSON}: {exc}") from None


def _host_config(opts: LimitOptions, defaults: dict[str, Any]) -> dict[str, Any]:
    fields = resources(
        memory=_pick(opts.memory, defaults.get("default-memory")),
        memory_swap=_pick(opts.memory_swap, defaults.get("default-memory-swap")),
        pids_limit=_pick(opts.pids_limit, defaults.get("default-pids-limit")),
        cpus=_pick(opts.cpus, defaults.get("default-cpus")),
        cpu_shares=opts.cpu_shares,
        base=empty_resources(),
    )
    given = [parse_ulimit(u) for u in opts.ulimits]
    named = {u["Name"] for u in given}
    default_ulimits = defaults.get("default-ulimits") or {}
    inherited = [
        {"Name": name, "Hard": int(u["Hard"]), "Soft": int(u["Soft"])}
        for name, u in sorted(default_ulimits.items())
        if name not in named and name in ULIMITS
    ]
    fields["Ulimits"] = inherited + given
    log_opts = dict(DEFAULT_LOG_OPTS) | dict(defaults.get("log-opts") or {})
    given_log = parse_log_opts(opts.log_opts)
    if given_log:  # the user's rotation replaces the default one as a whole
        log_opts = {k: v for k, v in log_opts.items() if k not in ("max-size", "max-file")}
    log_opts |= given_log
    log_rotation(log_opts)
    fields["LogConfig"] = {"Type": "json-file", "Config": dict(sorted(log_opts.items()))}
    return fields


def empty_resources() -> dict[str, Any]:
    """Docker's unlimited values, as `inspect` prints them."""
    return {"Memory": 0, "MemorySwap": 0, "NanoCpus": 0, "CpuShares": 0, "PidsLimit": None}


def resources(
    *,
    memory: str | int | None,
    memory_swap: str | int | None,
    pids_limit: int | None,
    cpus: str | float | None,
    cpu_shares: int | None,
    base: dict[str, Any],
) -> dict[str, Any]:
    """`base` (a HostConfig's resource fields) changed by the given flags, checked as Docker."""
    out = dict(base)
    if memory is not None:
        out["Memory"] = parse_bytes(memory)
        if memory_swap is None and out["Memory"] > 0:
            out["MemorySwap"] = 2 * out["Memory"]  # Docker's create: swap twice the memory
    if memory_swap is not None:
        out["MemorySwap"] = parse_swap(memory_swap)
    if out["Memory"] and out["Memory"] < MIN_MEMORY:
        raise LayerlabError("Minimum memory limit allowed is 6MB")
    if out["MemorySwap"] and not out["Memory"]:
        raise LayerlabError(
            "You should always set the Memory limit when using Memoryswap limit, see usage"
        )
    if out["MemorySwap"] > 0 and out["MemorySwap"] < out["Memory"]:
        raise LayerlabError(
            "Minimum memoryswap limit should be larger than memory limit, see usage"
        )
    if pids_limit is not None:
        out["PidsLimit"] = int(pids_limit) if int(pids_limit) > 0 else None
    if cpus is not None:
        out["NanoCpus"] = parse_cpus(cpus)
    if cpu_shares is not None:
        if int(cpu_shares) < 0:  # Docker's daemon, as it makes the runtime's spec
            raise LayerlabError("shares: invalid argument")
        out["CpuShares"] = int(cpu_shares)
    return out


def oci_resources(host: dict[str, Any]) -> dict[str, Any]:
    """The `linux.resources` limits (memory, cpu, pids) runc applies to the cgroup."""
    found: dict[str, Any] = {}
    if host.get("Memory"):
        found["memory"] = {"limit": int(host["Memory"])}
        if host.get("MemorySwap"):
            found["memory"]["swap"] = int(host["MemorySwap"])
    cpu: dict[str, Any] = {}
    if host.get("NanoCpus"):
        cpu["period"] = CPU_PERIOD
        cpu["quota"] = int(host["NanoCpus"]) * CPU_PERIOD // 1_000_000_000
    if host.get("CpuShares"):
        cpu["shares"] = int(host["CpuShares"])
    if cpu:
        found["cpu"] = cpu
    if host.get("PidsLimit"):
        found["pids"] = {"limit": int(host["PidsLimit"])}
    return found


def oci_rlimits(host: dict[str, Any], base: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`process.rlimits`: `base` (the engine's defaults) with the container's ulimits over it."""
    by_type = {r["type"]: r for r in base}
    for u in host.get("Ulimits") or []:
        kind = ULIMITS[u["Name"]]
        by_type[kind] = {"type": kind, "hard": int(u["Hard"]), "soft": int(u["Soft"])}
    return list(by_type.values())


def host_nofile(limit: int) -> int:
    """`limit` open files, or the most this host allows us to hand on."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return limit if hard == resource.RLIM_INFINITY else min(limit, hard)

"""Where a registry is, how to trust it, and who we are to it: Docker's rules, and its files.

- A reference names its registry as Docker's does: the first part of `host.tld/x`,
  `localhost:5000/x` or `127.0.0.1:5000/x` (a dot, a port or `localhost`), else Docker Hub
  (`docker.io`, `library/` for one-part names).
- TLS: a CA the user names is `certs.d/HOST[:PORT]/ca.crt` (`*.crt`), in layerlab's
  config folder (`$LAYERLAB_CONFIG`, else `$XDG_CONFIG_HOME/layerlab`) or Docker's
  `/etc/docker/certs.d`; a client key pair there (`client.cert`, `client.key`) is used too.
- Plain HTTP only for an insecure registry: loopback (`localhost`, `127.0.0.0/8`, `::1`), as
  Docker's default `insecure-registries` has it, or one listed in the store's `daemon.json`.
  An insecure registry is tried with HTTPS first (a named CA checked, else none), then HTTP.
- Credentials as Docker stores them (`auths` -> base64 `user:password` in `auth`): read from
  layerlab's own `config.json` (mode 0600, where `login` writes) first, then Docker's
  (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`).
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from layerlab.errors import LayerlabError
from layerlab.storage.limits import store_defaults
from layerlab.storage.store import write_bytes_atomic

DOCKER_HUB = "docker.io"
HUB_API = "registry-1.docker.io"
HUB_AUTH_KEY = "https://index.docker.io/v1/"  # Docker Hub's key in `auths`
DOCKER_CERTS = Path("/etc/docker/certs.d")


def config_dir() -> Path:
    """layerlab's config folder: `$LAYERLAB_CONFIG`, else `$XDG_CONFIG_HOME/layerlab`."""
    given = os.environ.get("LAYERLAB_CONFIG")
    if given:
        return Path(given)
    xdg = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(xdg) / "layerlab"


def credentials_path() -> Path:
    """Where `login` stores credentials: layerlab's own `config.json`, Docker's shape."""
    return config_dir() / "config.json"


def docker_config_path() -> Path:
    return Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker") / "config.json"


def auth_key(host: str) -> str:
    """The `auths` key Docker files a registry's credentials under."""
    return HUB_AUTH_KEY if host == DOCKER_HUB else host


def is_loopback(host: str) -> bool:
    """`localhost`, `127.0.0.0/8` or `::1`, with or without a port (Docker's default
    insecure registries)."""
    name = _hostname(host)
    if name == "localhost":
        return True
    with contextlib.suppress(ValueError):
        return ipaddress.ip_address(name).is_loopback
    return False


def _hostname(host: str) -> str:
    if host.startswith("["):  # [::1]:5000
        return host[1 : host.index("]")]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def hub_stand_in(root: Path) -> str | None:
    """The registry the store's daemon.json puts in Docker Hub's place, `HOST[:PORT]`:
    layerlab's `default-registry`, else the first of Docker's `registry-mirrors` (URLs);
    None without (then a Hub name is Docker Hub's, which a machine offline cannot reach)."""
    defaults = store_defaults(root)
    mirrors = defaults.get("registry-mirrors")
    named = defaults.get("default-registry") or (
        mirrors[0] if isinstance(mirrors, list) and mirrors else None
    )
    if not isinstance(named, str) or not named.strip():
        return None
    return named.strip().removeprefix("https://").removeprefix("http://").rstrip("/")


def api_host(host: str, root: Path) -> str:
    """Where a registry's requests go: Docker Hub's API host (or its stand-in), else itself."""
    return (hub_stand_in(root) or HUB_API) if host == DOCKER_HUB else host


def is_insecure(host: str, root: Path) -> bool:
    """Plain HTTP allowed: loopback, or `insecure-registries` in the store's daemon.json
    (`HOST[:PORT]` or a CIDR the host's address is in)."""
    if is_loopback(host):
        return True
    listed = store_defaults(root).get("insecure-registries") or []
    if host in listed:
        return True
    addresses = _addresses(_hostname(host))
    for entry in listed:
        with contextlib.suppress(ValueError, TypeError):
            network = ipaddress.ip_network(entry, strict=False)
            if any(addr in network for addr in addresses):
                return True
    return False


def _addresses(name: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        infos = socket.getaddrinfo(name, None)
    except OSError:
        return []
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


@dataclass(frozen=True)
class Trust:
    """How to check a registry's TLS: `verify` is requests' (a CA bundle path, or a bool)."""

    verify: bool | str
    cert: tuple[str, str] | None = None


def trust(host: str, insecure: bool) -> Trust:
    """The CA named for `host` (layerlab's certs.d before Docker's), else the system's; an
    insecure registry without a named CA is not verified (Docker: InsecureSkipVerify)."""
    for base in (config_dir() / "certs.d", DOCKER_CERTS):
        folder = base / host
        try:
            cas = sorted(str(p) for p in folder.glob("*.crt"))
        except OSError:
            continue
        if cas:
            pair = (folder / "client.cert", folder / "client.key")
            cert = (str(pair[0]), str(pair[1])) if all(p.is_file() for p in pair) else None
            return Trust(_bundle(cas), cert)
    return Trust(not insecure)


def _bundle(cas: list[str]) -> str:
    """One CA file for requests; several are joined into one in layerlab's config folder."""
    if len(cas) == 1:
        return cas[0]
    joined = b"".join(Path(ca).read_bytes() + b"\n" for ca in cas)
    path = config_dir() / "ca-bundles" / (Path(cas[0]).parent.name.replace(":", "_") + ".pem")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, joined, durable=False)
    return str(path)


# --- credentials ------------------------------------------------------------


def _read_config(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise LayerlabError(f"loading config file {path}: {exc}") from None
    return data if isinstance(data, dict) else {}


def credentials(host: str) -> tuple[str, str] | None:
    """(user, password) stored for `host`: layerlab's file, then Docker's; None without."""
    key = auth_key(host)
    for path in (credentials_path(), docker_config_path()):
        entry = (_read_config(path).get("auths") or {}).get(key)
        if isinstance(entry, dict) and isinstance(entry.get("auth"), str):
            try:
                user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                raise LayerlabError(f"invalid auth configuration file: {path}") from None
            return user, password
    return None


def store_credentials(host: str, user: str, password: str) -> Path:
    """Write `host`'s credentials into layerlab's config.json (mode 0600); the file's path."""
    path = credentials_path()
    data = _read_config(path)
    auths = data.setdefault("auths", {})
    auths[auth_key(host)] = {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}
    _write_private(path, data)
    return path


def remove_credentials(host: str) -> bool:
    """Forget `host`'s credentials in layerlab's file; whether there were any."""
    path = credentials_path()
    data = _read_config(path)
    auths = data.get("auths") or {}
    if auth_key(host) not in auths:
        return False
    del auths[auth_key(host)]
    _write_private(path, data)
    return True


def _write_private(path: Path, data: dict[str, Any]) -> None:
    """An atomic write of a file only its owner may read (it holds passwords)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent="\t")
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, 0o600)
    os.rename(tmp, path)

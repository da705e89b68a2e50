"""A real registry for tests: Debian's `docker-registry` (CNCF distribution 2.8) on 127.0.0.1.

`start_registry(folder)` runs `/usr/bin/docker-registry serve CONFIG` on a free loopback port
with its storage, config and access log in `folder`, and waits until `/v2/` answers; with
`tls=True` it serves HTTPS with a certificate from a CA made here (trustme) and asks for
Basic auth (an htpasswd file, bcrypt). `Registry.stop()` ends it by its pid; `start()` runs
it again on the same port and storage (a registry killed mid-pull, then back).

Images go in with skopeo (`push_layout`, `push_archive`); `oci_layout()` writes an image
(OCI layout: config, manifest, index) from files, one layer per dict, each layer gzip, zstd
or plain, so a test knows every byte it pulls.

Fixtures: `registry_config` (layerlab's and Docker's config folders in the test's tmp, so
no credentials or CA of the user's are read or written), `registry` (plain HTTP) and
`tls_registry` (HTTPS + Basic auth, its CA in layerlab's `certs.d`). A test module names
the ones it uses: `registry = registry_side.registry`.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

REGISTRY_BIN = Path("/usr/bin/docker-registry")
USER, PASSWORD = "teacher", "s3cret-pass"
_START_GUARD = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Registry:
    """A running registry: `host` is `127.0.0.1:PORT`, `storage` its filesystem root."""

    folder: Path
    port: int
    tls: bool = False
    ca: Path | None = None
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}"

    @property
    def storage(self) -> Path:
        return self.folder / "storage"

    @property
    def log(self) -> Path:
        return self.folder / "registry.log"

    def start(self) -> None:
        """Run the registry (again) and wait, re-asking each poll, until `/v2/` answers."""
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [str(REGISTRY_BIN), "serve", str(self.folder / "config.yml")],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        deadline = time.monotonic() + _START_GUARD
        while not self.answers():
            if self.proc.poll() is not None:
                raise RuntimeError(f"docker-registry exited: {self.log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("docker-registry did not answer /v2/ within the guard")
            time.sleep(0.05)

    def answers(self) -> bool:
        try:
            response = requests.get(f"{self.url}/v2/", verify=str(self.ca) if self.ca else True,
                                    timeout=5)  # fmt: skip
        except requests.RequestException:
            return False
        return response.status_code in {200, 401}

    def stop(self) -> None:
        """End it by its pid (SIGKILL: a registry that dies, as in a crash) and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)
        self.proc = None

    def blob_gets(self, digest: str = "") -> int:
        """How many blob GETs the access log shows (of `digest`, or of any blob)."""
        pattern = re.compile(rf'"GET /v2/\S+/blobs/{re.escape(digest) or "sha256:"}')
        return len(pattern.findall(self.log.read_text(errors="replace")))

    def manifest_digest(self, name: str, tag: str) -> str:
        """The digest the registry names `name:tag`'s manifest by (skopeo may rewrite one)."""
        accept = ", ".join([
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.docker.distribution.manifest.v2+json",
            "application/vnd.oci.image.index.v1+json",
            "application/vnd.docker.distribution.manifest.list.v2+json",
        ])  # fmt: skip
        auth = (USER, PASSWORD) if self.tls else None
        response = requests.get(
            f"{self.url}/v2/{name}/manifests/{tag}", headers={"Accept": accept}, auth=auth,
            verify=str(self.ca) if self.ca else True, timeout=30,
        )  # fmt: skip
        response.raise_for_status()
        return "sha256:" + hashlib.sha256(response.content).hexdigest()

    def blob_file(self, digest: str) -> Path:
        """Where the registry keeps a blob's bytes (to corrupt it)."""
        hexa = digest.removeprefix("sha256:")
        return self.storage / "docker/registry/v2/blobs/sha256" / hexa[:2] / hexa / "data"


def start_registry(folder: Path, tls: bool = False) -> Registry:
    """A registry serving from `folder`: plain HTTP, or HTTPS with Basic auth (`tls`)."""
    if not REGISTRY_BIN.exists():
        pytest.skip("no docker-registry on this machine (Debian's docker-registry)")
    folder.mkdir(parents=True, exist_ok=True)
    registry = Registry(folder, free_port(), tls)
    http: dict[str, object] = {"addr": registry.host, "secret": "layerlab-tests"}
    storage = {"filesystem": {"rootdirectory": str(registry.storage)}, "delete": {"enabled": True}}
    config: dict[str, object] = {
        "version": 0.1,
        "log": {"level": "info", "accesslog": {"disabled": False}},
        "storage": storage,
        "http": http,
    }
    if tls:
        registry.ca = _make_tls(folder)
        http["tls"] = {"certificate": str(folder / "cert.pem"), "key": str(folder / "key.pem")}
        _write_htpasswd(folder / "htpasswd", USER, PASSWORD)
        config["auth"] = {"htpasswd": {"realm": "layerlab-tests", "path": str(folder / "htpasswd")}}
    (folder / "config.yml").write_text(json.dumps(config))  # JSON is YAML
    registry.start()
    return registry


def _make_tls(folder: Path) -> Path:
    """A CA and a server certificate for 127.0.0.1 and localhost; the CA's path."""
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_pem.write_to_path(str(folder / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(folder / "cert.pem"))
    ca.cert_pem.write_to_path(str(folder / "ca.crt"))
    return folder / "ca.crt"


def _write_htpasswd(path: Path, user: str, password: str) -> None:
    import bcrypt

    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()
    path.write_text(f"{user}:{hashed}\n")


def trust_ca(registry: Registry, config: Path) -> None:
    """Name the registry's CA in layerlab's `certs.d/HOST:PORT/ca.crt`, as a user would."""
    assert registry.ca is not None
    folder = config / "certs.d" / registry.host
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(registry.ca, folder / "ca.crt")


# --- images in ---------------------------------------------------------------------


def _tar(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 1_700_000_000
            info.mode = 0o755 if name.startswith("bin/") else 0o644
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _compress(data: bytes, how: str) -> tuple[bytes, str]:
    base = "application/vnd.oci.image.layer.v1.tar"
    if how == "gzip":
        return gzip.compress(data, mtime=0), base + "+gzip"
    if how == "zstd":
        import zstandard

        return zstandard.ZstdCompressor().compress(data), base + "+zstd"
    return data, base


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Layout:
    """An image written as an OCI layout: `path` for `oci:PATH`, its digests to check."""

    path: Path
    manifest_digest: str
    config_digest: str
    layer_digests: list[str]  # the compressed blobs'
    diff_ids: list[str]


def oci_layout(
    folder: Path,
    layers: list[dict[str, bytes]],
    compressions: list[str] | None = None,
    cmd: list[str] | None = None,
) -> Layout:
    """An image of busybox's layer (the host's static busybox, at `/bin/busybox` and `/bin/sh`)
    under `layers` (each a dict path -> bytes), written as an OCI layout in `folder`.

    `compressions`: per layer, "gzip" (default), "zstd" or "" (a plain tar)."""
    blobs = folder / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    busybox = Path("/bin/busybox").read_bytes()
    all_layers = [{"bin/busybox": busybox, "bin/sh": busybox, "bin/cat": busybox}, *layers]
    hows = ["gzip", *(compressions or ["gzip"] * len(layers))]
    descriptors, diff_ids = [], []
    for files, how in zip(all_layers, hows, strict=True):
        plain = _tar(files)
        blob, media_type = _compress(plain, how)
        (blobs / _sha(blob).removeprefix("sha256:")).write_bytes(blob)
        descriptors.append({"mediaType": media_type, "digest": _sha(blob), "size": len(blob)})
        diff_ids.append(_sha(plain))
    config = json.dumps({
        "architecture": _arch(), "os": "linux", "created": "2024-01-01T00:00:00Z",
        "config": {"Cmd": cmd or ["sh"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": f"layer {i}"}
                    for i in range(len(diff_ids))],
    }).encode()  # fmt: skip
    (blobs / _sha(config).removeprefix("sha256:")).write_bytes(config)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": _sha(config), "size": len(config)},
        "layers": descriptors,
    }).encode()  # fmt: skip
    (blobs / _sha(manifest).removeprefix("sha256:")).write_bytes(manifest)
    index = {"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": _sha(manifest), "size": len(manifest)}]}  # fmt: skip
    (folder / "index.json").write_text(json.dumps(index))
    (folder / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    digests = [d["digest"] for d in descriptors]
    return Layout(folder, _sha(manifest), _sha(config), digests, diff_ids)


def _arch() -> str:
    machine = os.uname().machine
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def skopeo_copy(registry: Registry, source: str, name: str, *extra: str) -> None:
    """`skopeo copy SOURCE docker://HOST/NAME`, with the registry's CA and credentials."""
    dest = ["--dest-tls-verify=false"]
    if registry.tls:
        dest = [f"--dest-cert-dir={registry.folder}", f"--dest-creds={USER}:{PASSWORD}"]
    done = subprocess.run(
        ["skopeo", "copy", "--quiet", *dest, *extra, source, f"docker://{registry.host}/{name}"],
        capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def push_layout(registry: Registry, layout: Layout, name: str, *extra: str) -> None:
    """Push an OCI layout's image as `HOST/NAME` (blobs as they are: gzip, zstd or plain)."""
    skopeo_copy(registry, f"oci:{layout.path}", name, *extra)


def push_archive(registry: Registry, archive: Path, name: str, *extra: str) -> None:
    """Push a `save` tar (a docker-archive) as `HOST/NAME`."""
    skopeo_copy(registry, f"docker-archive:{archive}", name, *extra)


def upload(registry: Registry, name: str, blobs: list[bytes], reference: str, manifest: bytes,
           media_type: str) -> str:  # fmt: skip
    """Put blobs and a manifest (or index) into the registry as they are, through its HTTP
    API (no tool recompresses them: a plain-tar layer stays one); the manifest's digest."""
    session = requests.Session()
    session.verify = str(registry.ca) if registry.ca else True
    session.auth = (USER, PASSWORD) if registry.tls else None
    for blob in blobs:
        started = session.post(f"{registry.url}/v2/{name}/blobs/uploads/", timeout=30)
        assert started.status_code == 202, started.text
        location = started.headers["Location"]
        location = location if location.startswith("http") else registry.url + location
        sep = "&" if "?" in location else "?"
        done = session.put(f"{location}{sep}digest={_sha(blob)}", data=blob, timeout=120,
                           headers={"Content-Type": "application/octet-stream"})  # fmt: skip
        assert done.status_code == 201, done.text
    put = session.put(f"{registry.url}/v2/{name}/manifests/{reference}", data=manifest,
                      headers={"Content-Type": media_type}, timeout=30)  # fmt: skip
    assert put.status_code == 201, put.text
    return _sha(manifest)


def upload_layout(registry: Registry, layout: Layout, name: str, tag: str) -> str:
    """An OCI layout's image put as it is (`upload`); its manifest digest."""
    blobs_dir = layout.path / "blobs" / "sha256"
    digests = [layout.config_digest, *layout.layer_digests]
    blobs = [(blobs_dir / d.removeprefix("sha256:")).read_bytes() for d in digests]
    manifest = (blobs_dir / layout.manifest_digest.removeprefix("sha256:")).read_bytes()
    return upload(
        registry, name, blobs, tag, manifest, "application/vnd.oci.image.manifest.v1+json"
    )


# --- fixtures ---------------------------------------------------------------------


@pytest.fixture
def registry_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """layerlab's config folder (credentials, certs.d) in the test's tmp; Docker's too."""
    config = tmp_path / "layerlab-config"
    monkeypatch.setenv("LAYERLAB_CONFIG", str(config))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
    return config


@pytest.fixture
def registry(tmp_path: Path, registry_config: Path) -> Iterator[Registry]:
    """A plain-HTTP registry on 127.0.0.1 (loopback: Docker's insecure-registry rule)."""
    started = start_registry(tmp_path / "registry")
    yield started
    started.stop()


@pytest.fixture
def tls_registry(tmp_path: Path, registry_config: Path) -> Iterator[Registry]:
    """An HTTPS registry with Basic auth (`USER`/`PASSWORD`), its CA named in layerlab's
    certs.d."""
    started = start_registry(tmp_path / "tls-registry", tls=True)
    trust_ca(started, registry_config)
    yield started
    started.stop()

"""A Docker Registry HTTP API v2 client: references, the ping, auth, manifests and blobs.

One `RegistryClient` per registry host, on one `requests.Session` (connections reused,
safe to share between download threads once pinged). The flow is distribution's:

1. `ping()`: `GET /v2/` over HTTPS (then HTTP for an insecure registry, `hosts.py`); a 401
   names the auth scheme in `WWW-Authenticate`.
2. Bearer: a token from the challenge's `realm` for `repository:NAME:pull[,push]` (the
   stored credentials as Basic auth on the token request), cached per scope. Basic: the
   stored credentials on every request.
3. A request answered 401 is retried once with the scope the challenge names.

Errors are Docker's sentences (`RegistryError`, printed after "Error response from
daemon:"), one line each: the registry's `errors` body, a refused connection, a server
that spoke HTTP to HTTPS, a TLS failure.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from layerlab.errors import ClientError, InvalidReference
from layerlab.registry import hosts
from layerlab.storage.reference import reference_error

TIMEOUT = (30, 120)  # connect, read: a registry that stops answering fails the pull
CHUNK = 1 << 20
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')
USER_AGENT = "layerlab (docker/20.10 compatible)"


class RegistryError(ClientError):
    """A registry's failure as Docker's daemon words it: printed bare, one line."""

    def __init__(self, message: str, code: str = "", exit_code: int | None = None) -> None:
        super().__init__(f"Error response from daemon: {message}", exit_code)
        self.reason = message
        self.code = code  # the registry's error code (MANIFEST_UNKNOWN, ...), if it gave one


# --- references ---------------------------------------------------------------


@dataclass(frozen=True)
class RemoteRef:
    """A reference resolved as Docker's `reference.ParseNormalizedNamed` does."""

    host: str  # docker.io, localhost:5000, 127.0.0.1:5000, registry.example.com
    path: str  # library/busybox, team/app
    tag: str = ""
    digest: str = ""

    @property
    def repository(self) -> str:
        """`host/path`, the full name (`docker.io/library/busybox`)."""
        return f"{self.host}/{self.path}"

    @property
    def familiar(self) -> str:
        """The name as Docker shows it and the store keeps it: `busybox`, `localhost:5000/x`."""
        if self.host != hosts.DOCKER_HUB:
            return self.repository
        return self.path.removeprefix("library/") if self.path.count("/") == 1 else self.path

    @property
    def familiar_string(self) -> str:
        """`busybox:latest` or `busybox@sha256:...` (Docker's FamiliarString)."""
        return self.familiar + (f"@{self.digest}" if self.digest else f":{self.tag}")

    @property
    def full_string(self) -> str:
        """`docker.io/library/busybox:latest`: what `docker pull` prints last."""
        return self.repository + (f"@{self.digest}" if self.digest else f":{self.tag}")

    def with_tag(self, tag: str) -> RemoteRef:
        return RemoteRef(self.host, self.path, tag=tag)

    @property
    def api_host(self) -> str:
        return hosts.HUB_API if self.host == hosts.DOCKER_HUB else self.host

    @property
    def reference(self) -> str:
        """What the manifest endpoint takes: the digest, else the tag."""
        return self.digest or self.tag


def parse_reference(text: str, default_tag: str = "latest") -> RemoteRef:
    """`NAME[:TAG|@sha256:...]` -> a RemoteRef; Docker's one-line error for a bad one."""
    name, _, digest = text.partition("@")
    if digest and not _DIGEST.fullmatch(digest):
        raise InvalidReference("invalid reference format")
    first, slash, rest = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        host, path = first, rest
    else:
        host, path = hosts.DOCKER_HUB, name
    if host == "index.docker.io":
        host = hosts.DOCKER_HUB
    last = path.rsplit("/", 1)[-1]
    tag = ""
    if ":" in last:
        path, _, tag = path.rpartition(":")
    if host == hosts.DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    error = reference_error(f"{host}/{path}:{tag or 'latest'}")
    if error is not None:
        raise InvalidReference(error)
    return RemoteRef(host, path, tag or ("" if digest else default_tag), digest)


# --- auth ---------------------------------------------------------------------


@dataclass(frozen=True)
class Challenge:
    scheme: str  # "bearer" | "basic"
    params: dict[str, str]


def parse_challenge(header: str) -> Challenge | None:
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() not in {"bearer", "basic"}:
        return None
    return Challenge(scheme.lower(), dict(_CHALLENGE_PARAM.findall(rest)))


# --- the client -----------------------------------------------------------------


class RegistryClient:
    """One registry host: `ping()` once, then manifests and blobs by repository."""

    def __init__(
        self, host: str, root: Path, credentials: tuple[str, str] | bool | None = True
    ) -> None:
        """`credentials`: (user, password), None for anonymous, True for the stored ones."""
        self.host = host
        self.api_host = hosts.api_host(host, root)
        self.insecure = hosts.is_insecure(self.api_host, root)
        self.trust = hosts.trust(self.api_host, self.insecure)
        self.creds = hosts.credentials(host) if credentials is True else credentials or None
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        self.session.cert = self.trust.cert
        self.base = ""
        self.challenge: Challenge | None = None
        self._tokens: dict[str, str] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- ping and auth -----------------------------------------------------------

    def ping(self) -> None:
        """`GET /v2/`: choose HTTPS or (insecure registries) HTTP, learn the auth scheme."""
        schemes = ["https", "http"] if self.insecure else ["https"]
        failure: RegistryError | None = None
        for scheme in schemes:
            url = f"{scheme}://{self.api_host}/v2/"
            try:
                response = self._send("GET", url, auth=False, verify=self._verify(scheme))
            except RegistryError as exc:
                failure = failure or exc
                continue
            if response.status_code == 401:
                self.challenge = parse_challenge(response.headers.get("WWW-Authenticate", ""))
            elif response.status_code >= 400:
                failure = RegistryError(_status_error("GET", url, response))
                continue
            self.base = f"{scheme}://{self.api_host}"
            return
        assert failure is not None
        raise failure

    def _verify(self, scheme: str) -> bool | str:
        return self.trust.verify if scheme == "https" else False

    def login(self) -> None:
        """Check the credentials against `/v2/` as `docker login` does (a token fetched for
        no scope, or Basic auth answered 200)."""
        self.ping()
        url = f"{self.base}/v2/"
        if self.challenge is None:
            return
        if self.challenge.scheme == "bearer":
            self._token("", url)
            return
        response = self._send("GET", url, auth=True)
        if response.status_code != 200:
            status = f"{response.status_code} {response.reason}"
            raise RegistryError(f"login attempt to {url} failed with status: {status}")

    def _token(self, scope: str, url: str) -> str:
        """A bearer token for `scope` from the challenge's realm, cached."""
        with self._lock:
            if scope in self._tokens:
                return self._tokens[scope]
        assert self.challenge is not None
        params = {k: v for k, v in self.challenge.params.items() if k == "service"}
        if scope:
            params["scope"] = scope
        if self.creds:
            params["account"] = self.creds[0]
        realm = self.challenge.params.get("realm", "")
        try:
            response = self.session.get(
                realm, params=params, auth=self.creds, timeout=TIMEOUT, verify=self.trust.verify
            )
        except requests.RequestException as exc:
            raise RegistryError(_transport_error("GET", realm, exc)) from None
        if response.status_code != 200:
            raise RegistryError(f'Get "{url}": {_error_body(response) or "unauthorized"}')
        body = _json_body(response)
        token = str(body.get("token") or body.get("access_token") or "")
        with self._lock:
            self._tokens[scope] = token
        return token

    def _auth_header(self, scope: str, url: str) -> dict[str, str]:
        if self.challenge is None:
            return {}
        if self.challenge.scheme == "bearer":
            return {"Authorization": f"Bearer {self._token(scope, url)}"}
        if self.creds is None:
            raise RegistryError(f'{_verb("GET")} "{url}": no basic auth credentials')
        return {}

    # --- requests -------------------------------------------------------------

    def request(
        self,
        method: str,
        repository: str,
        tail: str,
        actions: str = "pull",
        stream: bool = False,
        **kwargs: Any,
    ) -> requests.Response:
        """`METHOD /v2/<repository>/<tail>` with auth for `repository:<actions>`; a 401 with
        a scope named retries once with it. The caller reads the status."""
        if not self.base:
            self.ping()
        url = tail if tail.startswith("http") else f"{self.base}/v2/{repository}/{tail}"
        scope = f"repository:{repository}:{actions}"
        headers = dict(kwargs.pop("headers", {}))
        headers.update(self._auth_header(scope, url))
        response = self._send(method, url, auth=True, headers=headers, stream=stream, **kwargs)
        if response.status_code == 401 and self.challenge and self.challenge.scheme == "bearer":
            named = parse_challenge(response.headers.get("WWW-Authenticate", ""))
            wanted = named.params.get("scope", scope) if named else scope
            with self._lock:
                self._tokens.pop(wanted, None)
            headers.update({"Authorization": f"Bearer {self._token(wanted, url)}"})
            response.close()
            response = self._send(method, url, auth=True, headers=headers, stream=stream, **kwargs)
        if response.status_code == 401:
            raise RegistryError(f'{_verb(method)} "{url}": {_error_body(response)}', "UNAUTHORIZED")
        return response

    def _send(self, method: str, url: str, auth: bool, **kwargs: Any) -> requests.Response:
        basic = self.creds if auth and self.challenge and self.challenge.scheme == "basic" else None
        kwargs.setdefault("timeout", TIMEOUT)
        # Always explicit: requests would take REQUESTS_CA_BUNDLE over the CA named here.
        kwargs.setdefault("verify", self._verify(url.split(":", 1)[0]))
        try:
            return self.session.request(method, url, auth=basic, **kwargs)
        except requests.RequestException as exc:
            raise RegistryError(_transport_error(method, url, exc)) from None

    # --- manifests and blobs ---------------------------------------------------

    def get_manifest(self, repository: str, reference: str, accept: list[str]) -> requests.Response:
        """The manifest response (body read), or RegistryError with the registry's code."""
        response = self.request(
            "GET", repository, f"manifests/{reference}", headers={"Accept": ", ".join(accept)}
        )
        if response.status_code != 200:
            raise _registry_error("GET", response)
        return response

    def get_blob(self, repository: str, digest: str) -> requests.Response:
        """A blob's response, streaming (the caller reads it in chunks and closes it)."""
        response = self.request("GET", repository, f"blobs/{digest}", stream=True)
        if response.status_code != 200:
            response.close()
            raise _registry_error("GET", response)
        return response

    def blob_chunks(self, response: requests.Response) -> Iterator[bytes]:
        """A blob's bytes as they arrive; a connection lost mid-way is a RegistryError."""
        try:
            yield from response.iter_content(CHUNK)
        except requests.RequestException as exc:
            raise RegistryError(_transport_error("GET", response.url, exc)) from None

    def tags(self, repository: str) -> list[str]:
        """`GET /v2/<name>/tags/list` (every page)."""
        found: list[str] = []
        tail = "tags/list"
        while tail:
            response = self.request("GET", repository, tail)
            if response.status_code != 200:
                raise _registry_error("GET", response)
            found.extend(_json_body(response).get("tags") or [])
            following = response.links.get("next", {}).get("url", "")
            tail = f"{self.base}{following}" if following.startswith("/") else following
        return found


# --- Docker's words for failures ---------------------------------------------------


def _verb(method: str) -> str:
    """Go's url.Error names the method as `Get`, `Head`, `Put`."""
    return method[:1].upper() + method[1:].lower()


def _json_body(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def registry_errors(response: requests.Response) -> list[tuple[str, str]]:
    """The `errors` a registry answered with: (CODE, message)."""
    found = _json_body(response).get("errors")
    if not isinstance(found, list):
        return []
    return [
        (str(e.get("code", "")), str(e.get("message", ""))) for e in found if isinstance(e, dict)
    ]


def _error_body(response: requests.Response) -> str:
    """distribution's errcode text: `manifest unknown: manifest unknown`."""
    found = registry_errors(response)
    if found:
        code, message = found[0]
        return f"{code.lower().replace('_', ' ')}: {message}"
    if response.status_code == 401:
        return "unauthorized: authentication required"
    return ""


def _status_error(method: str, url: str, response: requests.Response) -> str:
    body = _error_body(response)
    status = f"{response.status_code} {response.reason}"
    return f'{_verb(method)} "{url}": {body or "unexpected status " + status}'


def _registry_error(method: str, response: requests.Response) -> RegistryError:
    found = registry_errors(response)
    code = found[0][0] if found else ""
    body = _error_body(response) or f"unexpected status {response.status_code} {response.reason}"
    if not found and response.status_code == 404:
        code = "NOT_FOUND"
    return RegistryError(body if found else f'{_verb(method)} "{response.url}": {body}', code)


def _transport_error(method: str, url: str, exc: requests.RequestException) -> str:
    """A connection failure as Go's net/http words it."""
    text = str(exc)
    host = url.split("/")[2]
    where = f'{_verb(method)} "{url}"'
    if "WRONG_VERSION_NUMBER" in text or "wrong version number" in text:
        return f"{where}: http: server gave HTTP response to HTTPS client"
    if isinstance(exc, requests.exceptions.SSLError):
        if "CERTIFICATE_VERIFY_FAILED" in text:
            return f"{where}: x509: certificate signed by unknown authority"
        return f"{where}: tls: {text[:200]}"
    if "Connection refused" in text or "ConnectionRefused" in text:
        return f"{where}: dial tcp {host}: connect: connection refused"
    if isinstance(exc, requests.exceptions.Timeout):
        return f"{where}: net/http: request canceled (Client.Timeout exceeded)"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError) or "IncompleteRead" in text:
        return f"{where}: unexpected EOF"
    if "Name or service not known" in text or "NameResolution" in text:
        return f"{where}: dial tcp: lookup {host.split(':')[0]}: no such host"
    return f"{where}: {text.splitlines()[0][:200] if text else type(exc).__name__}"

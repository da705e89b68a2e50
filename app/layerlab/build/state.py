"""What a build knows as it goes: each stage's state (Docker's dispatchState) and the
build's ARGs (its buildArgs): the `--build-arg` values, the ARGs before the first FROM,
which of them the Dockerfile used, and the environment a step's words expand in."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Docker's predefined ARGs: usable without an ARG line, kept out of the cache key.
BUILTIN_ARGS = frozenset(
    f"{name}_PROXY" if upper else f"{name.lower()}_proxy"
    for name in ("HTTP", "HTTPS", "FTP", "NO", "ALL")
    for upper in (True, False)
)


@dataclass(repr=False, eq=False)  # cheap to define: this module loads on every build
class StageState:
    """What one stage has built so far: Docker's dispatchState."""

    image_id: str
    config: dict[str, Any]  # the image's run config ("config" in the OCI config)
    history_len: int
    args: dict[str, str | None] = field(default_factory=dict)  # ARGs declared in this stage
    cmd_set: bool = False
    busted: bool = False  # a cache miss: later steps of the stage can't hit
    maintainer: str = ""


class BuildArgs:
    def __init__(self) -> None:
        self.given: dict[str, str | None] = {}  # --build-arg K=V (K alone: $K, or None)
        self.meta: dict[str, str | None] = {}  # the ARGs before the first FROM
        self.referenced: set[str] = set()  # the ARGs the Dockerfile declares

    def meta_env(self) -> dict[str, str]:
        return {k: v for k, v in self.meta.items() if v is not None}

    def value(self, state: StageState, key: str) -> str | None:
        override = self.given.get(key)
        if override is not None:
            return override
        if key in state.args and state.args[key] is not None:
            return state.args[key]
        return self.meta.get(key)

    def allowed(self, state: StageState) -> dict[str, str]:
        """Declared ARGs (and given predefined ones) with a value, not shadowed by ENV."""
        env_keys = {e.partition("=")[0] for e in state.config.get("Env") or []}
        allowed: dict[str, str] = {}
        for key in list(state.args) + [k for k in self.given if k in BUILTIN_ARGS]:
            value = self.value(state, key)
            if value is not None and key not in env_keys:
                allowed[key] = value
        return allowed

    def env(self, state: StageState) -> dict[str, str]:
        env = dict(self.allowed(state))
        for item in state.config.get("Env") or []:
            key, _, value = item.partition("=")
            env[key] = value
        return env

    def unused(self) -> list[str]:
        """The `--build-arg`s no ARG declared (Docker warns of them), predefined ones aside."""
        return sorted(k for k in self.given if k not in self.referenced and k not in BUILTIN_ARGS)

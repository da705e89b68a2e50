"""The key tree of an `inspect` object: each key's path and JSON type, as tests compare them
with what Docker 20.10 printed (tests/fixtures/docker-20.10-inspect-*.json)."""

from __future__ import annotations

from typing import Any

# String maps and the networking part: their keys are data, not shape.
OPAQUE = frozenset(
    ".Config.Labels .Config.ExposedPorts .Config.Volumes .ContainerConfig.Labels "
    ".ContainerConfig.ExposedPorts .ContainerConfig.Volumes .GraphDriver.Data "
    ".HostConfig.LogConfig.Config .HostConfig.PortBindings .HostConfig.Tmpfs .Labels "
    ".Options .NetworkSettings.Networks .NetworkSettings.Ports".split()
)
# Go's nil slices, maps and struct pointers print null: they match either.
NILLABLE = frozenset({"array", "object"})


def kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def key_tree(value: Any, path: str = "") -> dict[str, str]:
    """Each key path (`.HostConfig.RestartPolicy.Name`, `.Mounts[].Name`) and its type; the
    items of an array of objects are merged under `[]`."""
    tree: dict[str, str] = {}
    if path in OPAQUE:
        return tree
    if isinstance(value, dict):
        for key, item in value.items():
            tree[f"{path}.{key}"] = kind(item)
            tree |= key_tree(item, f"{path}.{key}")
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                tree |= key_tree(item, f"{path}[]")
    return tree


def differences(ours: dict[str, str], docker: dict[str, str]) -> list[str]:
    """What differs in keys and types, one line each (empty when the shapes match)."""
    lines = [f"missing {key} ({docker[key]})" for key in docker if key not in ours]
    lines += [f"extra {key} ({ours[key]})" for key in ours if key not in docker]
    for key in docker.keys() & ours.keys():
        a, b = ours[key], docker[key]
        if a != b and not ("null" in (a, b) and {a, b} - {"null"} <= NILLABLE):
            lines.append(f"type of {key}: ours {a}, Docker's {b}")
    return sorted(lines)

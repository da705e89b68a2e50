"""The shape of Docker 20.10's `inspect`: every key its API types have, in their order.

A script reads `{{.HostConfig.RestartPolicy.Name}}` or a bind's `{{.Name}}` and expects a
value, often an empty one, where a missing key would fail. So what layerlab records is laid
over the zero values of moby's structs (v20.10.24: api/types/types.go ContainerJSONBase,
ContainerJSON, ImageInspect; api/types/container/{config,host_config}.go; api/types/volume.go),
taken as a plain `docker create busybox` shows them. A field tagged `omitempty` is left out
of the JSON when empty, as Go leaves it, and stays readable by a template (`Struct`).
"""

from __future__ import annotations

from typing import Any

from layerlab.presentation.gotemplate import Struct

ZERO_TIME = "0001-01-01T00:00:00Z"
SHM_SIZE = 64 * 1024 * 1024  # Docker's default /dev/shm, as the runtime spec mounts it

NONE: frozenset[str] = frozenset()  # a struct without `omitempty` fields
# Pointers: `omitempty` leaves them out only when nil (a -s size of 0 shows).
_POINTERS = frozenset(
    "Node SizeRw SizeRootFs Health Init Healthcheck StopTimeout UsageData".split()
)

# Each zero struct: field -> zero value; the `omitempty` fields are in its OMIT set.
CONTAINER: dict[str, Any] = {
    "Id": "", "Created": "", "Path": "", "Args": [], "State": {}, "Image": "",
    "ResolvConfPath": "", "HostnamePath": "", "HostsPath": "", "LogPath": "", "Node": None,
    "Name": "", "RestartCount": 0, "Driver": "overlay2", "Platform": "linux", "MountLabel": "",
    "ProcessLabel": "", "AppArmorProfile": "", "ExecIDs": None, "HostConfig": {},
    "GraphDriver": {}, "SizeRw": None, "SizeRootFs": None, "Mounts": [], "Config": {},
    "NetworkSettings": {},
}  # fmt: skip
CONTAINER_OMIT = frozenset({"Node", "SizeRw", "SizeRootFs"})

STATE: dict[str, Any] = {
    "Status": "created", "Running": False, "Paused": False, "Restarting": False,
    "OOMKilled": False, "Dead": False, "Pid": 0, "ExitCode": 0, "Error": "",
    "StartedAt": ZERO_TIME, "FinishedAt": ZERO_TIME, "Health": None,
}  # fmt: skip
STATE_OMIT = frozenset({"Health"})

RESTART_POLICY: dict[str, Any] = {"Name": "no", "MaximumRetryCount": 0}
LOG_CONFIG: dict[str, Any] = {"Type": "json-file", "Config": {}}

HOST_CONFIG: dict[str, Any] = {
    "Binds": None, "ContainerIDFile": "", "LogConfig": {"Type": "json-file", "Config": {}},
    "NetworkMode": "default", "PortBindings": {},
    "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0}, "AutoRemove": False,
    "VolumeDriver": "", "VolumesFrom": None, "CapAdd": None, "CapDrop": None,
    "CgroupnsMode": "host", "Dns": [], "DnsOptions": [], "DnsSearch": [], "ExtraHosts": None,
    "GroupAdd": None, "IpcMode": "private", "Cgroup": "", "Links": None, "OomScoreAdj": 0,
    "PidMode": "", "Privileged": False, "PublishAllPorts": False, "ReadonlyRootfs": False,
    "SecurityOpt": None, "StorageOpt": None, "Tmpfs": None, "UTSMode": "", "UsernsMode": "",
    "ShmSize": SHM_SIZE, "Sysctls": None, "Runtime": "runc", "ConsoleSize": [0, 0],
    "Isolation": "",
    # container.Resources, embedded
    "CpuShares": 0, "Memory": 0, "NanoCpus": 0, "CgroupParent": "", "BlkioWeight": 0,
    "BlkioWeightDevice": [], "BlkioDeviceReadBps": None, "BlkioDeviceWriteBps": None,
    "BlkioDeviceReadIOps": None, "BlkioDeviceWriteIOps": None, "CpuPeriod": 0, "CpuQuota": 0,
    "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0, "CpusetCpus": "", "CpusetMems": "",
    "Devices": [], "DeviceCgroupRules": None, "DeviceRequests": None, "KernelMemory": 0,
    "KernelMemoryTCP": 0, "MemoryReservation": 0, "MemorySwap": 0, "MemorySwappiness": None,
    "OomKillDisable": False, "PidsLimit": None, "Ulimits": None, "CpuCount": 0,
    "CpuPercent": 0, "IOMaximumIOps": 0, "IOMaximumBandwidth": 0,
    "Mounts": None, "MaskedPaths": None, "ReadonlyPaths": None, "Init": None,
}  # fmt: skip
HOST_CONFIG_OMIT = frozenset({"StorageOpt", "Tmpfs", "Sysctls", "Runtime", "Mounts", "Init"})

CONFIG: dict[str, Any] = {
    "Hostname": "", "Domainname": "", "User": "", "AttachStdin": False, "AttachStdout": False,
    "AttachStderr": False, "ExposedPorts": None, "Tty": False, "OpenStdin": False,
    "StdinOnce": False, "Env": None, "Cmd": None, "Healthcheck": None, "ArgsEscaped": False,
    "Image": "", "Volumes": None, "WorkingDir": "", "Entrypoint": None,
    "NetworkDisabled": False, "MacAddress": "", "OnBuild": None, "Labels": None,
    "StopSignal": "", "StopTimeout": None, "Shell": None,
}  # fmt: skip
CONFIG_OMIT = frozenset(
    "ExposedPorts Healthcheck ArgsEscaped NetworkDisabled MacAddress StopSignal StopTimeout "
    "Shell".split()
)

MOUNT_POINT: dict[str, Any] = {
    "Type": "", "Name": "", "Source": "", "Destination": "", "Driver": "", "Mode": "",
    "RW": False, "Propagation": "",
}  # fmt: skip
MOUNT_POINT_OMIT = frozenset({"Type", "Name", "Driver"})

# Its keys only: what the networks give them is the network code's.
NETWORK_SETTINGS: dict[str, Any] = {
    "Bridge": "", "SandboxID": "", "HairpinMode": False, "LinkLocalIPv6Address": "",
    "LinkLocalIPv6PrefixLen": 0, "Ports": {}, "SandboxKey": "", "SecondaryIPAddresses": None,
    "SecondaryIPv6Addresses": None, "EndpointID": "", "Gateway": "", "GlobalIPv6Address": "",
    "GlobalIPv6PrefixLen": 0, "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "",
    "MacAddress": "", "Networks": {},
}  # fmt: skip

GRAPH_DRIVER: dict[str, Any] = {"Data": {}, "Name": "overlay2"}
ROOT_FS: dict[str, Any] = {"Type": "layers", "Layers": None, "BaseLayer": ""}
ROOT_FS_OMIT = frozenset({"Layers", "BaseLayer"})

IMAGE: dict[str, Any] = {
    "Id": "", "RepoTags": [], "RepoDigests": [], "Parent": "", "Comment": "", "Created": "",
    "Container": "", "ContainerConfig": {}, "DockerVersion": "", "Author": "", "Config": {},
    "Architecture": "", "Variant": "", "Os": "", "OsVersion": "", "Size": 0, "VirtualSize": 0,
    "GraphDriver": {}, "RootFS": {}, "Metadata": {"LastTagTime": ZERO_TIME},
}  # fmt: skip
IMAGE_OMIT = frozenset({"Variant", "OsVersion"})

VOLUME: dict[str, Any] = {
    "CreatedAt": "", "Driver": "local", "Labels": None, "Mountpoint": "", "Name": "",
    "Options": None, "Scope": "local", "Status": None, "UsageData": None,
}  # fmt: skip
VOLUME_OMIT = frozenset({"CreatedAt", "Status", "UsageData"})


def _empty(name: str, value: Any) -> bool:
    """Go's `omitempty`: nil for a pointer; zero, empty or nil for the rest."""
    if name in _POINTERS:
        return value is None
    return value is None or value in (0, "", [], {})


def _struct(zero: dict[str, Any], omit: frozenset[str], values: dict[str, Any]) -> Struct:
    """`values` over `zero`, in the struct's order (keys of ours only at the end)."""
    merged = {key: values.get(key, default) for key, default in zero.items()}
    merged |= {key: value for key, value in values.items() if key not in zero}
    return Struct(merged, frozenset(k for k in omit if _empty(k, merged[k])))


def config(values: dict[str, Any]) -> Struct:
    """A container.Config: a container's `.Config`, an image's `Config` and `ContainerConfig`."""
    return _struct(CONFIG, CONFIG_OMIT, values)


def container(record: dict[str, Any]) -> dict[str, Any]:
    """A container's record as Docker's ContainerJSON."""
    host = dict(record.get("HostConfig") or {})
    host["RestartPolicy"] = _struct(RESTART_POLICY, NONE, host.get("RestartPolicy") or {})
    host["LogConfig"] = _struct(LOG_CONFIG, NONE, host.get("LogConfig") or {})
    values = dict(record) | {
        "State": _struct(STATE, STATE_OMIT, record.get("State") or {}),
        "HostConfig": _struct(HOST_CONFIG, HOST_CONFIG_OMIT, host),
        "Mounts": [_struct(MOUNT_POINT, MOUNT_POINT_OMIT, m) for m in record.get("Mounts") or []],
        "Config": config(record.get("Config") or {}),
        "GraphDriver": _struct(GRAPH_DRIVER, NONE, record.get("GraphDriver") or {}),
        "NetworkSettings": _struct(NETWORK_SETTINGS, NONE, record.get("NetworkSettings") or {}),
    }
    return _struct(CONTAINER, CONTAINER_OMIT, values)


def image(values: dict[str, Any]) -> dict[str, Any]:
    """An image's inspect as Docker's ImageInspect (its `Config`s are whole structs)."""
    values = values | {
        "Config": config(values.get("Config") or {}),
        "ContainerConfig": config(values.get("ContainerConfig") or {}),
        "VirtualSize": values.get("Size", 0),
        "GraphDriver": _struct(GRAPH_DRIVER, NONE, values.get("GraphDriver") or {}),
        "RootFS": _struct(ROOT_FS, ROOT_FS_OMIT, values.get("RootFS") or {}),
    }
    return _struct(IMAGE, IMAGE_OMIT, values)


def volume(values: dict[str, Any]) -> dict[str, Any]:
    """A volume as Docker's volume.Volume: `Status` and `UsageData` only for a template."""
    return _struct(VOLUME, VOLUME_OMIT, values)


def inspected(item: dict[str, Any]) -> dict[str, Any]:
    """What `inspect` prints of what the engine found: a container's record (it has a
    State) or an image's fields, each in Docker's shape."""
    return container(item) if "State" in item else image(item)

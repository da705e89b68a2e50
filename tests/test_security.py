"""Docker's confinement, proved from inside real containers: its default seccomp
profile, capabilities, masked and read-only /proc, and `--privileged` lifting them.

Docker 20.10 on this host, side by side: `mount -t tmpfs` -> permission denied,
`unshare -U` -> Operation not permitted, `Seccomp: 2`, CapEff 00000000a80425fb,
`/proc/sys` read-only. (Its `--privileged` fails here - the host's bounding set lacks
CAP_SYS_RESOURCE - so layerlab's hands on the capabilities it holds.)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from layerlab.runtime.seccomp import capabilities, default_profile, oci_seccomp
from layerlab.runtime.spec import DEFAULT_CAPS

from .conftest import CLI

pytestmark = pytest.mark.system

PROBE = (
    "grep -E '^(Seccomp|CapEff):' /proc/self/status; "
    "mkdir -p /mnt; mount -t tmpfs x /mnt 2>/dev/null && echo mount=ok || echo mount=denied; "
    "unshare -U true 2>/dev/null && echo userns=ok || echo userns=denied; "
    "(echo x > /proc/sys/kernel/ostype) 2>/dev/null && echo procsys=rw || echo procsys=ro; "
    "[ -s /proc/kcore ] && echo kcore=visible || echo kcore=masked"
)


def _probe(cli: CLI, *flags: str) -> dict[str, str]:
    result = cli("run", "--rm", *flags, "busybox", "sh", "-c", PROBE)
    assert result.code == 0, result.err
    found = {}
    for line in result.out.splitlines():
        key, _, value = line.replace(":\t", "=").partition("=")
        found[key] = value.strip()
    return found


def test_default_confinement_is_dockers(cli: CLI) -> None:
    seen = _probe(cli)
    assert seen == {
        "Seccomp": "2", "CapEff": "00000000a80425fb", "mount": "denied",
        "userns": "denied", "procsys": "ro", "kcore": "masked",
    }  # fmt: skip


def test_privileged_is_the_explicit_opposite(cli: CLI) -> None:
    seen = _probe(cli, "--privileged")
    assert (seen["Seccomp"], seen["mount"], seen["userns"]) == ("0", "ok", "ok")
    assert int(seen["CapEff"], 16) > 0xA80425FB


def test_cap_add_sys_admin_opens_its_seccomp_group(cli: CLI) -> None:
    seen = _probe(cli, "--cap-add", "SYS_ADMIN")
    assert (seen["Seccomp"], seen["mount"]) == ("2", "ok")
    assert _probe(cli, "--cap-drop", "ALL")["CapEff"] == "0000000000000000"


def test_security_opts(cli: CLI, tmp_path: Path) -> None:
    assert _probe(cli, "--security-opt", "seccomp=unconfined")["Seccomp"] == "0"
    # A profile of one's own, in Docker's format: the default with `mkdir` denied.
    profile = default_profile()
    profile["syscalls"][0]["names"] = [
        n for n in profile["syscalls"][0]["names"] if n not in ("mkdir", "mkdirat")
    ]
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(profile))
    result = cli("run", "--rm", "--security-opt", f"seccomp={path}", "busybox", "mkdir", "/x")
    assert result.code == 1 and "Operation not permitted" in result.err
    nnp = cli("run", "--rm", "--security-opt", "no-new-privileges", "busybox",
              "grep", "NoNewPrivs", "/proc/self/status")  # fmt: skip
    assert nnp.out.split() == ["NoNewPrivs:", "1"]
    bad = cli("create", "--security-opt", "seccomp=/nonexistent.json", "busybox")
    assert bad.code != 0 and "seccomp profile" in bad.err
    assert cli("ps", "-aq").out == ""


def test_profile_semantics_follow_docker() -> None:
    caps = capabilities(DEFAULT_CAPS, [], [], privileged=False)
    oci = oci_seccomp(default_profile(), caps)
    assert (oci["defaultAction"], oci["defaultErrnoRet"]) == ("SCMP_ACT_ERRNO", 1)
    allowed = {n for rule in oci["syscalls"] if "args" not in rule
               and rule["action"] == "SCMP_ACT_ALLOW" for n in rule["names"]}  # fmt: skip
    assert {"read", "chroot", "execve"} <= allowed
    assert not {"mount", "unshare", "setns", "keyctl", "bpf", "clone"} & allowed
    clone = [r for r in oci["syscalls"] if r["names"] == ["clone"]]
    assert clone[0]["args"] == [{"index": 0, "value": 2114060288, "op": "SCMP_CMP_MASKED_EQ"}]
    admin = oci_seccomp(default_profile(), [*caps, "CAP_SYS_ADMIN"])
    assert any("mount" in r["names"] for r in admin["syscalls"])
    assert capabilities(DEFAULT_CAPS, ["ALL"], ["CHOWN"], False)[0] != "CAP_CHOWN"

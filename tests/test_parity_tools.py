"""Docker 20.10 parity for the tools around containers: `stats`, `logs --details`,
`attach -i`/`--no-stdin`, `system df -v`/`--format`, `volume ls --filter/--format`, and
`exec -t`'s failure. Expected words and columns are Docker's (docker/cli v20.10, cited by
file); where a Docker daemon answers at DOCKER_HOST, the same commands run side by side."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest

from . import docker_side
from .conftest import CLI

pytestmark = pytest.mark.system


def test_a_failed_exec_with_a_terminal_says_so_once(cli: CLI) -> None:
    """`exec -t` runs runc on a pseudo-terminal of ours, where runc also writes its failure:
    Docker prints only its own line, on stdout, exit 126 (as without -t)."""
    assert cli("run", "-d", "--name", "pt-exec", "busybox", "sleep", "300").code == 0
    failed = cli("exec", "-t", "pt-exec", "nosuchcmd")
    assert (failed.code, failed.err) == (126, "")
    assert failed.out == (
        "OCI runtime exec failed: exec failed: unable to start container process: "
        'exec: "nosuchcmd": executable file not found in $PATH: unknown\n'
    )
    ran = cli("exec", "-t", "pt-exec", "sh", "-c", "echo out; exit 3")
    assert (ran.code, ran.out) == (3, "out\n")  # the CLI fixture reads text: \r\n is \n


def _volume_ls_session(run: CLI | docker_side.Docker, tag: str) -> list[str]:
    """`volume ls` filtered and formatted, in Docker 20.10's words: each output, in order."""
    run("volume", "create", "--label", "a=b", f"vl-{tag}-one")
    run("volume", "create", f"vl-{tag}-two")
    run("run", "--name", f"vl-{tag}", "-v", f"vl-{tag}-two:/v", "busybox", "true")
    mine = f"name=vl-{tag}"
    shown = []
    for flags in (
        ["-f", mine, "--format", "{{json .}}"],
        ["-f", mine, "-f", "dangling=true"],
        ["-f", mine, "-f", "dangling=false", "-f", "driver=local"],
        ["-f", mine, "-f", "label=a"],
        ["-f", mine, "-f", "label=a=b", "--format", "table {{.Name}}\t{{.Labels}}\t{{.Size}}"],
        ["-f", mine, "-q"],
        ["-f", "bogus=1"],
        ["-f", "dangling=maybe"],
        ["--format", "{{.Status}}"],
    ):
        done = run("volume", "ls", *flags)
        err = done.err.replace("Error response from daemon: ", "Error: ")
        shown.append(f"{done.code} {done.out.replace('/tmp/dockerd-root', 'ROOT')}{err}")
    run("rm", f"vl-{tag}")
    run("volume", "rm", f"vl-{tag}-one", f"vl-{tag}-two")
    return shown


def test_volume_ls_filters_and_formats_as_docker_20_10(cli: CLI, root: Path) -> None:
    shown = _volume_ls_session(cli, "x")
    context = "*formatter.volumeContext"
    assert shown == [
        '0 {"Driver":"local","Labels":"a=b","Links":"N/A","Mountpoint":"'
        f'{root}/volumes/vl-x-one/_data","Name":"vl-x-one","Scope":"local","Size":"N/A"}}\n'
        '{"Driver":"local","Labels":"","Links":"N/A","Mountpoint":"'
        f'{root}/volumes/vl-x-two/_data","Name":"vl-x-two","Scope":"local","Size":"N/A"}}\n',
        "0 DRIVER    VOLUME NAME\nlocal     vl-x-one\n",
        "0 DRIVER    VOLUME NAME\nlocal     vl-x-two\n",
        "0 DRIVER    VOLUME NAME\nlocal     vl-x-one\n",
        "0 VOLUME NAME   LABELS    SIZE\nvl-x-one      a=b       N/A\n",
        "0 vl-x-one\nvl-x-two\n",
        "1 Error: Invalid filter 'bogus'\n",
        "1 Error: Invalid filter 'dangling=[maybe]'\n",
        '1 template parsing error: template: :1:2: executing "" at <.Status>: '
        f"can't evaluate field Status in type {context}\n",
    ]


def test_volume_ls_side_by_side_with_docker(cli: CLI, tmp_path: Path) -> None:
    docker = docker_side.docker(tmp_path)
    if docker is None:
        pytest.skip("no Docker daemon answers at DOCKER_HOST")
    tag = uuid.uuid4().hex[:8]
    theirs = _volume_ls_session(docker, tag)
    ours = _volume_ls_session(cli, tag)
    mountpoints = re.compile(r'"Mountpoint":"[^"]*"')
    assert [mountpoints.sub("", s) for s in ours] == [mountpoints.sub("", s) for s in theirs]

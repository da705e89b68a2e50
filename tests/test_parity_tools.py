"""Docker 20.10 parity for the tools around containers: `stats`, `logs --details`,
`attach -i`/`--no-stdin`, `system df -v`/`--format`, `volume ls --filter/--format`, and
`exec -t`'s failure. Expected words and columns are Docker's (docker/cli v20.10, cited by
file); where a Docker daemon answers at DOCKER_HOST, the same commands run side by side."""

from __future__ import annotations

import pytest

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

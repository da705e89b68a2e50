"""Failures told as what they are, in Docker's words, with nothing left half-written.

Docker's answers quoted here: `docker run --cpus=nan busybox true` -> `invalid argument "nan"
for "--cpus" flag: failed to parse nan as a rational number` (opts.ParseCPUs), exit 125;
`--cpu-shares=-5` -> `shares: invalid argument` (its daemon, as it makes the spec).
"""

from __future__ import annotations

import pytest

from .conftest import CLI

NAN = 'invalid argument "nan" for "--cpus" flag: failed to parse nan as a rational number'

pytestmark = pytest.mark.system


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("--cpus=nan", NAN),
        ("--cpus=inf", NAN.replace("nan", "inf")),
        ("--cpus=0.000000001", None),  # one nano-CPU: precise enough
        ("--cpus=0.0000000001", 'invalid argument "0.0000000001" for "--cpus" flag: value is too'),
        ("--cpus=1e400", "Range of CPUs is from 0.01 to"),
        ("--cpu-shares=-5", "shares: invalid argument"),
        ("--memory=nan", 'invalid argument "nan" for "--memory" flag: invalid size'),
        ("--memory-swap=nan", 'invalid argument "nan" for "--memory-swap" flag: invalid size'),
    ],
)  # fmt: skip
def test_a_bad_limit_flag_is_named_not_the_store_s_daemon_json(
    cli: CLI, flag: str, message: str | None
) -> None:
    r = cli("run", "--rm", flag, "busybox", "true")
    if message is None:
        assert (r.code, r.err) == (0, "")
        return
    assert r.code == 125 and r.err.startswith(f"Error: {message}"), r.err
    assert len(r.err.splitlines()) == 1 and "daemon.json" not in r.err
    assert cli("ps", "-aq").out == ""  # nothing created


def test_update_names_the_flag_and_daemon_json_is_blamed_only_for_its_own_values(
    cli: CLI,
) -> None:
    assert cli("create", "--name", "he-up", "busybox").code == 0
    r = cli("update", "--cpus", "nan", "he-up")
    assert (r.code, r.err) == (1, f"Error: {NAN}\n")
    (cli.root / "daemon.json").write_text('{"default-cpus": "nan"}')
    r = cli("run", "--rm", "busybox", "true")
    assert r.code == 125 and "daemon.json: failed to parse nan as a rational number" in r.err
    assert cli("run", "--rm", "--cpus", "1", "busybox", "true").code == 0  # the flag wins

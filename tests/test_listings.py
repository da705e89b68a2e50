"""Listing flags on real containers: ps/images/history --format and filters, logs windows,
inspect --type/-s. Each test states what Docker 20.10 (daemon, docker 28 CLI) answered for
the same busybox and the same commands."""

from __future__ import annotations

import json
import time

import pytest

from .conftest import CLI

pytestmark = pytest.mark.system


def _wait_for(cli: CLI, name: str, status: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if cli("inspect", "-f", "{{.State.Status}}", name).out.strip() == status:
            return
        time.sleep(0.05)
    raise AssertionError(f"{name} never became {status}")


def test_ps_format_filters_and_last(cli: CLI) -> None:
    assert cli("run", "--name", "pl-a", "-l", "app=web", "busybox", "true").code == 0
    assert cli("create", "--name", "pl-b", "busybox", "true").code == 0

    # Docker: the table header from the template, then one row per container.
    out = cli("ps", "-a", "--format", "table {{.Names}}\t{{.Status}}", "-f", "name=pl-").out
    lines = out.splitlines()
    assert lines[0].split() == ["NAMES", "STATUS"]
    assert [line.split()[0] for line in lines[1:]] == ["pl-b", "pl-a"]

    # Docker: `pl-a web app=web exited` (.Label is a method taking the key).
    fmt = '{{.Names}} {{.Label "app"}} {{.Labels}} {{.State}}'
    assert cli("ps", "-a", "--format", fmt, "-f", "name=pl-a").out == "pl-a web app=web exited\n"
    assert cli("ps", "-a", "-f", "status=exited", "--format", "{{.Names}}").out == "pl-a\n"
    # Docker: status= implies -a; exited= does not.
    assert cli("ps", "-f", "status=created", "--format", "{{.Names}}").out == "pl-b\n"
    assert cli("ps", "-f", "exited=0", "--format", "{{.Names}}").out == ""
    assert cli("ps", "-a", "-f", "exited=0", "--format", "{{.Names}}").out == "pl-a\n"
    assert cli("ps", "-a", "-f", "label=app=web", "--format", "{{.Names}}").out == "pl-a\n"
    assert cli("ps", "-a", "-f", "label=app", "--format", "{{.Names}}").out == "pl-a\n"
    both = cli("ps", "-a", "-f", "ancestor=busybox", "--format", "{{.Names}}").out
    assert both == "pl-b\npl-a\n"
    # Docker: -n and -l imply -a, newest first.
    assert cli("ps", "-n", "1", "--format", "{{.Names}}").out == "pl-b\n"
    assert cli("ps", "-l", "--format", "{{.Names}}").out == "pl-b\n"
    size = cli("ps", "-a", "-f", "name=pl-b", "--format", "{{.Size}}").out
    assert size.startswith("0B (virtual ") and size.endswith("MB)\n")

    # Docker: `Error response from daemon: Invalid filter 'bogus'`, exit 1.
    bad = cli("ps", "-f", "bogus=1")
    assert bad.code == 1 and "Invalid filter 'bogus'" in bad.err
    bad = cli("ps", "-f", "status=bogus")
    assert bad.code == 1 and "Invalid filter 'status=bogus'" in bad.err
    bad = cli("ps", "-f", "nofilter")
    assert "bad format of filter (expected name=value)" in bad.err and bad.code != 0
    # Docker: the field error even with no row to format, exit 1.
    bad = cli("ps", "--format", "{{.Nope}}")
    assert bad.code == 1
    assert "can't evaluate field Nope in type *formatter.ContainerContext" in bad.err, bad.err


def test_images_reference_filters_format_and_digests(cli: CLI) -> None:
    assert cli("tag", "busybox", "pl-bb:v1").code == 0
    # Docker: `images pl-bb` lists only that repository; a glob works too.
    out = cli("images", "pl-bb").out.splitlines()
    assert out[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert [line.split()[:2] for line in out[1:]] == [["pl-bb", "v1"]]
    assert cli("images", "pl-*", "--format", "{{.Repository}}:{{.Tag}}").out == "pl-bb:v1\n"
    assert cli("images", "pl-bb:v1", "-q").out.strip() == cli("images", "busybox", "-q").out.strip()
    ref = cli("images", "-f", "reference=pl-bb:*", "--format", "{{.Repository}} {{.Digest}}")
    assert ref.out == "pl-bb <none>\n"  # Docker: `<none>` digest for a local image
    dangling = cli("images", "-f", "dangling=true")
    assert dangling.out.split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert cli("images", "-f", "dangling=false", "--format", "{{.ID}}").out.count("\n") == 2
    # Docker: `Invalid filter 'dangling=[maybe]'`, exit 1.
    bad = cli("images", "-f", "dangling=maybe")
    assert bad.code == 1 and "Invalid filter 'dangling=[maybe]'" in bad.err
    assert cli("images", "-f", "before=pl-bb:v1", "-q").out == ""
    digests = cli("images", "--digests", "pl-bb").out.splitlines()
    assert digests[0].split()[:3] == ["REPOSITORY", "TAG", "DIGEST"]
    assert digests[1].split()[2] == "<none>"
    data = json.loads(cli("images", "--format", "{{json .}}", "pl-bb").out)
    assert (data["Repository"], data["Tag"], data["Containers"]) == ("pl-bb", "v1", "N/A")


def test_history_human_false_and_format(cli: CLI) -> None:
    # Docker: -H=false prints CREATED AT (RFC 3339) and sizes in bytes.
    raw = cli("history", "-H=false", "busybox").out.splitlines()
    assert raw[0].split()[:4] == ["IMAGE", "CREATED", "AT", "CREATED"]
    assert any(line.split()[-1].isdigit() or line.split()[-2].isdigit() for line in raw[1:])
    assert (
        cli("history", "--human=false", "busybox").out == cli("history", "-H=false", "busybox").out
    )
    table = cli("history", "--format", "table {{.ID}}\t{{.Size}}", "-H=false", "busybox").out
    assert table.splitlines()[0].split() == ["IMAGE", "SIZE"]
    assert table.splitlines()[-1].split()[-1].isdigit()
    human = cli("history", "--format", "{{.CreatedSince}}|{{.Size}}", "busybox").out
    assert all(line.split("|")[0].endswith("ago") for line in human.splitlines())


def test_logs_tail_since_until(cli: CLI) -> None:
    script = "echo one; echo two; echo three; echo four"
    assert cli("run", "--name", "pl-log", "busybox", "sh", "-c", script).code == 0
    # Docker: --tail 2 is the last two lines; 0 none; a word or -1 is all.
    assert cli("logs", "--tail", "2", "pl-log").out == "three\nfour\n"
    assert cli("logs", "-n", "0", "pl-log").out == ""
    assert cli("logs", "--tail", "x", "pl-log").out == "one\ntwo\nthree\nfour\n"
    assert cli("logs", "-n", "-1", "pl-log").out == "one\ntwo\nthree\nfour\n"
    assert cli("logs", "--since", "10m", "pl-log").out == "one\ntwo\nthree\nfour\n"
    assert cli("logs", "--until", "10m", "pl-log").out == ""
    assert cli("logs", "--since", "2020-01-01", "pl-log").out.count("\n") == 4
    assert cli("logs", "--until", "1", "pl-log").out == ""  # unix seconds
    # Docker: `invalid value for "since": failed to parse value as time or duration`, exit 1.
    bad = cli("logs", "--since", "bogus", "pl-log")
    assert bad.code == 1
    assert 'invalid value for "since": failed to parse value as time or duration: "bogus"' in (
        bad.err
    )


def test_inspect_type_size_and_template_exit_codes(cli: CLI) -> None:
    assert cli("create", "--name", "pl-i", "busybox", "true").code == 0
    # Docker: --type image on a container name is not found, exit 1.
    assert cli("inspect", "--type", "image", "pl-i").code == 1
    assert cli("inspect", "--type", "container", "busybox").code == 1
    assert cli("inspect", "--type", "image", "-f", "{{.Os}}", "busybox").out == "linux\n"
    bad = cli("inspect", "--type", "foo", "busybox")
    assert bad.code == 1 and 'unknown type: "foo"' in bad.err
    # Docker: `0 1984132` for SizeRw and SizeRootFs (its busybox's bytes).
    sizes = cli("inspect", "-s", "-f", "{{.SizeRw}} {{.SizeRootFs}}", "pl-i").out.split()
    assert sizes[0] == "0" and int(sizes[1]) > 1_000_000
    image = cli("inspect", "-s", "-f", "{{.Size}}", "busybox")
    assert image.err == "WARNING: --size ignored for image\n" and image.out.strip().isdigit()
    # Docker: parse errors exit 64 whatever the names, execution errors 1.
    parse = cli("inspect", "-f", "{{if}}", "nosuch")
    assert parse.code == 64
    assert parse.err == "template parsing error: template: :1: missing value for if\n"
    missing = cli("inspect", "-f", "{{.Nope}}", "pl-i")
    assert missing.code == 1
    assert 'at <.Nope>: map has no entry for key "Nope"' in missing.err
    ranged = cli("inspect", "-f", "{{range .Config.Cmd}}[{{.}}]{{end}}", "pl-i")
    assert ranged.out == "[true]\n"


def test_stop_timeout_and_restart_t(cli: CLI) -> None:
    assert cli("run", "-d", "--name", "pl-s", "busybox", "sleep", "300").code == 0
    # Docker: `stop --timeout` is `-t`; restart takes `-t` too and prints the name.
    assert cli("restart", "-t", "0", "pl-s").out == "pl-s\n"
    _wait_for(cli, "pl-s", "running")
    assert cli("stop", "--timeout", "0", "pl-s").out == "pl-s\n"
    assert cli("inspect", "-f", "{{.State.Status}}", "pl-s").out == "exited\n"

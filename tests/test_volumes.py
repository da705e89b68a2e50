"""Volumes, bind mounts and tmpfs on real containers: storage that bypasses the union.

Each Docker answer quoted here was measured side by side with Docker 20.10 and the
same busybox.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from layerlab.engine import CreateOptions, Engine

from .conftest import CLI

pytestmark = pytest.mark.system


def test_volume_create_ls_inspect_rm_as_docker_prints_them(cli: CLI, root: Path) -> None:
    assert cli("volume", "create", "pv-v1").out == "pv-v1\n"
    assert cli("volume", "create", "pv-v1").code == 0  # Docker: idempotent, prints the name
    assert cli("volume", "ls").out == "DRIVER    VOLUME NAME\nlocal     pv-v1\n"
    assert cli("volume", "ls", "-q").out == "pv-v1\n"
    [info] = json.loads(cli("volume", "inspect", "pv-v1").out)
    assert list(info) == ["CreatedAt", "Driver", "Labels", "Mountpoint", "Name", "Options",
                          "Scope"]  # fmt: skip
    assert info["Mountpoint"] == str(root / "volumes" / "pv-v1" / "_data")
    # Docker 20.10: `volume create` sends empty maps (a `-v` volume has them null).
    assert (info["Driver"], info["Labels"], info["Options"]) == ("local", {}, {})
    labelled = json.loads(cli("volume", "inspect", cli("volume", "create", "--label", "a=b",
                                                       "pv-v2").out.strip()).out)  # fmt: skip
    assert labelled[0]["Labels"] == {"a": "b"}
    # Docker: `[]` on stdout, "get pv-nosuch: no such volume", exit 1.
    missing = cli("volume", "inspect", "pv-nosuch")
    assert (missing.code, missing.out) == (1, "[]\n")
    assert "get pv-nosuch: no such volume" in missing.err
    # Docker removes the one it can, reports the other, exits 1.
    both = cli("volume", "rm", "pv-v1", "pv-nosuch")
    assert (both.code, both.out) == (1, "pv-v1\n")
    assert "get pv-nosuch: no such volume" in both.err
    bad = cli("volume", "create", "pv-x!")
    assert (
        bad.code == 1 and '"pv-x!" includes invalid characters for a local volume name' in bad.err
    )


def test_a_volume_file_is_not_in_diff_commit_or_export(engine: Engine, cli: CLI) -> None:
    """The lesson: a volume bypasses the union. Docker: `diff` lists only the mount point
    (`A /data`); the committed image and the export lack the volume's file."""
    run = cli("run", "--name", "pv-c", "-v", "pv-data:/data", "busybox",
              "sh", "-c", "echo kept > /data/f; echo layer > /top")  # fmt: skip
    assert run.code == 0, run.err
    assert cli("diff", "pv-c").out == "A /data\nA /top\n"
    volume = engine.volume("pv-data")
    assert (volume.mountpoint / "f").read_text() == "kept\n"
    image = cli("commit", "pv-c", "pv-img").out.strip()
    ls = cli("run", "--rm", image, "ls", "-a", "/data")
    assert ls.out.split() == [".", ".."]  # the mount point went into the layer, not the file
    buf = io.BytesIO()
    engine.export("pv-c", buf)
    with tarfile.open(fileobj=io.BytesIO(buf.getvalue())) as tar:
        names = tar.getnames()
    assert "data" in names and "top" in names and "data/f" not in names
    [mount] = engine.inspect("pv-c")["Mounts"]
    assert mount == {
        "Type": "volume", "Name": "pv-data", "Source": str(volume.mountpoint),
        "Destination": "/data", "Driver": "local", "Mode": "z", "RW": True, "Propagation": "",
    }  # fmt: skip
    assert engine.inspect("pv-c")["HostConfig"]["Binds"] == ["pv-data:/data"]


def test_a_bind_mount_is_seen_inside_and_ro_is_refused(cli: CLI, tmp_path: Path) -> None:
    host = tmp_path / "host"
    host.mkdir()
    (host / "f").write_text("hostfile\n")
    # Docker: prints the file, then "touch: /h/x: Read-only file system", exit 1.
    ro = cli("run", "--rm", "-v", f"{host}:/h:ro", "busybox", "sh", "-c", "cat /h/f; touch /h/x")
    assert ro.code == 1 and ro.out == "hostfile\n"
    assert "Read-only file system" in ro.err
    assert not (host / "x").exists()
    rw = cli("run", "--name", "pv-b", "-v", f"{host}:/h", "busybox", "sh", "-c", "echo b > /h/b")
    assert rw.code == 0 and (host / "b").read_text() == "b\n"
    inspect = json.loads(cli("inspect", "pv-b").out)[0]
    assert inspect["Mounts"] == [
        {"Type": "bind", "Source": str(host), "Destination": "/h", "Mode": "", "RW": True,
         "Propagation": "rprivate"},
    ]  # fmt: skip
    assert cli("diff", "pv-b").out == "A /h\n"  # Docker: the mount point only


def test_a_named_volume_is_filled_from_the_image_on_first_use(engine: Engine, cli: CLI) -> None:
    """Docker copies the image's files at the mount point into an empty volume."""
    listing = cli("run", "--rm", "-v", "pv-etc:/etc", "busybox", "ls", "/etc").out.split()
    assert "hostname" in listing
    data = engine.volume("pv-etc").mountpoint
    image_etc = {p.name for p in data.iterdir()}
    assert image_etc and image_etc <= set(listing)
    # Not again: a volume with files keeps them.
    (data / "mine").write_text("x")
    again = cli("run", "--rm", "-v", "pv-etc:/etc", "busybox", "ls", "/etc").out.split()
    assert "mine" in again


def test_volume_rm_refuses_a_volume_in_use(engine: Engine, cli: CLI) -> None:
    c = engine.create("busybox", CreateOptions(command=["true"], volumes=["pv-used:/u"]))
    # Docker: "remove pv-used: volume is in use - [<full id>]", exit 1.
    refused = cli("volume", "rm", "pv-used")
    assert refused.code == 1
    assert f"remove pv-used: volume is in use - [{c.id}]" in refused.err
    assert cli("volume", "prune", "-f").out == "Total reclaimed space: 0B\n"
    cli("rm", c.id)  # a named volume outlives its container, even with -v
    assert cli("volume", "ls", "-q").out == "pv-used\n"
    pruned = cli("volume", "prune", "-f")
    assert pruned.out == "Deleted Volumes:\npv-used\n\nTotal reclaimed space: 0B\n"


def test_volume_in_a_dockerfile_gives_each_container_an_anonymous_volume(
    engine: Engine, cli: CLI, tmp_path: Path
) -> None:
    """Docker: `cat /vol/seed` works, writing /vol/f works, `diff` is empty (/vol is in the
    image), `.Mounts` holds one anonymous volume; `rm -v` removes it."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(
        "FROM busybox\nRUN mkdir /vol && echo seed > /vol/seed\nVOLUME /vol\n"
    )
    assert cli("build", "-q", "-t", "pv-volimg", str(ctx)).code == 0
    run = cli("run", "--name", "pv-v", "pv-volimg", "sh", "-c", "cat /vol/seed; echo x > /vol/f")
    assert (run.code, run.out) == (0, "seed\n")
    assert cli("diff", "pv-v").out == ""
    data = engine.inspect("pv-v")
    [mount] = data["Mounts"]
    assert (mount["Type"], mount["Destination"], mount["Mode"]) == ("volume", "/vol", "")
    assert len(mount["Name"]) == 64 and data["Config"]["Volumes"] == {"/vol": {}}
    assert (Path(mount["Source"]) / "f").read_text() == "x\n"
    assert cli("volume", "ls", "-q").out == mount["Name"] + "\n"
    assert cli("rm", "-v", "pv-v").code == 0
    assert cli("volume", "ls", "-q").out == ""
    # `run --rm` takes its anonymous volume with it.
    assert cli("run", "--rm", "pv-volimg", "touch", "/vol/g").code == 0
    assert cli("volume", "ls", "-q").out == ""


def test_tmpfs_and_mount_flags(engine: Engine, cli: CLI) -> None:
    run = cli("run", "--name", "pv-t", "--tmpfs", "/t", "--mount", "type=volume,dst=/m",
              "busybox", "sh", "-c", "echo t > /t/t; mount | grep ' /t '")  # fmt: skip
    assert run.code == 0 and "tmpfs on /t type tmpfs" in run.out
    data = engine.inspect("pv-t")
    assert data["HostConfig"]["Tmpfs"] == {"/t": ""}
    assert [m["Destination"] for m in data["Mounts"]] == ["/m"]  # Docker leaves --tmpfs out
    assert data["HostConfig"]["Mounts"] == [{"Type": "volume", "Source": "", "Target": "/m"}]
    assert cli("diff", "pv-t").out == "A /m\nA /t\n"
    # Docker's words for bad mounts.
    cases = {
        ("--mount", "type=nope,dst=/x"): 'invalid mount config for type "nope": mount type unknown',
        ("--mount", "type=bind,dst=/x"):
            'invalid mount config for type "bind": field Source must not be empty',
        ("--mount", "type=bind,src=/pv-nosuchdir,dst=/x"):
            'invalid mount config for type "bind": bind source path does not exist: /pv-nosuchdir',
        ("--tmpfs", "rel"): "invalid mount path: 'rel' mount path must be absolute",
        ("-v", "/x:rel"): "invalid volume specification: '/x:rel': invalid mount config for "
                          "type \"bind\": invalid mount path: 'rel' mount path must be absolute",
    }  # fmt: skip
    for flags, words in cases.items():
        result = cli("create", *flags, "busybox")
        assert result.code != 0 and words in result.err, (flags, result.err)
    dup = cli("create", "-v", "pv-a:/x", "-v", "pv-b:/x", "busybox")
    assert "Duplicate mount point: /x" in dup.err
    assert engine.containers(all=True)[0].name == "pv-t"  # nothing else was created


def test_ps_size_and_inspect_size(engine: Engine, cli: CLI) -> None:
    """Docker: SIZE `62B (virtual 1.98MB)`: the writable layer, then it plus the image;
    `inspect -s` adds SizeRw and SizeRootFs (without -s they are absent)."""
    run = cli("run", "--name", "pv-s", "busybox", "sh", "-c", "printf 1234567 > /f")
    assert run.code == 0
    image_size = engine.image("busybox").size
    data = json.loads(cli("inspect", "-s", "pv-s").out)[0]
    assert (data["SizeRw"], data["SizeRootFs"]) == (7, 7 + image_size)
    assert "SizeRw" not in json.loads(cli("inspect", "pv-s").out)[0]
    header, row = cli("ps", "-a", "-s").out.splitlines()
    assert header.split()[-1] == "SIZE"
    from layerlab.presentation.humanize import human_size

    assert row.endswith(f"7B (virtual {human_size(7 + image_size, precision=3)})")


def test_rm_v_keeps_an_anonymous_volume_another_container_mounts(engine: Engine) -> None:
    first = engine.create("busybox", CreateOptions(command=["true"], volumes=["/anon"]))
    [mount] = first.data["Mounts"]
    second = engine.create(
        "busybox", CreateOptions(command=["true"], volumes=[f"{mount['Name']}:/x"])
    )
    engine.rm(first.id, volumes=True)
    assert [v.name for v in engine.volumes()] == [mount["Name"]]
    engine.rm(second.id, volumes=True)  # named by this one: a name it did not make, so kept
    assert [v.name for v in engine.volumes()] == [mount["Name"]]

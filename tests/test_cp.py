"""`cp` on real containers: into the writable layer, out of the merged view, never out
of the container's root.

Each Docker answer quoted here was measured side by side with Docker 20.10 and the
same busybox.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from layerlab.engine import CreateOptions, Engine

from .conftest import CLI

pytestmark = pytest.mark.system


@pytest.fixture
def src(tmp_path: Path) -> Path:
    tree = tmp_path / "src"
    (tree / "sub").mkdir(parents=True)
    (tree / "a").write_text("hi\n")
    (tree / "sub" / "b").write_text("s\n")
    return tree


def test_cp_into_a_created_container_lands_in_its_writable_layer(
    engine: Engine, cli: CLI, src: Path
) -> None:
    """Docker writes a stopped container through its union: /etc exists only in the image,
    so the copy shows as `C /etc`, `A /etc/a` in `diff`."""
    c = engine.create("busybox", CreateOptions(command=["cat", "/etc/a"], name="pv-cp"))
    assert cli("cp", str(src / "a"), "pv-cp:/etc/").code == 0
    assert cli("cp", str(src), "pv-cp:/newdir").code == 0  # a new name: the dir as it
    assert cli("cp", str(src) + "/.", "pv-cp:/dot").code == 0  # `/.`: the contents
    assert cli("cp", str(src), "pv-cp:/etc/").code == 0  # an existing dir: into it
    assert cli("diff", "pv-cp").out.splitlines() == [
        "A /dot", "A /dot/a", "A /dot/sub", "A /dot/sub/b",
        "C /etc", "A /etc/a", "A /etc/src", "A /etc/src/a", "A /etc/src/sub", "A /etc/src/sub/b",
        "A /newdir", "A /newdir/a", "A /newdir/sub", "A /newdir/sub/b",
    ]  # fmt: skip
    assert (Path(c.upper_dir) / "etc" / "a").read_text() == "hi\n"
    assert not os.listdir(engine.store.tmp_dir)  # the copy's union is gone
    assert cli("start", "-a", "pv-cp").out == "hi\n"


def test_cp_path_rules_and_errors_as_docker(engine: Engine, cli: CLI, src: Path) -> None:
    engine.create("busybox", CreateOptions(command=["true"], name="pv-cp"))
    assert cli("cp", str(src / "a"), "pv-cp:/f").code == 0
    cases = [  # (args, Docker's words), all exit 1
        ((str(src / "a"), "pv-cp:/nosuch/"), "no such directory"),
        ((str(src / "a"), "pv-cp:/nosuch/x"), "Could not find the file /nosuch in container pv-cp"),
        ((str(src), "pv-cp:/f"), "cannot copy directory"),
        ((str(src / "a"), "pv-cp:/f/"), "no such directory"),
        ((str(src / "nope"), "pv-cp:/"), f"lstat {src / 'nope'}: no such file or directory"),
        (("pv-cp:/nosuch", str(src)), "Could not find the file /nosuch in container pv-cp"),
        (("pv-cp:/bin", str(src / "a")), "cannot copy directory"),
        (("pv-cp:/f", str(src / "new") + "/"), "no such directory"),
        ((str(src / "a"), str(src / "b")), "must specify at least one container source"),
        (("pv-cp:/a", "pv-cp:/b"), "copying between containers is not supported"),
    ]
    for args, words in cases:
        result = cli("cp", *args)
        assert (result.code, result.err) == (1, f"Error: {words}\n"), args


def test_cp_out_reads_through_the_union(engine: Engine, cli: CLI, tmp_path: Path) -> None:
    """The merged view: a file of the writable layer next to the image's own files."""
    _, code = engine.run(
        "busybox",
        CreateOptions(command=["sh", "-c", "mkdir /d; echo w > /d/w"], name="pv-out", attach=True),
        (subprocess.DEVNULL, subprocess.DEVNULL, subprocess.DEVNULL),
    )
    assert code == 0
    out = tmp_path / "out"
    assert cli("cp", "pv-out:/d", str(out)).code == 0
    assert (out / "w").read_text() == "w\n"
    assert cli("cp", "pv-out:/bin/busybox", str(tmp_path)).code == 0  # from the image layer
    assert (tmp_path / "busybox").stat().st_size > 0
    assert cli("cp", "pv-out:/d/.", str(tmp_path / "dot")).code == 0
    assert os.listdir(tmp_path / "dot") == ["w"]


def test_a_symlink_pointing_outside_never_escapes(engine: Engine, cli: CLI, tmp_path: Path) -> None:
    """Docker resolves links inside the container's root: `cp F c:/esc/` where /esc points at
    a host path writes the container's copy of that path; `-L` reads the container's; a
    relative link climbing out is refused on the host: `invalid symlink "…" -> "…"`."""
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "s").write_text("SECRET\n")
    rel = "../" * len(secret.parts) + str(secret / "s").lstrip("/")
    script = f"mkdir -p {secret}; echo inside > {secret}/in; ln -s {secret} /esc; ln -s {rel} /rel"
    c, code = engine.run(
        "busybox",
        CreateOptions(command=["sh", "-c", script], name="pv-esc", attach=True),
        (subprocess.DEVNULL, subprocess.DEVNULL, subprocess.DEVNULL),
    )
    assert code == 0
    (tmp_path / "x").write_text("x\n")
    assert cli("cp", str(tmp_path / "x"), "pv-esc:/esc/").code == 0
    assert cli("cp", str(tmp_path / "x"), "pv-esc:/rel").code == 0  # the container's /…/s
    assert sorted(os.listdir(secret)) == ["s"] and (secret / "s").read_text() == "SECRET\n"
    upper = Path(c.upper_dir)
    assert (upper / str(secret).lstrip("/") / "x").read_text() == "x\n"
    assert (upper / str(secret).lstrip("/") / "s").read_text() == "x\n"
    # Out: the link itself, or (-L) what it names inside the container.
    assert cli("cp", "pv-esc:/esc", str(tmp_path / "link")).code == 0
    assert os.readlink(tmp_path / "link") == str(secret)
    assert cli("cp", "-L", "pv-esc:/esc", str(tmp_path / "followed")).code == 0
    assert sorted(os.listdir(tmp_path / "followed")) == ["in", "s", "x"]
    refused = cli("cp", "pv-esc:/rel", str(tmp_path / "rel1"))
    assert refused.code == 1
    assert refused.err == f'Error: invalid symlink "{tmp_path / "rel1"}" -> "{rel}"\n'
    assert not (tmp_path / "rel1").exists()


def test_cp_into_a_running_container_and_its_volume(engine: Engine, cli: CLI, src: Path) -> None:
    """A running container's union is its own; a path under a volume lands in the volume
    (Docker writes there too) and so stays out of `diff`."""
    engine.run(
        "busybox", CreateOptions(command=["sleep", "60"], name="pv-run", volumes=["pv-vol:/v"])
    )
    assert cli("cp", str(src / "a"), "pv-run:/a").code == 0
    assert cli("cp", str(src / "a"), "pv-run:/v/").code == 0
    assert engine.exec("pv-run", ["cat", "/a", "/v/a"], stdio=(None, subprocess.DEVNULL, None)) == 0
    assert (engine.volume("pv-vol").mountpoint / "a").read_text() == "hi\n"
    assert cli("diff", "pv-run").out == "A /a\nA /v\n"


def test_cp_dash_is_a_tar_on_stdin_or_stdout(engine: Engine, root: Path, src: Path) -> None:
    """Docker: `cp c:/d -` writes a tar whose top is `d/`; `cp - c:/dir` unpacks one into an
    existing directory, else `destination "c:/x" must be a directory`."""
    engine.create("busybox", CreateOptions(command=["true"], name="pv-tar"))
    env = dict(os.environ, LAYERLAB_ROOT=str(root))
    layerlab = [sys.executable, "-m", "layerlab", "cp"]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(src, arcname=".")
    into = subprocess.run([*layerlab, "-", "pv-tar:/etc"], input=buf.getvalue(), env=env,
                          capture_output=True)  # fmt: skip
    assert into.returncode == 0, into.stderr
    not_dir = subprocess.run([*layerlab, "-", "pv-tar:/zz"], input=buf.getvalue(), env=env,
                             capture_output=True)  # fmt: skip
    assert not_dir.returncode == 1
    assert not_dir.stderr == b'Error: destination "pv-tar:/zz" must be a directory\n'
    out = subprocess.run([*layerlab, "pv-tar:/etc/sub", "-"], env=env, capture_output=True)
    assert out.returncode == 0, out.stderr
    with tarfile.open(fileobj=io.BytesIO(out.stdout)) as tar:
        names = tar.getnames()
    assert names == ["sub", "sub/b"]

"""The article's second half on real containers: commit, history, images, tag, rmi, diff."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from layerlab.engine import CreateOptions, Engine
from layerlab.errors import LayerlabError
from layerlab.storage import images as imagelib

from .conftest import CLI

pytestmark = pytest.mark.system


def test_base_image_is_a_real_one_layer_image(engine: Engine, root: Path) -> None:
    image = engine.image("busybox")
    assert len(image.layers) == 1
    layer = image.layers[0]
    assert layer.parent is None  # the bottom layer: no parent pointer
    assert (layer.diff_path / "bin/busybox").is_file()
    assert (layer.diff_path / "bin/sh").is_symlink()
    assert "root:x:0:0" in (layer.diff_path / "etc/passwd").read_text()
    assert image.config["config"]["Cmd"] == ["sh"]
    assert image.config["rootfs"]["diff_ids"] == [layer.diff_id]
    # the same busybox gives the same image id in any store
    assert Engine(root.parent / "other").image("busybox").id == image.id


def test_diff_reports_added_changed_deleted(engine: Engine, cli: CLI) -> None:
    r = cli(
        "run", "--name", "dd", "busybox", "sh", "-c",
        "mkdir /newdir && touch /newdir/f /tmp/x && rm /etc/group && echo hi >> /etc/passwd",
    )  # fmt: skip
    assert r.code == 0, r.err
    assert cli("diff", "dd").out.splitlines() == [
        "C /etc",
        "D /etc/group",
        "C /etc/passwd",
        "A /newdir",
        "A /newdir/f",
        "C /tmp",
        "A /tmp/x",
    ]


def test_commit_turns_the_writable_layer_into_a_read_only_layer(engine: Engine, cli: CLI) -> None:
    assert cli("run", "--name", "c1", "busybox", "touch", "/happiness.txt").code == 0
    base = engine.image("busybox")
    out = cli("commit", "-m", "be happy", "c1", "happy:v1")
    assert out.code == 0, out.err
    image_id = out.out.strip()
    assert image_id.startswith("sha256:") and len(image_id) == 71
    image = engine.image("happy:v1")
    assert image.id == image_id
    assert len(image.layers) == len(base.layers) + 1
    top = image.layers[-1]
    assert top.parent == base.layers[-1].chain_id  # each layer points to its parent
    assert (top.diff_path / "happiness.txt").is_file()
    assert image.config["config"]["Cmd"] == ["touch", "/happiness.txt"]
    # the container keeps its writable layer
    assert (Path(engine.container("c1").upper_dir) / "happiness.txt").exists()
    # the new image runs, and sees the file through its read-only layer
    assert cli("run", "--rm", "happy:v1", "ls", "/happiness.txt").out.strip() == "/happiness.txt"
    history = cli("history", "happy:v1").out.splitlines()
    assert history[0].split()[:2] == ["IMAGE", "CREATED"]
    assert history[1].startswith(image_id[7:19]) and "be happy" in history[1]
    assert history[2].startswith(base.id[7:19])
    assert history[3].startswith("<missing>")
    assert cli("inspect", "-f", "{{.Parent}}", "happy:v1").out.strip() == base.id


def test_commit_of_a_running_container_with_changes(engine: Engine, cli: CLI) -> None:
    engine.run("busybox", CreateOptions(command=["sleep", "60"], name="live"))
    assert cli("exec", "live", "sh", "-c", "echo data > /state").code == 0
    r = cli("commit", "-c", 'CMD ["cat", "/state"]', "-c", "ENV GREETING=hi", "live", "snap")
    assert r.code == 0, r.err
    assert engine.container("live").running and not engine.container("live").paused
    assert cli("run", "--rm", "snap").out == "data\n"
    env = cli("run", "--rm", "snap", "sh", "-c", "echo $GREETING").out
    assert env == "hi\n"


def test_images_hides_intermediate_images_and_tag_rmi(engine: Engine, cli: CLI) -> None:
    cli("run", "--name", "aa", "busybox", "touch", "/a")
    mid = cli("commit", "aa").out.strip()
    c = engine.create(mid, CreateOptions(command=["touch", "/b"], name="bb"))
    engine.start_attached(c.id)
    top = cli("commit", "bb", "top:1").out.strip()
    cli("rm", "aa", "bb")
    listing = cli("images").out
    assert "top" in listing and "busybox" in listing
    assert mid[7:19] not in listing  # untagged with a child: intermediate, hidden
    assert mid[7:19] in cli("images", "-a").out
    assert cli("tag", "top:1", "again:2").code == 0
    assert cli("rmi", "again:2").out == "Untagged: again:2\n"
    child = cli("rmi", mid)
    assert child.code == 1 and "dependent child images" in child.err  # Docker: 1
    r = cli("rmi", "top:1")
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert lines[0] == "Untagged: top:1"
    assert f"Deleted: {top}" in lines and f"Deleted: {mid}" in lines  # the parent chain goes too
    assert engine.image("busybox")  # still used as a base... and still there


def test_rmi_refuses_an_image_in_use(engine: Engine, cli: CLI) -> None:
    engine.create("busybox", CreateOptions(command=["true"]))
    r = cli("rmi", "busybox")
    assert r.code == 1 and "is using its referenced image" in r.err
    with pytest.raises(LayerlabError, match="must be forced"):
        engine.rmi(engine.image("busybox").id)


def test_bad_tag_is_refused(cli: CLI) -> None:
    r = cli("tag", "busybox", "UPPER:case")
    assert r.code == 1 and "invalid reference format" in r.err  # Docker: 1


LOWERCASE = "invalid reference format: repository name must be lowercase"
DIGEST = "@sha256:" + "0" * 64


@pytest.mark.parametrize(
    ("args", "code", "said"),
    [
        (["commit", "happy", "Happy-Image"], 1, LOWERCASE),
        (["create", "UPPER/case"], 1, LOWERCASE),  # create's errors past its flags: 1
        (["run", "--rm", "Busybox", "true"], 125, LOWERCASE),
        (["create", "busybox::x"], 1, "invalid reference format"),
        (["tag", "busybox", "x" + DIGEST], 1, "refusing to create a tag with a digest reference"),
        (["commit", "happy", "x" + DIGEST], 1, "refusing to create a tag with a digest reference"),
    ],
)
def test_a_name_that_does_not_parse_is_refused_in_dockers_words(
    engine: Engine, cli: CLI, args: list[str], code: int, said: str
) -> None:
    engine.create("busybox", CreateOptions(name="happy", command=["true"]))
    before = (engine.image_ids(), [c.id for c in engine.containers(all=True)])
    r = cli(*args)
    assert (r.code, r.err, r.out) == (code, f"Error: {said}\n", "")
    assert (engine.image_ids(), [c.id for c in engine.containers(all=True)]) == before


def test_export_is_the_merged_view_without_metadata(
    engine: Engine, cli: CLI, tmp_path: Path
) -> None:
    import tarfile

    cli("run", "--name", "ex", "busybox", "sh", "-c", "echo hi > /hello && rm /etc/group")
    out = tmp_path / "ex.tar"
    assert cli("export", "-o", str(out), "ex").code == 0
    with tarfile.open(out) as tar:
        names = set(tar.getnames())
        assert tar.extractfile("hello").read() == b"hi\n"  # type: ignore[union-attr]
    assert "etc/group" not in names and "etc/passwd" in names and "bin/busybox" in names
    assert not any(".wh." in n for n in names)  # deletions are applied, not recorded


def test_listings_skip_images_removed_meanwhile(engine: Engine) -> None:
    """Another writer commits and removes images in a loop while this one lists: no error."""
    base = engine.create("busybox", CreateOptions(command=["true"]))
    other = Engine(engine.store.root)  # its own store handle and lock, as another terminal
    stop = threading.Event()
    cycles = [0]
    failures: list[BaseException] = []

    def churn() -> None:
        try:
            while not stop.is_set():
                other.commit(base.id, "churn:latest")
                other.rmi("churn:latest")
                cycles[0] += 1
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    writer = threading.Thread(target=churn, daemon=True)
    writer.start()
    deadline = time.monotonic() + 60
    listed = 0
    try:
        while (listed < 200 or cycles[0] < 5) and time.monotonic() < deadline and not failures:
            engine.images()
            engine.images(all=True)
            engine.containers(all=True)
            engine.snapshot()
            listed += 1
    finally:
        stop.set()
        writer.join(30)
    assert not failures
    assert listed >= 200 and cycles[0] >= 5


def test_history_survives_more_history_entries_than_layers(engine: Engine, cli: CLI) -> None:
    base = engine.image("busybox")
    config = dict(base.config)
    config["history"] = [
        {"created": "2024-01-01T00:00:00Z", "created_by": "one"},
        {"created": "2024-01-01T00:00:00Z", "created_by": "two"},
    ]
    image_id = imagelib.write_image(engine.store, config)
    rows = engine.history(image_id)
    assert [r.created_by for r in rows] == ["two", "one"]
    assert [r.size for r in rows] == [0, base.layers[0].size]
    assert cli("history", image_id).code == 0

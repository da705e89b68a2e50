"""Docker 20.10 parity, round three, the smaller items: `load` over an existing tag, `start
-i` of a `-t` container with a piped stdin, and `update -m` against the swap already set.
The expected words are moby's and docker/cli's (cited by file)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import CLI

pytestmark = pytest.mark.system


def test_load_over_an_existing_tag_says_it_renames_the_old_image(cli: CLI, tmp_path: Path) -> None:
    # moby image/tarexport/load.go setLoadedTag: the line comes before its "Loaded image"
    assert cli("tag", "busybox", "mine:1").code == 0
    tar = tmp_path / "mine.tar"
    assert cli("save", "-o", str(tar), "mine:1").code == 0
    assert cli("run", "--name", "writer", "busybox", "touch", "/new").code == 0
    assert cli("commit", "writer", "mine:1").code == 0
    old = cli("inspect", "-f", "{{.Id}}", "mine:1").out.strip()
    loaded = cli("load", "-i", str(tar))
    assert loaded.code == 0
    assert loaded.out == (
        f"The image mine:1 already exists, renaming the old one with ID {old} to empty string\n"
        "Loaded image: mine:1\n"
    )
    again = cli("load", "-i", str(tar))  # the same image again: nothing renamed
    assert again.out == "Loaded image: mine:1\n"


def test_start_i_of_a_tty_container_takes_a_piped_stdin(cli: CLI) -> None:
    # docker/cli start.go attaches stdin as it is; only a terminal is put in raw mode
    assert (
        cli("create", "-it", "--name", "asks", "busybox", "sh", "-c", "read x; echo got $x").code
        == 0
    )
    started = cli("start", "-i", "asks", input="hello\n")
    assert started.code == 0, started.err
    assert "got hello" in started.out
    assert cli("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "asks").out == "exited 0\n"


def test_update_memory_above_the_swap_already_set_is_refused(cli: CLI) -> None:
    # moby container/container_unix.go UpdateContainer; daemon/update.go errCannotUpdate
    assert cli("create", "--name", "lim", "-m", "32m", "busybox").code == 0
    cid = cli("inspect", "-f", "{{.Id}}", "lim").out.strip()
    refused = cli("update", "--memory", "100m", "lim")
    assert refused.code == 1
    assert refused.err == (
        f"Error: Cannot update container {cid}: Memory limit should be smaller than already set"
        " memoryswap limit, update the memoryswap at the same time\n"
    )
    shown = "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}}"
    assert cli("inspect", "-f", shown, "lim").out == f"{32 << 20} {64 << 20}\n"  # unchanged
    assert cli("update", "--memory", "48m", "lim").code == 0  # below the swap: it stays
    assert cli("inspect", "-f", shown, "lim").out == f"{48 << 20} {64 << 20}\n"
    assert cli("update", "-m", "100m", "--memory-swap", "200m", "lim").code == 0
    assert cli("inspect", "-f", shown, "lim").out == f"{100 << 20} {200 << 20}\n"
    assert cli("create", "--name", "free", "busybox").code == 0
    assert cli("update", "-m", "64m", "free").code == 0  # no swap set: none is made up
    assert cli("inspect", "-f", shown, "free").out == f"{64 << 20} 0\n"


def test_system_df_reclaims_all_but_the_unique_size_of_images_in_use(cli: CLI) -> None:
    # docker/cli formatter/disk_usage.go Reclaimable: total - sum(VirtualSize - SharedSize) of
    # the images with containers; a layer shared with another image counts as reclaimable.
    made = cli("run", "--name", "writer", "busybox", "sh", "-c", "head -c 100000 /dev/zero >/f")
    assert made.code == 0, made.err
    assert cli("commit", "writer", "mine:1").code == 0
    assert cli("rm", "writer").code == 0
    sizes = cli("images", "--format", "{{.Repository}} {{.Size}}").out
    assert cli("create", "--name", "on-busybox", "busybox").code == 0
    df = "{{.Type}} {{.Active}} {{.Reclaimable}}"

    def images_row() -> str:
        return cli("system", "df", "--format", df).out.splitlines()[0]

    # busybox's one layer is shared with mine:1, so nothing of it is unique: all reclaimable
    assert images_row().endswith("(100%)"), (images_row(), sizes)
    assert cli("create", "--name", "on-mine", "mine:1").code == 0
    total = cli("system", "df", "--format", "{{.Size}}").out.splitlines()[0]
    row = images_row()  # mine:1's own layer is kept; busybox's, shared, still counts
    assert row.startswith("Images 2 ") and not row.endswith(f"{total} (100%)"), row
    assert cli("rm", "-f", "on-busybox", "on-mine").code == 0
    assert images_row() == f"Images 0 {total} (100%)"

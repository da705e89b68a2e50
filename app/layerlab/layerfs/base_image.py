"""The busybox base image, made from the host's static busybox on its first use, as
`docker run` pulls an image it lacks (layerlab pulls nothing: every other image is
loaded, imported or built)."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

from layerlab.errors import NotFound
from layerlab.presentation.humanize import rfc3339_nano
from layerlab.storage import images
from layerlab.storage.reference import normalize_ref
from layerlab.storage.store import Store

BASE_IMAGE = "busybox:latest"
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
HOST_BUSYBOX = Path("/bin/busybox")


def resolve(store: Store, ref: str) -> images.Image:
    """The image `ref` names (`images.resolve_image`); `busybox` is made if the store lacks it."""
    try:
        return images.resolve_image(store, ref)
    except NotFound:
        if normalize_ref(ref) != BASE_IMAGE:
            raise
    ensure_base_image(store)
    return images.resolve_image(store, ref)


def busybox_applets() -> list[str]:
    """Install paths of every applet the host's static busybox provides (`bin/sh`, ...)."""
    out = subprocess.run(
        [str(HOST_BUSYBOX), "--list-full"], capture_output=True, text=True, check=True
    ).stdout
    return sorted({line.strip() for line in out.splitlines() if line.strip()})


def _populate_busybox_rootfs(root: Path, mtime: float) -> None:
    import shutil  # on use: its import (bz2, lzma) would cost every `run`

    for d, mode in (
        ("bin", 0o755), ("dev", 0o755), ("etc", 0o755), ("home", 0o755), ("proc", 0o555),
        ("root", 0o700), ("sbin", 0o755), ("sys", 0o555), ("tmp", 0o1777), ("usr", 0o755),
        ("usr/bin", 0o755), ("usr/sbin", 0o755), ("var", 0o755), ("var/spool", 0o755),
        ("var/spool/mail", 0o755), ("var/www", 0o755),
    ):  # fmt: skip
        (root / d).mkdir(parents=True, exist_ok=True)
        os.chmod(root / d, mode)
    shutil.copy2(HOST_BUSYBOX, root / "bin/busybox")
    os.chmod(root / "bin/busybox", 0o755)
    for applet in busybox_applets():
        target = root / applet
        if applet == "bin/busybox" or target.exists() or target.is_symlink():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        os.symlink("/bin/busybox", target)
    (root / "etc/passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\n"
        "daemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
        "nobody:x:65534:65534:nobody:/home:/bin/false\n"
    )
    (root / "etc/group").write_text("root:x:0:\ndaemon:x:1:\ntty:x:5:\nnogroup:x:65534:\n")
    # A fixed mtime makes the layer - and so the image id - the same on every
    # store built from the same busybox binary.
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for name in filenames + dirnames:
            os.utime(os.path.join(dirpath, name), (mtime, mtime), follow_symlinks=False)
    os.utime(root, (mtime, mtime))


def ensure_base_image(store: Store) -> str:
    """Make `busybox:latest` from the host's static busybox: one real layer, one config."""
    if not HOST_BUSYBOX.exists():
        raise NotFound(
            "No such image: busybox:latest (install Debian's busybox-static to create it)"
        )
    from layerlab.layerfs import layer_store  # tar machinery: only when busybox is made

    with store.lock():
        existing = store.find_image(BASE_IMAGE)
        if existing:
            return existing
        mtime = float(int(HOST_BUSYBOX.stat().st_mtime))
        binary_digest = hashlib.sha256(HOST_BUSYBOX.read_bytes()).hexdigest()
        add_by = f"/bin/sh -c #(nop) ADD file:{binary_digest} in / "
        created = rfc3339_nano(mtime)
        staged = store.make_tmp_dir("layer-")
        try:
            _populate_busybox_rootfs(staged / "diff", mtime)
            layer = layer_store.add_layer(store, staged, None, add_by, created)
        except BaseException:
            store.discard(staged)
            raise
        config = {
            "architecture": images.docker_arch(),
            "os": "linux",
            "created": created,
            "config": {"Env": [DEFAULT_PATH], "Cmd": ["sh"]},
            "rootfs": {"type": "layers", "diff_ids": [layer.diff_id]},
            "history": [
                {"created": created, "created_by": add_by},
                {
                    "created": created,
                    "created_by": '/bin/sh -c #(nop)  CMD ["sh"]',
                    "empty_layer": True,
                },
            ],
        }
        image_id = images.write_image(store, config)
        images.tag_image(store, image_id, BASE_IMAGE)
        return image_id

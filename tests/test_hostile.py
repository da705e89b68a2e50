"""Issue 12: hostile input, generated (hypothesis) - tars for `import` and `load`,
Dockerfiles for the parser and `build`, broken store files for every listing.

Each case is answered by exit 0 (accepted, safely) or by one error line and a
non-zero exit - never an internal error: the CLI runs in-process with LAYERLAB_DEBUG
set, so an exception that is no user error escapes and fails the test with its
example. After each case nothing changed outside the store (a folder of bait files
sits beside it, and symlink and hardlink targets point into it), no scratch work is
left, and `system check` finds nothing. The counts are printed in the test output.

Deterministic (`derandomize`), no deadline: a loaded CI machine is slow, not wrong.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import tarfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from layerlab.build.dockerfile import parse_dockerfile
from layerlab.build.lexer import Lexer
from layerlab.engine import Engine, fsck
from layerlab.errors import LayerlabError
from layerlab.layerfs.layers import walk_at
from layerlab.main import main

pytestmark = pytest.mark.system

SETTINGS = settings(
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


class Store:
    """One store beside a folder of bait files, driven through the in-process CLI."""

    def __init__(self, base: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.base = base
        self.root = base / "store"
        self.outside = base / "outside"
        self.inputs = base / "inputs"
        self.capsys = capsys
        self.outside.mkdir()
        (self.outside / "secret").write_text("host secret\n")
        (self.outside / "dir").mkdir()
        self.inputs.mkdir()
        self.counts: Counter[str] = Counter()
        self._bait = self.picture()

    def cli(self, *args: str) -> tuple[int, str, str]:
        """The command as `layerlab ARGS` runs it; (exit code, stdout, stderr)."""
        self.capsys.readouterr()
        code = main(list(args))
        out, err = self.capsys.readouterr()
        return code, out, err

    def picture(self) -> dict[str, tuple[int, int, bytes]]:
        """Everything beside the store (bait included): kind, size, content, per path."""
        found = {}
        for dirpath, dirnames, filenames in os.walk(self.base):
            if Path(dirpath) == self.base:
                dirnames[:] = [d for d in dirnames if d not in ("store", "inputs")]
            for name in dirnames + filenames:
                path = os.path.join(dirpath, name)
                st_ = os.lstat(path)
                data = b""
                if os.path.isfile(path) and not os.path.islink(path):
                    data = Path(path).read_bytes()
                found[path] = (st_.st_mode, st_.st_nlink, data)
        return found

    def answered(self, what: str, code: int, err: str) -> bool:
        """Accepted (True) or refused in one line (`Error: ...`; a build's in Docker's
        words); counted either way."""
        self.counts[f"{what} tried"] += 1
        if code == 0:
            self.counts[f"{what} accepted"] += 1
            return True
        # A broken store entry is also named, in a warning line, by whatever reads past it.
        lines = [line for line in err.strip().splitlines() if not line.startswith("WARNING: ")]
        assert len(lines) == 1 and lines[0].strip(), err[:2000]
        assert "LAYERLAB_DEBUG" not in err and "Traceback" not in err, err[:2000]
        self.counts[f"{what} rejected"] += 1
        return False

    def consistent(self) -> None:
        assert self.picture() == self._bait, "something changed outside the store"
        tmp = self.root / "tmp"
        assert not tmp.exists() or not list(tmp.iterdir()), list(tmp.iterdir())
        problems = [p.line() for p in fsck.check(Engine(self.root))]
        assert problems == [], problems

    def report(self, title: str) -> None:
        with self.capsys.disabled():
            print(f"\n{title}: " + ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items())))


@pytest.fixture
def store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Store]:
    monkeypatch.setenv("LAYERLAB_ROOT", str(tmp_path / "store"))
    monkeypatch.setenv("LAYERLAB_DEBUG", "1")  # an internal error raises, with its example
    s = Store(tmp_path, capsys)
    yield s
    engine = Engine(s.root)
    for c in engine.containers(all=True):
        engine.rm(c.id, force=True)


# --- hostile tars ---------------------------------------------------------------------

# {out} is the bait folder beside the store: where an escape would land.
NAMES = [
    "a", "a/b", "./a", "a/../b", "d/", "../x", "../../x", "{out}/abs", "../" * 12 + "{out}/rel",
    "l/x", "l/../x", "l/dir/y", "h", "a" * 300, "/".join(["d"] * 120) + "/f", ".", "..", "/",
    ".wh.a", "a/.wh.b", ".wh..wh..opq", "d/.wh..wh..opq", ".wh.", ".wh..", ".wh...",
    "../.wh.x", ".wh.{out}", "a\\b", "ü", "a\nb", "l",
]  # fmt: skip
TARGETS = [
    "/", "..", "../..", "{out}", "{out}/secret", "{out}/dir", "/etc/passwd", "a", "l", "l/x",
    "nowhere", "../x", "a" * 300, ".wh.a", "../" * 12 + "{out}/secret", "",
]  # fmt: skip
KINDS = ["file", "dir", "symlink", "hardlink", "chr", "blk", "fifo"]

member = st.tuples(
    st.sampled_from(KINDS),
    st.sampled_from(NAMES),
    st.sampled_from(TARGETS),
    st.sampled_from([0o644, 0o4755, 0o7777, 0, 0o1777]),
    st.sampled_from([0, 65534, 1 << 21]),
    st.sampled_from([0, -1, 1 << 33, 1_700_000_000]),
)
# Then what is done to the tar's bytes.
MANGLES = [
    "none",
    "none",
    "none",
    "none",
    "gzip",
    "gzip",
    "truncate",
    "gzip-truncate",
    "flip",
    "huge-size",
    "huge-pax",
    "junk",
]


def hostile_tar(members: list[tuple[Any, ...]], fmt: int, mangle: str, at: int, out: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for kind, name, target, mode, owner, mtime in members:
            info = tarfile.TarInfo(name.format(out=out))
            info.mode, info.uid, info.gid = mode, owner, owner
            info.mtime = mtime if fmt == tarfile.PAX_FORMAT else max(mtime, 0)
            data = b""
            if kind == "file":
                data = b"hostile\n"
            elif kind == "dir":
                info.type = tarfile.DIRTYPE
            elif kind in ("symlink", "hardlink"):
                info.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
                info.linkname = target.format(out=out)
            else:
                info.type = {"chr": tarfile.CHRTYPE, "blk": tarfile.BLKTYPE}.get(
                    kind, tarfile.FIFOTYPE
                )
                info.devmajor, info.devminor = (1, 3) if kind != "fifo" else (0, 0)
            info.size = len(data)
            try:
                tar.addfile(info, io.BytesIO(data))
            except ValueError:  # this format cannot say it (a long name in ustar)
                continue
    raw = buf.getvalue()
    if mangle in ("huge-size", "huge-pax"):
        info = tarfile.TarInfo("huge")
        if mangle == "huge-size":
            info.size = 1 << 40  # a header promising a terabyte, then the end
            raw = info.tobuf(tarfile.GNU_FORMAT) + b"\0" * 1024
        else:
            info.type = tarfile.XHDTYPE  # a pax record claiming a gigantic length
            record = b"999999999999 path=x\n"
            info.size = len(record)
            raw = info.tobuf(tarfile.USTAR_FORMAT) + record.ljust(512, b"\0") + raw
    if mangle.startswith("gzip"):
        raw = gzip.compress(raw, mtime=0)
    if mangle.endswith("truncate"):
        raw = raw[: at % max(len(raw), 1)]
    elif mangle == "flip" and raw:
        i = at % len(raw)
        raw = raw[:i] + bytes([raw[i] ^ 0xFF]) + raw[i + 1 :]
    elif mangle == "junk":
        raw = hashlib.sha256(str(at).encode()).digest() * (1 + at % 40)
    return raw


tars = st.tuples(
    st.lists(member, min_size=1, max_size=6),
    st.sampled_from([tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT]),
    st.sampled_from(MANGLES),
    st.integers(0, 1 << 16),
)


def _foreign_inodes(store: Store) -> set[tuple[int, int]]:
    return {(s.st_dev, s.st_ino) for p in store.outside.rglob("*") for s in [os.lstat(p)]}


def _check_layers(store: Store, bait: set[tuple[int, int]]) -> None:
    """No file of any layer is a bait file (a hardlink out of the root); any depth."""
    for entry in walk_at(store.root / "layers"):
        assert (entry.st.st_dev, entry.st.st_ino) not in bait, entry.rel


def docker_archive(layer: bytes) -> bytes:
    """A `docker save` tarball around one (hostile) layer tar."""
    try:
        plain = gzip.decompress(layer)
    except (OSError, EOFError):
        plain = layer
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(plain).hexdigest()]},
        "history": [{"created_by": "hostile"}],
    }).encode()  # fmt: skip
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps(
        [{"Config": config_name, "RepoTags": ["hostile:load"], "Layers": ["l/layer.tar"]}]
    ).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in (("manifest.json", manifest), (config_name, config),
                           ("l/layer.tar", layer)):  # fmt: skip
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _hostile_tar_case(store: Store, case: tuple[Any, ...], how: str) -> None:
    members, fmt, mangle, at = case
    raw = hostile_tar(members, fmt, mangle, at, store.outside)
    path = store.inputs / "in.tar"
    bait = _foreign_inodes(store)
    if how == "import":
        path.write_bytes(raw)
        code, _, err = store.cli("import", str(path), "hostile:import")
    else:
        path.write_bytes(docker_archive(raw))
        code, _, err = store.cli("load", "-i", str(path))
    if store.answered(f"{how} tar", code, err):
        _check_layers(store, bait)
        assert store.cli("rmi", f"hostile:{how}")[0] == 0
    store.consistent()


UP = "../" * 12
# The attacks known by name, always tried (a generated run may not happen upon them).
KNOWN_ATTACKS = [
    [("symlink", "l", "{out}"), ("file", "l/x")],
    [("symlink", "l", UP + "{out}"), ("file", "l/x")],
    [("symlink", "l", "{out}/dir"), ("dir", "l/y"), ("file", "l/y/z")],
    [("symlink", "l", "{out}"), ("file", "l/.wh.secret")],
    [("symlink", "l", "{out}"), ("file", "l/.wh..wh..opq")],
    [("symlink", "l", "{out}"), ("symlink", "l/y", "/etc")],
    [("symlink", "l", "{out}"), ("hardlink", "h", "l/secret")],
    [("hardlink", "h", "{out}/secret")],
    [("hardlink", "h", UP + "{out}/secret")],
    [("file", UP + "{out}/rel")],
    [("file", "{out}/abs")],
    [("file", "a/../../x")],
    [("chr", "a"), ("blk", "b"), ("fifo", "c")],
    [("file", "a"), ("file", "a")],
    [("file", "a"), ("dir", "a"), ("file", "a/b")],
    [("dir", "d"), ("symlink", "d", "{out}"), ("file", "d/x")],
    [("file", ".wh.."), ("file", ".wh..."), ("file", "../.wh.x")],
    [("file", "/".join(["d"] * 2100) + "/f")],
]


def _known(kind: str, name: str, target: str = "") -> tuple[Any, ...]:
    return (kind, name, target, 0o644, 0, 1_700_000_000)


def test_hostile_tar_counts(store: Store) -> None:
    """The known attacks, then generated tars; the counts in the output."""
    for attack in KNOWN_ATTACKS:
        for mangle in ("none", "gzip"):
            for how in ("import", "load"):
                members = [_known(*m) for m in attack]
                _hostile_tar_case(store, (members, tarfile.PAX_FORMAT, mangle, 0), how)
    run = given(case=tars, how=st.sampled_from(["import", "load"]))(
        lambda case, how: _hostile_tar_case(store, case, how)
    )
    settings(SETTINGS, max_examples=200)(run)()
    store.report("hostile tars")
    assert store.counts["import tar rejected"] and store.counts["import tar accepted"]


# --- hostile Dockerfiles ---------------------------------------------------------------

INSTRUCTIONS = [
    "FROM", "RUN", "CMD", "ENTRYPOINT", "ENV", "ARG", "WORKDIR", "COPY", "LABEL", "USER",
    "EXPOSE", "VOLUME", "STOPSIGNAL", "SHELL", "MAINTAINER", "HEALTHCHECK", "ONBUILD",
    "BOGUS", "from", "Run", "#", "# escape=`", "#directive=x",
]  # fmt: skip
ARG_PIECES = [
    "busybox", "scratch", "AS", "as", "x", "a=b", "a=", "=b", '"', "'", "\\", "`", "${a}",
    "${a:-", "}", "${a:+b}", "${a:?err}", "$", "[", "]", '["a"', '["a", 1]', '["sh","-c"]',
    "{}", "--from=x", "--chown=nobody", "--chmod=777", "--interval=", "--retries=-1",
    "NONE", "CMD", "ONBUILD", "\t", " ", "=", "\\\n", "\n", "\r", "ü", "\u2028", "\0",
    "--platform=linux", "80/tcp", "SIGKILL", "-1", "[" * 5000, '["' + "[" * 3000,
]  # fmt: skip


@st.composite
def dockerfiles(draw: st.DrawFn) -> str:
    """Lines of known and unknown words, with odd arguments, continuations and nesting."""
    lines = [draw(st.sampled_from(["FROM busybox", "FROM busybox", "ARG a=1", ""]))]
    for _ in range(draw(st.integers(1, 4))):
        keyword = draw(st.sampled_from(INSTRUCTIONS[:17] * 3 + INSTRUCTIONS))
        benign = st.sampled_from(["x", "a=b", "${a}", "$a", "/x", "y=${a:-z}", "1"])
        pieces = draw(st.lists(st.one_of(benign, benign, st.sampled_from(ARG_PIECES)),
                               max_size=4))  # fmt: skip
        depth = draw(st.sampled_from([0, 0, 0, 0, 3, 150, 3000]))
        nested = "${a:-" * depth + "x" + "}" * draw(st.sampled_from([depth, 0, depth // 2]))
        long = "v" * draw(st.sampled_from([0, 0, 0, 5000, 300_000]))
        lines.append(" ".join([keyword, *pieces, nested if depth else "", long]).rstrip())
    return draw(st.sampled_from(["\n", "\r\n", "\\\n", " \\\n\n"])).join(lines)


def _parse_all(text: str) -> None:
    """The parser and the word expansion, as `build` uses them before any step runs."""
    parsed = parse_dockerfile(text.encode("utf-8", "surrogatepass"))
    lexer = Lexer(parsed.escape)
    for stage in parsed.stages:
        lexer.word(stage.base, {"a": "1"})
        for inst in stage.steps:
            lexer.words(inst.args, {"a": "1"})


def test_hostile_dockerfiles_in_the_parser(store: Store) -> None:
    @settings(SETTINGS, max_examples=400)
    @given(text=st.one_of(dockerfiles(), st.text(max_size=300)))
    def run(text: str) -> None:
        store.counts["parser tried"] += 1
        try:
            _parse_all(text)
            store.counts["parser accepted"] += 1
        except LayerlabError as exc:
            message = str(exc)
            assert "\n" not in message.strip() and len(message) < 1000, message[:300]
            store.counts["parser rejected"] += 1

    run()
    store.report("hostile Dockerfiles (parser)")
    assert store.counts["parser rejected"] and store.counts["parser accepted"]


def test_hostile_dockerfiles_in_build(store: Store) -> None:
    """Whole builds, FROM scratch with no RUN or ADD (those need a process or a URL)."""
    context = store.inputs / "ctx"
    context.mkdir()
    (context / "x").write_text("x\n")

    @settings(SETTINGS, max_examples=40)
    @given(text=dockerfiles())
    def run(text: str) -> None:
        lines = [
            line for line in text.splitlines()
            if line.split(None, 1)[:1] not in (["RUN"], ["Run"], ["ADD"])
        ]  # fmt: skip
        (context / "Dockerfile").write_text("FROM scratch\n" + "\n".join(lines) + "\n")
        code, _, err = store.cli("build", "-t", "hostile:build", str(context))
        if store.answered("build", code, err):
            # A failed build keeps its steps' images (the cache, as Docker's): one of them may
            # be a parent of this one, which Docker's rmi then refuses too - in one line.
            store.answered("rmi", *store.cli("rmi", "hostile:build")[::2])
        store.consistent()

    run()
    store.report("hostile Dockerfiles (build)")


# --- hostile store files ----------------------------------------------------------------


def _mutations() -> st.SearchStrategy[tuple[str, int, Any]]:
    wrong = st.sampled_from([None, 0, -1, "", "x", [], {}, [1], {"a": 1}, True, 1e308])
    return st.tuples(
        st.sampled_from(["truncate", "drop", "retype", "empty", "junk", "deep"]),
        st.integers(0, 1 << 16),
        wrong,
    )


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, (*prefix, i))


def mangle_json(raw: bytes, how: str, at: int, value: Any) -> bytes:
    if how == "truncate":
        return raw[: at % max(len(raw), 1)]
    if how == "empty":
        return b""
    if how == "deep":  # nesting no parser should recurse through
        return b"[" * 100_000 + b"]" * 100_000
    if how == "junk":
        return json.dumps(value).encode()
    data = json.loads(raw)
    paths = list(_paths(data))[1:]
    if not paths:
        return json.dumps(value).encode()
    *parent_path, key = paths[at % len(paths)]
    parent = data
    for k in parent_path:
        parent = parent[k]
    if how == "drop":
        del parent[key]
    else:
        parent[key] = value
    return json.dumps(data).encode()


def _prepared(store: Store) -> Path:
    """A store with busybox, a committed image, a tag, and two containers; kept as a template."""
    assert store.cli("create", "--name", "victim", "busybox", "true")[0] == 0
    assert store.cli("create", "--name", "other", "busybox", "true")[0] == 0
    assert store.cli("commit", "victim", "made:v1")[0] == 0
    template = store.inputs / "template"
    shutil.copytree(store.root, template, symlinks=True)
    return template


COMMANDS: list[tuple[str, ...]] = [
    ("ps", "-a"), ("images", "-a"), ("inspect", "victim"), ("inspect", "other"),
    ("history", "made:v1"), ("create", "busybox", "true"), ("rm", "-f", "victim"),
    ("rmi", "made:v1"), ("container", "prune", "-f"), ("image", "prune", "-f"),
    ("system", "df"), ("tag", "busybox", "again:v1"),
]  # fmt: skip


def test_hostile_store_files(store: Store) -> None:
    template = _prepared(store)
    engine = Engine(store.root)
    victim = engine.container("victim").id
    config = Path("images") / "{}.json"
    files = {
        "container": Path("containers") / victim / "config.json",
        "image": Path(str(config).format(engine.image("made:v1").id.removeprefix("sha256:"))),
        "base image": Path(str(config).format(engine.image("busybox").id.removeprefix("sha256:"))),
        "repositories": Path("repositories.json"),
    }

    @settings(SETTINGS, max_examples=30)
    @given(
        which=st.sampled_from(sorted(files)),
        mutation=_mutations(),
        commands=st.lists(st.sampled_from(COMMANDS), min_size=1, max_size=4),
    )
    def run(which: str, mutation: tuple[str, int, Any], commands: list[tuple[str, ...]]) -> None:
        shutil.rmtree(store.root)
        shutil.copytree(template, store.root, symlinks=True)
        path = store.root / files[which]
        path.write_bytes(mangle_json(path.read_bytes(), *mutation))
        for args in commands:
            code, _, err = store.cli(*args)
            if store.answered(f"{which} file", code, err) or which != "container":
                continue
            # A broken container record affects only itself.
            assert "victim" in " ".join(args), (args, err)
        assert store.cli("system", "check", "--repair")[0] in (0, 1)
        store.consistent()
        for args in (("ps", "-a"), ("images",), ("create", "busybox", "true")):
            code, _, err = store.cli(*args)
            assert code == 0 or which == "base image", (args, err)

    run()
    store.report("hostile store files")

"""`build` on real containers: Dockerfile steps run, modify, commit - with a cache."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from layerlab.build.builder import BuildOptions
from layerlab.build.context import scoped_resolve
from layerlab.build.dockerfile import parse_dockerfile
from layerlab.build.dockerignore import IgnoreMatcher
from layerlab.build.instructions import apply_change, json_array, parse_key_values
from layerlab.build.lexer import Lexer
from layerlab.engine import Engine
from layerlab.errors import BuildError, LayerlabError, NotFound
from layerlab.storage import images as imagelib

from .conftest import CLI

pytestmark = pytest.mark.system

SEVEN_STEPS = """\
FROM busybox
RUN echo one > /one.txt
ENV GREETING=hello
WORKDIR /app
COPY hello.txt .
RUN echo "$GREETING from $(pwd)" > msg.txt
RUN cat hello.txt msg.txt > both.txt
CMD ["cat", "/app/both.txt"]
"""


def context(tmp_path: Path, files: dict[str, str | bytes], name: str = "ctx") -> Path:
    ctx = tmp_path / name
    ctx.mkdir(exist_ok=True)
    for rel, content in files.items():
        path = ctx / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return ctx


def step_ids(out: str) -> list[str]:
    """The ` ---> <id>` line of every step, in order."""
    return re.findall(r"^ ---> ([0-9a-f]{12})$", out, re.M)


def layer_files(image: imagelib.Image) -> set[str]:
    """Every path in every layer of the image (a union, whiteouts aside)."""
    found = set()
    for layer in image.layers:
        for dirpath, dirnames, filenames in os.walk(layer.diff_path):
            for name in dirnames + filenames:
                found.add("/" + os.path.relpath(os.path.join(dirpath, name), layer.diff_path))
    return found


def no_traceback(err: str) -> None:
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err


# --- the article's loop: run, modify, commit ------------------------------------------------


def test_seven_step_build_runs_and_has_the_expected_layers(
    engine: Engine, cli: CLI, tmp_path: Path
) -> None:
    ctx = context(tmp_path, {"Dockerfile": SEVEN_STEPS, "hello.txt": "hello\n"})
    r = cli("build", "-t", "app", str(ctx))
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    # two files of a block each, a header each, the tar's end: 3072 bytes sent
    assert lines[:3] == [
        "Sending build context to Docker daemon  3.072kB",
        "",
        "Step 1/8 : FROM busybox",
    ]
    assert "Step 3/8 : ENV GREETING=hello" in lines
    assert lines[-1] == "Successfully tagged app:latest"
    assert re.fullmatch(r"Successfully built [0-9a-f]{12}", lines[-2])
    # RUN, ENV, WORKDIR and CMD ran in containers (COPY writes a layer, as Docker: no lines)
    running = [line for line in lines if line.startswith(" ---> Running in ")]
    removing = [line for line in lines if line.startswith("Removing intermediate container ")]
    assert len(running) == len(removing) == 6
    assert [r[-12:] for r in running] == [r[-12:] for r in removing]
    assert engine.containers(all=True) == []  # --rm is the default

    run = cli("run", "--rm", "app")
    assert run.code == 0, run.err
    assert run.out == "hello\nhello from /app\n"

    image = engine.image("app")
    base = engine.image("busybox")
    cfg = image.config["config"]
    assert "GREETING=hello" in cfg["Env"]
    assert cfg["WorkingDir"] == "/app"
    assert cfg["Cmd"] == ["cat", "/app/both.txt"]
    # RUN /one.txt, WORKDIR's new /app, COPY, RUN msg.txt, RUN both.txt add layers
    assert len(image.layers) == len(base.layers) + 5
    for lower, upper in zip(image.layers, image.layers[1:], strict=False):
        assert upper.parent == lower.chain_id
    history = image.config["history"][len(base.config["history"]) :]
    assert [bool(h.get("empty_layer")) for h in history] == [
        False, True, False, False, False, False, True,
    ]  # fmt: skip
    created_by = [h["created_by"] for h in history]
    assert created_by[0] == "/bin/sh -c echo one > /one.txt"
    assert created_by[1] == "/bin/sh -c #(nop)  ENV GREETING=hello"
    assert created_by[2] == "/bin/sh -c #(nop) WORKDIR /app"
    assert re.fullmatch(r"/bin/sh -c #\(nop\) COPY file:[0-9a-f]{64} in /app ", created_by[3])
    assert created_by[4] == '/bin/sh -c echo "$GREETING from $(pwd)" > msg.txt'
    assert created_by[6] == '/bin/sh -c #(nop)  CMD ["cat" "/app/both.txt"]'
    assert (image.layers[-1].diff_path / "app/both.txt").read_text() == "hello\nhello from /app\n"
    assert (image.layers[2].diff_path / "app").is_dir()  # WORKDIR's layer holds the new dir
    copied = image.layers[3].diff_path / "app/hello.txt"
    assert copied.read_text() == "hello\n"
    assert (copied.stat().st_uid, copied.stat().st_gid) == (0, 0)


def test_rebuild_hits_the_cache_for_every_step_and_starts_no_container(
    engine: Engine, cli: CLI, root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = context(tmp_path, {"Dockerfile": SEVEN_STEPS, "hello.txt": "hello\n"})
    first = cli("build", "-t", "app", str(ctx))
    assert first.code == 0, first.err
    containers_dir = root / "containers"
    before = (containers_dir.stat().st_mtime_ns, sorted(os.listdir(containers_dir)))
    images_before = engine.store.image_ids()
    tags_file = engine.store.repositories_path.stat().st_ino  # an atomic write makes a new one

    second = cli("build", "-t", "app", str(ctx))
    assert second.code == 0, second.err
    assert second.out.count(" ---> Using cache") == 7
    assert "Running in" not in second.out
    assert step_ids(second.out) == step_ids(first.out)
    # no container was made, not even briefly: the containers folder never changed
    assert (containers_dir.stat().st_mtime_ns, sorted(os.listdir(containers_dir))) == before
    assert engine.store.image_ids() == images_before
    # the tag named the image already: nothing was written
    assert "Successfully tagged app:latest" in second.out
    assert engine.store.repositories_path.stat().st_ino == tags_file
    third = cli("build", "-t", "app", "-t", "other", str(ctx))  # a new tag is still written
    assert third.code == 0, third.err
    assert engine.image("other").id == engine.image("app").id

    # a rebuild the cache has whole loads no tar machinery, nor the healing scan
    code = (
        "import sys; from layerlab.main import main; "
        f"code = main(['build', '-t', 'app', {str(ctx)!r}]); sys.stdout.flush(); "
        "print([m for m in ('tarfile', 'layerlab.layerfs.layers', 'layerlab.layerfs.layer_writer', "
        "'layerlab.engine.fsck') if m in sys.modules]); sys.exit(code)"
    )
    env = dict(os.environ, LAYERLAB_ROOT=str(root))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count(" ---> Using cache") == 7
    assert out.stdout.splitlines()[-1] == "[]"

    # and in-process, the engine's own record: no create, no start
    calls: list[str] = []
    for name in ("create", "start_attached", "commit"):
        original = getattr(engine, name)

        def spy(*args: Any, _name: str = name, _original: Any = original, **kw: Any) -> Any:
            calls.append(_name)
            return _original(*args, **kw)

        monkeypatch.setattr(engine, name, spy)
    out = io.StringIO()
    image_id = engine.build(ctx, BuildOptions(tags=["app"], out=out))
    assert calls == []
    assert image_id == engine.image("app").id
    assert out.getvalue().count(" ---> Using cache") == 7


def test_changing_one_copied_file_rebuilds_from_that_step_on(
    engine: Engine, cli: CLI, tmp_path: Path
) -> None:
    ctx = context(tmp_path, {"Dockerfile": SEVEN_STEPS, "hello.txt": "hello\n"})
    first = cli("build", "-t", "app", str(ctx))
    assert first.code == 0, first.err
    (ctx / "hello.txt").write_text("bonjour\n")
    second = cli("build", "-t", "app", str(ctx))
    assert second.code == 0, second.err
    steps = re.split(r"^Step \d+/8 : ", second.out, flags=re.M)[1:]
    cached = [" ---> Using cache" in s for s in steps]
    assert cached == [False, True, True, True, False, False, False, False]  # FROM never says it
    assert step_ids(second.out)[:4] == step_ids(first.out)[:4]
    assert step_ids(second.out)[4:] != step_ids(first.out)[4:]
    assert cli("run", "--rm", "app").out == "bonjour\nhello from /app\n"
    # a mode change is a change too
    os.chmod(ctx / "hello.txt", 0o600)
    third = cli("build", str(ctx))
    assert third.out.count(" ---> Using cache") == 3
    # and --no-cache rebuilds everything
    fourth = cli("build", "--no-cache", str(ctx))
    assert fourth.code == 0 and "Using cache" not in fourth.out


def test_images_a_lists_intermediates_and_history_names_them(
    engine: Engine, cli: CLI, tmp_path: Path
) -> None:
    ctx = context(tmp_path, {"Dockerfile": SEVEN_STEPS, "hello.txt": "hello\n"})
    r = cli("build", "-t", "app", str(ctx))
    assert r.code == 0, r.err
    ids = step_ids(r.out)  # busybox, then one image per step
    assert len(ids) == 8
    listed = cli("images", "-a", "-q").out.split()
    assert set(ids) <= set(listed)
    plain = cli("images", "-q").out.split()
    assert set(ids[1:-1]).isdisjoint(plain)  # intermediates are untagged and hidden
    history = cli("history", "-q", "app").out.split()
    assert history[:8] == list(reversed(ids))
    assert history[8:] == ["<missing>"]  # busybox's ADD: no local image stands for it
    for image_id in ids[1:-1]:
        assert engine.image(image_id).id.startswith("sha256:" + image_id)
        assert imagelib.tags_of(engine.store, engine.image(image_id).id) == []


# --- Dockerfile features ------------------------------------------------------------------


def test_multi_stage_copy_from_a_stage_by_name_index_and_an_image(
    engine: Engine, cli: CLI, tmp_path: Path
) -> None:
    dockerfile = """\
FROM busybox AS builder
WORKDIR /src
RUN echo built > artifact.txt && mkdir -p out/deep && echo x > out/deep/x \\
    && ln -s artifact.txt out/link

FROM busybox
COPY --from=builder /src/artifact.txt /artifact.txt
COPY --from=0 /src/out /out/
COPY --from=busybox /etc/group /copied-group
CMD ["cat", "/artifact.txt"]
"""
    ctx = context(tmp_path, {"Dockerfile": dockerfile})
    r = cli("build", "-t", "multi", str(ctx))
    assert r.code == 0, r.err
    assert "Step 1/8 : FROM busybox AS builder" in r.out
    assert cli("run", "--rm", "multi").out == "built\n"
    listing = cli("run", "--rm", "multi", "sh", "-c", "cat /out/deep/x; readlink /out/link")
    assert listing.out == "x\nartifact.txt\n"
    final = engine.image("multi")
    assert "/src" not in layer_files(final)  # only what was copied crosses stages
    assert "/copied-group" in layer_files(final)
    assert not list((engine.store.root / "tmp").iterdir())  # the --from mounts are gone
    assert len(final.layers) == len(engine.image("busybox").layers) + 3

    target = cli("build", "--target", "builder", "-t", "stage1", str(ctx))
    assert target.code == 0, target.err
    assert "Step 3/3 : RUN" in target.out and "Step 4/" not in target.out
    assert target.out.count("Using cache") == 2  # the same steps as before
    assert engine.image("stage1").config["config"]["WorkingDir"] == "/src"
    missing = cli("build", "--target", "nope", str(ctx))
    assert missing.code == 1
    assert missing.err.strip() == "failed to reach build target nope in Dockerfile"


def test_arg_and_build_arg_substitution(engine: Engine, cli: CLI, tmp_path: Path) -> None:
    dockerfile = """\
ARG BASE=busybox
FROM ${BASE}
ARG WHO=nobody
ARG UNSET
ENV WHERE=${PLACE:-home} QUOTED="a  b"
RUN echo "$WHO at $WHERE, unset=[$UNSET]" > /who.txt
LABEL who=$WHO where="${WHERE}" plus=${WHO:+yes}
COPY ${WHO}.txt /files/
"""
    ctx = context(tmp_path, {"Dockerfile": dockerfile, "alice.txt": "A\n", "bob.txt": "B\n"})
    r = cli("build", "--build-arg", "WHO=alice", "--build-arg", "EXTRA=1", "-t", "args", str(ctx))
    assert r.code == 0, r.err
    assert "Step 1/8 : ARG BASE=busybox" in r.out
    assert "[Warning] One or more build-args [EXTRA] were not consumed" in r.out
    image = engine.image("args")
    cfg = image.config["config"]
    assert "WHERE=home" in cfg["Env"] and "QUOTED=a  b" in cfg["Env"]
    assert not any(e.startswith("WHO=") for e in cfg["Env"])  # ARGs don't persist
    assert cfg["Labels"] == {"who": "alice", "where": "home", "plus": "yes"}
    run_entry = next(h for h in image.config["history"] if "/who.txt" in h["created_by"])
    assert run_entry["created_by"].startswith("|1 WHO=alice /bin/sh -c echo")
    files = layer_files(image)
    assert "/files/alice.txt" in files and "/files/bob.txt" not in files
    out = cli("run", "--rm", "args", "cat", "/who.txt").out
    assert out == "alice at home, unset=[]\n"

    # another value is another instruction: the RUN misses the cache
    again = cli("build", "--build-arg", "WHO=bob", str(ctx))
    assert again.code == 0, again.err
    steps = re.split(r"^Step \d+/8 : ", again.out, flags=re.M)[1:]
    assert [" ---> Using cache" in s for s in steps] == [
        False, False, True, True, True, False, False, False,
    ]  # fmt: skip
    # the default applies without --build-arg; a bare name takes our environment's value
    env = dict(os.environ, WHO="carol")
    (ctx / "carol.txt").write_text("C\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(os, "environ", env)
        out_io = io.StringIO()
        image_id = engine.build(ctx, BuildOptions(build_args=["WHO"], out=out_io))
    assert "/files/carol.txt" in layer_files(engine.image(image_id))


def test_dockerignore_follows_dockers_patterns(engine: Engine, cli: CLI, tmp_path: Path) -> None:
    ctx = context(
        tmp_path,
        {
            "Dockerfile": "FROM busybox\nCOPY . /ctx/\n",
            ".dockerignore": "# comment\n*.key\nlogs\n!logs/keep.log\n**/*.md\n.git\nDockerfile\n",
            "keep.txt": "k",
            "secret.key": "s",
            "sub/other.key": "nested keys are not matched by *.key",
            "logs/a.log": "a",
            "logs/keep.log": "kept",
            "docs/x/y.md": "y",
            "README.md": "r",
            ".git/config": "g",
        },
    )
    r = cli("build", "-t", "ignored", str(ctx))
    assert r.code == 0, r.err
    files = layer_files(engine.image("ignored"))
    top = {f for f in files if f.startswith("/ctx/")}
    # an ignored Dockerfile is dropped from the context too, as Docker's daemon does
    assert top == {
        "/ctx/keep.txt",
        "/ctx/sub",
        "/ctx/sub/other.key",
        "/ctx/logs",
        "/ctx/logs/keep.log",
        "/ctx/docs",
        "/ctx/docs/x",
        "/ctx/.dockerignore",
    }  # fmt: skip
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY secret.key /\n")
    bad = cli("build", str(ctx))
    assert bad.code == 1
    assert bad.err.strip() == (
        "COPY failed: file not found in build context or excluded by .dockerignore: "
        "stat secret.key: file does not exist"
    )
    # an ignored file changing does not bust the cache
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY . /ctx/\n")
    (ctx / "secret.key").write_text("changed")
    assert cli("build", str(ctx)).out.count("Using cache") == 1


@pytest.mark.parametrize(
    ("patterns", "path", "excluded"),
    [
        (["*.txt"], "a.txt", True),
        (["*.txt"], "dir/a.txt", False),
        (["**/*.txt"], "dir/sub/a.txt", True),
        (["**/*.txt"], "a.txt", True),
        (["dir"], "dir/sub/a.txt", True),
        (["dir/**"], "dir/sub/a.txt", True),
        (["dir", "!dir/keep"], "dir/keep", False),
        (["dir", "!dir/keep"], "dir/other", True),
        (["*", "!*.go"], "main.go", False),
        (["/abs/path"], "abs/path", True),
        (["./a/../b"], "b", True),
        (["a?c"], "abc", True),
        (["a?c"], "a/c", False),
        (["[a-c]x"], "bx", True),
        (["[^a-c]x"], "bx", False),
        (["file.txt"], "fileXtxt", False),
        (["a+b"], "a+b", True),
    ],
)
def test_ignore_matcher(patterns: list[str], path: str, excluded: bool) -> None:
    assert IgnoreMatcher(patterns).excluded(path) is excluded


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("$A", "1"),
        ("${A}x", "1x"),
        ("${NOPE:-fallback}", "fallback"),
        ("${A:-fallback}", "1"),
        ("${A:+set}", "set"),
        ("${NOPE:+set}", ""),
        ("'$A'", "$A"),
        ('"$A $B"', "1 two words"),
        ("\\$A", "$A"),
        ('"a\\"b"', 'a"b'),
        ("$", "$"),
        ("${A:-${B}}", "1"),
        ("${NOPE:-${B}}", "two words"),
    ],
)
def test_lexer_expands_as_docker(word: str, expected: str) -> None:
    assert Lexer().word(word, {"A": "1", "B": "two words"}) == expected


def test_lexer_words_split_after_expansion() -> None:
    assert Lexer().words('$B "c d"', {"B": "two words"}) == ["two", "words", "c d"]
    with pytest.raises(BuildError, match="bad substitution"):
        Lexer().word("${:x}", {})


def test_add_extracts_a_local_tar_and_refuses_a_hostile_one(
    engine: Engine, cli: CLI, tmp_path: Path
) -> None:
    def make_tar(name: str, members: dict[str, bytes], mode: str = "w:gz") -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode=mode) as tar:  # type: ignore[call-overload]
            for member, data in members.items():
                info = tarfile.TarInfo(member)
                info.size = len(data)
                info.uid, info.gid = 5, 6
                tar.addfile(info, io.BytesIO(data))
        return buf.getvalue()

    good = make_tar("good", {"a/b.txt": b"inside\n", "c.txt": b"c"})
    ctx = context(
        tmp_path,
        {
            "Dockerfile": "FROM busybox\nADD files.tgz /opt/\nADD plain.txt /opt/\n"
            "COPY files.tgz /raw/\n",
            "files.tgz": good,
            "plain.txt": "not a tar",
        },
    )
    r = cli("build", "-t", "added", str(ctx))
    assert r.code == 0, r.err
    image = engine.image("added")
    files = layer_files(image)
    assert {"/opt/a/b.txt", "/opt/c.txt", "/opt/plain.txt", "/raw/files.tgz"} <= files
    extracted = image.layers[-3].diff_path / "opt/a/b.txt"
    assert extracted.read_text() == "inside\n"
    assert (extracted.stat().st_uid, extracted.stat().st_gid) == (5, 6)  # the tar's owners

    (ctx / "evil.tar").write_bytes(make_tar("evil", {"../../escaped.txt": b"x"}, mode="w"))
    (ctx / "Dockerfile").write_text("FROM busybox\nADD evil.tar /opt/\n")
    bad = cli("build", str(ctx))
    assert bad.code == 1
    no_traceback(bad.err)
    assert "ADD failed" in bad.err and "'..'" in bad.err
    assert not list(tmp_path.rglob("escaped.txt"))
    assert not list(engine.store.root.rglob("escaped.txt"))
    assert engine.containers(all=True) == []


def test_a_failing_run_stops_the_build_and_leaves_the_store_consistent(
    engine: Engine, cli: CLI, tmp_path: Path
) -> None:
    dockerfile = (
        "FROM busybox\nRUN echo before > /before.txt\nRUN echo oops >&2; exit 3\nRUN true\n"
    )
    ctx = context(tmp_path, {"Dockerfile": dockerfile})
    r = cli("build", "-t", "broken", str(ctx))
    assert r.code == 3  # Docker's legacy builder exits with the step's own code
    assert r.err == "The command '/bin/sh -c echo oops >&2; exit 3' returned a non-zero code: 3\n"
    assert "oops" in r.out  # a RUN's stderr joins the build output, as Docker's
    assert "Step 3/4 : RUN echo oops >&2; exit 3" in r.out and "Step 4/4" not in r.out
    failed_container = re.findall(r"Running in ([0-9a-f]{12})", r.out)[-1]
    # Docker leaves the failed step's container (without --force-rm), exited with its code
    assert f"Removing intermediate container {failed_container}" not in r.out
    [left] = engine.containers(all=True)
    assert left.id.startswith(failed_container) and left.state["ExitCode"] == 3
    with pytest.raises(NotFound):
        engine.image("broken")
    kept = step_ids(r.out)[-1]  # step 2's image stays, as an untagged intermediate
    assert kept in cli("images", "-a", "-q").out.split()
    for image_id in engine.store.image_ids():  # every image and its layers are whole
        imagelib.read_image(engine.store, image_id)
    assert not list((engine.store.root / "tmp").iterdir())

    (ctx / "Dockerfile").write_text(dockerfile.replace("exit 3", "true"))
    fixed = cli("build", "-t", "fixed", str(ctx))
    assert fixed.code == 0, fixed.err
    assert fixed.out.count("Using cache") == 1  # the good step before the failure


def test_rm_false_keeps_the_step_containers(engine: Engine, cli: CLI, tmp_path: Path) -> None:
    ctx = context(tmp_path, {"Dockerfile": "FROM busybox\nRUN true\nENV A=b\n"})
    r = cli("build", "--rm=false", str(ctx))
    assert r.code == 0, r.err
    assert "Removing intermediate container" not in r.out
    assert len(engine.containers(all=True)) == 2
    r = cli("build", "--rm", "--no-cache", str(ctx))
    assert r.code == 0 and r.out.count("Removing intermediate container") == 2


def test_unknown_instruction_names_the_dockerfile_line(
    engine: Engine, cli: CLI, tmp_path: Path
) -> None:
    ctx = context(
        tmp_path, {"Dockerfile": "FROM busybox\n# a comment\nRUN true \\\n  && true\nFOO bar\n"}
    )
    r = cli("build", str(ctx))
    assert r.code == 1
    assert r.err == "Dockerfile:5: unknown instruction: FOO\n"
    assert r.out.splitlines()[1:] == [""]  # only the context sent: parsed before any step
    assert engine.store.image_ids() == []
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN\n")
    r = cli("build", str(ctx))
    assert r.err == "Dockerfile:2: RUN requires at least one argument\n"
    (ctx / "Dockerfile").write_text("RUN true\nFROM busybox\n")
    assert cli("build", str(ctx)).err.startswith("Dockerfile:1: RUN before the first FROM")


@pytest.mark.parametrize(
    ("files", "args", "code", "message"),
    [
        ({}, ["/nonexistent/ctx"], 1,
         'unable to prepare context: path "/nonexistent/ctx" not found'),
        ({"x": "x"}, [], 1, "Cannot locate specified Dockerfile: Dockerfile"),
        ({"Dockerfile": b"\x7fELF\x00\x01\xff"}, [], 1,
         "the Dockerfile (Dockerfile) is not a text file"),
        ({"Dockerfile": "\n# nothing\n"}, [], 1, "the Dockerfile (Dockerfile) cannot be empty"),
        ({"Dockerfile": "FROM busybox\n"}, ["--build-arg", "=x"], 125,
         'invalid argument "=x" for "--build-arg" flag: invalid environment variable: =x'),
        ({"Dockerfile": "FROM busybox\n"}, ["-t", "Bad:Tag"], 125,
         'invalid argument "Bad:Tag" for "-t, --tag" flag: invalid reference format: repository '
         "name must be lowercase"),
        ({"Dockerfile": "FROM busybox\nCOPY nope.txt /\n"}, [], 1,
         "COPY failed: file not found in build context or excluded by .dockerignore: "
         "stat nope.txt: file does not exist"),
        ({"Dockerfile": "FROM busybox\nCOPY ../outside /\n"}, [], 1,
         "COPY failed: forbidden path outside the build context: ../outside"),
        ({"Dockerfile": "FROM busybox\nCOPY *.none /x/\n"}, [], 1,
         "COPY failed: no source files were specified"),
        ({"Dockerfile": "FROM busybox\nCOPY a b /x\n", "a": "", "b": ""}, [], 1,
         "When using COPY with more than one source file, the destination must be a "
         "directory and end with a /"),
        ({"Dockerfile": "FROM busybox\nADD https://example.com/f.tgz /\n"}, [], 1,
         "ADD failed: adding a remote URL is not supported by layerlab's builder: "
         "https://example.com/f.tgz (download it into the context and COPY it)"),
        ({"Dockerfile": "FROM nosuchimage\n"}, [], 1,
         "Unable to find image 'nosuchimage:latest' locally: no registry is configured; use "
         "busybox, or make the image with load, import or build"),
        ({"Dockerfile": "FROM busybox\nCOPY . /x/\n", "d/.wh.x": ""}, [], 1,
         "COPY failed: d/.wh.x: names starting with .wh. are reserved for layer whiteouts"),
        ({"Dockerfile": "FROM busybox\nCOPY --chown=nobody:staff x /\n", "x": ""}, [], 1,
         "unable to convert uid/gid chown string to host mapping: can't find gid for group "
         "staff: no such group: staff"),
        ({"Dockerfile": "FROM busybox\nCOPY x /etc/passwd/sub/\n", "x": ""}, [], 1,
         "mkdir /etc/passwd: not a directory"),
        ({"Dockerfile": "FROM busybox\nWORKDIR /etc/passwd/a/b\n"}, [], 1,
         "mkdir /etc/passwd: not a directory"),
        ({"Dockerfile": "FROM busybox\nRUN /no/such/binary 2>/dev/null\n"}, [], 127,
         "The command '/bin/sh -c /no/such/binary 2>/dev/null' returned a non-zero code: 127"),
    ],
)  # fmt: skip
def test_bad_input_gets_one_clear_line(
    engine: Engine,
    cli: CLI,
    tmp_path: Path,
    files: dict[str, str | bytes],
    args: list[str],
    code: int,
    message: str,
) -> None:
    ctx = context(tmp_path, files)
    r = cli("build", *args, *([] if args[-1:] and args[-1].startswith("/") else [str(ctx)]))
    assert r.code == code, r.err
    no_traceback(r.err)
    assert r.err.strip() == message
    # nothing left, but a failed RUN's container, which Docker leaves too
    left = [c.state["ExitCode"] for c in engine.containers(all=True)]
    assert left == ([code] if "returned a non-zero code" in message else [])


def test_context_symlinks_are_copied_as_symlinks_never_followed_out(
    engine: Engine, cli: CLI, tmp_path: Path
) -> None:
    (tmp_path / "outside.txt").write_text("host secret")
    ctx = context(tmp_path, {"dir/file": "f", "inside.txt": "in"})
    os.symlink("/etc/passwd", ctx / "dir/abs-link")
    os.symlink("../../outside.txt", ctx / "dir/rel-link")
    os.symlink("../outside.txt", ctx / "escape")
    os.symlink("inside.txt", ctx / "good-link")
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY dir /d/\nCOPY good-link /g\n")
    r = cli("build", "-t", "links", str(ctx))
    assert r.code == 0, r.err
    image = engine.image("links")
    d = image.layers[-2].diff_path / "d"
    assert os.readlink(d / "abs-link") == "/etc/passwd"  # a symlink, not the host's file
    assert os.readlink(d / "rel-link") == "../../outside.txt"
    assert (image.layers[-1].diff_path / "g").read_text() == "in"  # a named source is followed
    out = cli("run", "--rm", "links", "cat", "/d/rel-link")  # resolves inside the container
    assert "host secret" not in out.out
    # a named symlink pointing out of the context resolves inside it: not found
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY escape /e\n")
    bad = cli("build", str(ctx))
    assert bad.code == 1 and "file not found in build context" in bad.err


def test_copy_chown_destinations_and_wildcards(engine: Engine, cli: CLI, tmp_path: Path) -> None:
    dockerfile = """\
FROM busybox
RUN mkdir /existing && ln -s /existing /via-link
COPY --chown=1:2 a.txt /new/dir/
COPY b.txt /existing
COPY b.txt /via-link/renamed.txt
COPY --chown=daemon *.txt /wild/
COPY sub /sub-contents
WORKDIR rel
COPY a.txt .
"""
    ctx = context(
        tmp_path,
        {"Dockerfile": dockerfile, "a.txt": "a", "b.txt": "b", "sub/deep/x": "x", "sub/y": "y"},
    )
    r = cli("build", "-t", "copies", str(ctx))
    assert r.code == 0, r.err
    files = layer_files(engine.image("copies"))
    assert {
        "/new/dir/a.txt", "/existing/b.txt", "/existing/renamed.txt", "/wild/a.txt",
        "/wild/b.txt", "/sub-contents/deep/x", "/sub-contents/y", "/rel/a.txt",
    } <= files  # fmt: skip
    assert "/via-link/renamed.txt" not in files  # the symlink was followed inside the rootfs
    owners = cli(
        "run", "--rm", "copies", "stat", "-c", "%u:%g %n",
        "/new", "/new/dir", "/new/dir/a.txt", "/wild/a.txt", "/existing/b.txt",
    )  # fmt: skip
    assert owners.out.splitlines() == [
        "1:2 /new", "1:2 /new/dir", "1:2 /new/dir/a.txt", "1:1 /wild/a.txt", "0:0 /existing/b.txt",
    ]  # fmt: skip
    history = [h["created_by"] for h in engine.image("copies").config["history"]]
    assert any(
        re.fullmatch(r".*COPY --chown=1:2file:[0-9a-f]{64} in /new/dir/ ", h) for h in history
    )
    assert any(
        re.fullmatch(r".*COPY --chown=daemonmulti:[0-9a-f]{64} in /wild/ ", h) for h in history
    )
    assert any(re.fullmatch(r".*COPY dir:[0-9a-f]{64} in /sub-contents ", h) for h in history)


def test_quiet_prints_only_the_image_id(engine: Engine, cli: CLI, tmp_path: Path) -> None:
    ctx = context(tmp_path, {"Dockerfile": "FROM busybox\nRUN echo noisy\n"})
    r = cli("build", "-q", "-t", "quiet", str(ctx))
    assert r.code == 0, r.err
    assert r.out == engine.image("quiet").id + "\n"
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN echo noisy; false\n")
    failed = cli("build", "-q", str(ctx))
    assert failed.code == 1 and failed.out == ""
    assert "noisy" in failed.err and "Step 2/2" in failed.err  # shown only on failure
    assert failed.err.endswith("returned a non-zero code: 1\n")


def test_dockerfile_from_f_and_stdin_and_config_instructions(
    engine: Engine, cli: CLI, tmp_path: Path
) -> None:
    dockerfile = """\
# escape=`
FROM busybox
LABEL maintainer.name="A B" `
      version=1
EXPOSE 80 443/udp
VOLUME ["/data"]
USER 1000:1000
STOPSIGNAL SIGINT
SHELL ["/bin/sh", "-ec"]
ENTRYPOINT echo from-entrypoint
"""
    ctx = context(tmp_path, {"elsewhere/build.df": dockerfile})
    r = cli("build", "-f", str(ctx / "elsewhere/build.df"), "-t", "cfg", str(ctx))
    assert r.code == 0, r.err
    cfg = engine.image("cfg").config["config"]
    assert cfg["Labels"] == {"maintainer.name": "A B", "version": "1"}
    assert cfg["ExposedPorts"] == {"80/tcp": {}, "443/udp": {}}
    assert cfg["Volumes"] == {"/data": {}}
    assert cfg["User"] == "1000:1000"
    assert cfg["StopSignal"] == "SIGINT"
    assert cfg["Shell"] == ["/bin/sh", "-ec"]
    assert cfg["Entrypoint"] == ["/bin/sh", "-ec", "echo from-entrypoint"]
    assert cfg.get("Cmd") is None  # ENTRYPOINT resets the base image's CMD
    history = [h["created_by"] for h in engine.image("cfg").config["history"]]
    assert "/bin/sh -c #(nop)  VOLUME [/data]" in history
    assert "/bin/sh -c #(nop)  EXPOSE 80 443/udp" in history
    assert "/bin/sh -c #(nop)  SHELL [/bin/sh -ec]" in history
    stdin = cli("build", "-f", "-", "-q", str(ctx), input="FROM busybox\nENV FROM_STDIN=1\n")
    assert stdin.code == 0, stdin.err
    assert "FROM_STDIN=1" in engine.image(stdin.out.strip()).config["config"]["Env"]


def test_parse_keeps_line_numbers_and_original_text() -> None:
    parsed = parse_dockerfile(b"ARG V=1\nfrom busybox as base\nrun echo a \\\n  b\n")
    assert [a.original for a in parsed.meta_args] == ["ARG V=1"]
    stage = parsed.stages[0]
    assert (stage.name, stage.base, stage.source.line) == ("base", "busybox", 2)
    assert [(s.keyword, s.line, s.original) for s in stage.steps] == [("RUN", 3, "run echo a   b")]


def test_from_scratch(engine: Engine, cli: CLI, tmp_path: Path) -> None:
    ctx = context(
        tmp_path,
        {
            "Dockerfile": "FROM scratch\nCOPY busybox /bin/busybox\n"
            'CMD ["/bin/busybox", "echo", "from scratch"]\n',
            "busybox": Path("/bin/busybox").read_bytes(),
        },
    )
    os.chmod(ctx / "busybox", 0o755)
    r = cli("build", "-t", "scratchy", str(ctx))
    assert r.code == 0, r.err
    image = engine.image("scratchy")
    assert len(image.layers) == 1 and len(image.config["history"]) == 2
    assert cli("run", "--rm", "scratchy").out == "from scratch\n"
    (ctx / "Dockerfile").write_text("FROM scratch\nRUN true\n")
    bad = cli("build", str(ctx))
    assert bad.code == 1 and "/bin/sh" in bad.err
    no_traceback(bad.err)
    assert engine.containers(all=True) == []


@given(st.text(alphabet=st.characters(blacklist_characters="$'\"\\", min_codepoint=32)))
def test_lexer_leaves_plain_text_alone(text: str) -> None:
    assert Lexer().word(text, {"A": "1"}) == text


def test_scoped_resolve_never_leaves_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "real/dir").mkdir(parents=True)
    os.symlink("/etc", root / "abs")
    os.symlink("../../../..", root / "real/dir/up")
    os.symlink("real/dir", root / "rel")
    os.symlink("loop2", root / "loop1")
    os.symlink("loop1", root / "loop2")
    assert scoped_resolve(root, "/abs/passwd") == "etc/passwd"  # /etc inside the root
    assert scoped_resolve(root, "real/dir/up/x") == "x"
    assert scoped_resolve(root, "../../x") == "x"
    assert scoped_resolve(root, "rel/up/abs") == "etc"
    assert scoped_resolve(root, "missing/../rel/y") == "real/dir/y"
    with pytest.raises(BuildError, match="too many levels of symbolic links"):
        scoped_resolve(root, "loop1/x")


def test_run_output_reaches_a_stream_without_a_file_descriptor(
    engine: Engine, tmp_path: Path
) -> None:
    ctx = context(tmp_path, {"Dockerfile": "FROM busybox\nRUN echo 'h\u00e9llo' && echo err >&2\n"})
    out = io.StringIO()
    engine.build(ctx, BuildOptions(out=out))
    assert "h\u00e9llo\nerr\n" in out.getvalue()
    assert engine.containers(all=True) == []


def test_json_form_and_key_values_have_one_reading() -> None:
    assert json_array('["a", "b c"]') == ["a", "b c"]
    assert json_array('["a", 1]') is None and json_array("[oops") is None
    assert json_array("a b") is None
    config: dict[str, Any] = {}
    apply_change(config, "VOLUME [not json")  # the shell form, as Docker reads it
    apply_change(config, 'VOLUME ["/data"]')
    assert config["Volumes"] == {"[not": {}, "json": {}, "/data": {}}
    assert parse_key_values('A=1 B="two words"', "ENV") == [("A", "1"), ("B", "two words")]
    assert parse_key_values("A some value", "LABEL") == [("A", "some value")]
    for bad, message in [
        ("A", "must have two arguments"),
        ("=x", "names can not be blank"),
        ("A=1 B", 'can\'t find = in "B"'),
        ('A="x', "looking for matching double-quote"),
    ]:
        with pytest.raises(LayerlabError, match=message):
            parse_key_values(bad, "ENV")

"""`build` against odd input (issue 12) and Docker's HEALTHCHECK/ONBUILD/ENTRYPOINT (issue 10).

Odd inputs are generated here at sizes where a linear reading takes well under
a second and a quadratic one minutes: the pytest timeout is the guard, no test
asserts a time.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from layerlab.build.dockerfile import parse_dockerfile
from layerlab.build.instructions import (
    apply_change,
    apply_changes,
    go_duration,
    parse_go_duration,
    parse_healthcheck,
    parse_key_values,
)
from layerlab.build.lexer import Lexer, parse_words
from layerlab.engine import Engine
from layerlab.errors import BuildError, LayerlabError

from .conftest import CLI

pytestmark = pytest.mark.system

MB = 1 << 20


def context(tmp_path: Path, dockerfile: str, **files: str) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir(exist_ok=True)
    (ctx / "Dockerfile").write_text(dockerfile)
    for name, content in files.items():
        (ctx / name).write_text(content)
    return ctx


def snapshot(root: Path) -> dict[str, int]:
    """Every file of the store and its size: what "the store as it was" means."""
    found = {}
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            path = os.path.join(dirpath, name)
            found[os.path.relpath(path, root)] = os.lstat(path).st_size
    return found


def one_short_line(err: str, limit: int = 400) -> None:
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err[:500]
    assert len(err) <= limit, f"{len(err)} bytes: {err[:200]}"


@pytest.fixture
def warm(engine: Engine) -> Engine:
    engine.image("busybox")  # the base image exists before the snapshot
    return engine


# --- issue 12: odd input, linear, one line, store untouched ---------------------------------


def test_a_2mb_env_value_is_read_in_linear_time(warm: Engine, cli: CLI, tmp_path: Path) -> None:
    value = "v" * (2 * MB)
    ctx = context(
        tmp_path, f'FROM busybox\nENV BIG={value} QUOTED="a {value}"\nLABEL big={value}\n'
    )
    r = cli("build", "-q", "-t", "big", str(ctx), timeout=100)
    assert r.code == 0, r.err[:300]
    config = warm.image("big").run_config
    assert f"BIG={value}" in config["Env"]
    assert f"QUOTED=a {value}" in config["Env"]
    assert config["Labels"]["big"] == value


def test_large_words_parse_and_expand_in_linear_time() -> None:
    value = "x" * (4 * MB)
    assert parse_words(f"A={value} B=\"{value}\" C='{value}'", "\\") == [
        f"A={value}",
        f'B="{value}"',
        f"C='{value}'",
    ]
    assert Lexer().word(f'"{value}"$X', {"X": value}) == value * 2
    assert Lexer().words(f"a $X {value}", {"X": "1 2"}) == ["a", "1", "2", value]
    assert parse_key_values(f'K="{value}"', "ENV") == [("K", value)]
    spaced = " ".join(["w"] * MB)
    assert len(parse_words(spaced, "\\")) == MB
    # a long instruction continued over many lines, comments and blank lines among them
    lines = "\n".join(["RUN true \\"] + ["  # note\n\n  && true \\"] * 50_000 + ["  && true"])
    dockerfile = parse_dockerfile(f"FROM busybox\n{lines}\n".encode())
    run = dockerfile.stages[0].steps[0]
    assert run.line == 2 and run.args.count("&& true") == 50_001


def test_deeply_nested_substitution_is_one_clear_line(
    warm: Engine, cli: CLI, tmp_path: Path
) -> None:
    nested = "${a:-" * 2000 + "x" + "}" * 2000
    before = snapshot(warm.store.root)
    ctx = context(tmp_path, f"FROM busybox\nENV A={nested}\n")
    r = cli("build", str(ctx))
    assert r.code == 1
    one_short_line(r.err)
    assert "nested more than 100 levels deep" in r.err
    assert snapshot(warm.store.root) == before
    # nesting a Dockerfile really uses still expands
    assert Lexer().word("${a:-" * 50 + "x" + "}" * 50, {}) == "x"
    with pytest.raises(BuildError, match="nested"):
        Lexer().word('"' + "${a:-" * 5000 + '"', {})


@pytest.mark.parametrize(
    "dockerfile",
    [
        "FROM busybox\nFOO{big}\n",  # unknown instruction
        "FROM busybox\nENV a=1 {big}\n",  # no = in a word
        "FROM busybox\nCOPY --{big}=x a b\n",  # unknown flag
        "FROM busybox AS {big}!\n",  # bad stage name
        "FROM busybox\nEXPOSE {big}\n",  # bad port
        "FROM busybox\nHEALTHCHECK --interval={big} CMD true\n",  # bad duration
        "FROM busybox\nONBUILD {big}\n",  # unknown trigger
        "FROM busybox\nCOPY --from={big} a b\n",  # no such image
    ],
)
def test_a_10mb_line_is_quoted_only_by_its_start(
    warm: Engine, cli: CLI, tmp_path: Path, dockerfile: str
) -> None:
    before = snapshot(warm.store.root)
    ctx = context(tmp_path, dockerfile.format(big="Y" * (10 * MB)))
    r = cli("build", str(ctx), timeout=100)
    assert r.code != 0
    one_short_line(r.err)
    assert snapshot(warm.store.root) == before
    assert warm.containers(all=True) == []


# --- issue 10: HEALTHCHECK and ONBUILD stored, ENTRYPOINT clears Cmd ----------------------


def test_healthcheck_and_onbuild_are_stored_as_docker_stores_them(
    warm: Engine, cli: CLI, tmp_path: Path
) -> None:
    ctx = context(
        tmp_path,
        "FROM busybox\n"
        "HEALTHCHECK --interval=5m --timeout=3s --start-period=1.5s --retries=3 \\\n"
        "  CMD wget -q localhost || exit 1\n"
        "ONBUILD RUN echo triggered > /onbuild.txt\n"
        "ONBUILD COPY hello.txt /from-child/\n",
        **{"hello.txt": "hi\n"},
    )
    r = cli("build", "-t", "parent", str(ctx))
    assert r.code == 0, r.err
    assert "Step 2/4 : HEALTHCHECK --interval=5m" in r.out
    assert "Step 3/4 : ONBUILD RUN echo triggered > /onbuild.txt" in r.out
    config = warm.image("parent").run_config
    assert config["Healthcheck"] == {
        "Test": ["CMD-SHELL", "wget -q localhost || exit 1"],
        "Interval": 300_000_000_000,
        "Timeout": 3_000_000_000,
        "StartPeriod": 1_500_000_000,
        "Retries": 3,
    }
    assert config["OnBuild"] == ["RUN echo triggered > /onbuild.txt", "COPY hello.txt /from-child/"]
    history = [h.created_by for h in warm.history("parent")]
    assert history[2] == (
        '/bin/sh -c #(nop)  HEALTHCHECK &{["CMD-SHELL" "wget -q localhost || exit 1"] '
        '"5m0s" "3s" "1.5s" \'\\x03\'}'
    )
    assert history[0] == "/bin/sh -c #(nop)  ONBUILD COPY hello.txt /from-child/"

    # a child runs the triggers at its FROM, and does not pass them on
    (tmp_path / "c").mkdir()
    child = context(
        tmp_path / "c",
        "FROM parent\nHEALTHCHECK NONE\nRUN cat /onbuild.txt /from-child/hello.txt\n",
    )
    (child / "hello.txt").write_text("child's\n")
    r = cli("build", "-t", "child", str(child))
    assert r.code == 0, r.err
    assert "Step 1/3 : FROM parent\n# Executing 2 build triggers\n ---> Running in" in r.out
    assert "Note: overriding previous HEALTHCHECK: [CMD-SHELL wget -q localhost || exit 1]" in r.out
    assert "triggered\nchild's\n" in r.out
    config = warm.image("child").run_config
    assert config["Healthcheck"] == {"Test": ["NONE"]}
    assert not config.get("OnBuild")
    again = cli("build", "-t", "child", str(child))
    assert again.out.count(" ---> Using cache") == 4
    assert warm.containers(all=True) == []


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("HEALTHCHECK --interval=0s CMD true", 'Interval "interval" cannot be less than 1ms'),
        ("HEALTHCHECK --interval=5 CMD true", 'time: missing unit in duration "5"'),
        ("HEALTHCHECK --retries=0 CMD true", "--retries must be at least 1 (not 0)"),
        ("HEALTHCHECK --nope=1 CMD true", "Unknown flag: nope"),
        ("HEALTHCHECK NONE true", "HEALTHCHECK NONE takes no arguments"),
        ("HEALTHCHECK RUN true", 'Unknown type "RUN" in HEALTHCHECK (try CMD)'),
        ("HEALTHCHECK CMD", "Missing command after HEALTHCHECK CMD"),
        ("ONBUILD ONBUILD RUN true", "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
        ("ONBUILD FROM busybox", "FROM isn't allowed as an ONBUILD trigger"),
        ("ONBUILD NOPE x", "unknown instruction: NOPE"),
    ],
)
def test_bad_healthcheck_and_onbuild_fail_before_step_1(line: str, message: str) -> None:
    with pytest.raises(BuildError) as caught:
        parse_dockerfile(f"FROM busybox\n{line}\n".encode())
    assert str(caught.value) == f"Dockerfile:2: {message}"


def test_go_durations_read_and_print_as_go() -> None:
    for text, ns, shown in [
        ("5m", 300_000_000_000, "5m0s"),
        ("1h", 3_600_000_000_000, "1h0m0s"),
        ("1.5s", 1_500_000_000, "1.5s"),
        ("300ms", 300_000_000, "300ms"),
        ("1h2m3.25s", 3_723_250_000_000, "1h2m3.25s"),
        ("2us", 2_000, "2\u00b5s"),
        ("0", 0, "0s"),
    ]:
        assert parse_go_duration(text) == ns
        assert go_duration(ns) == shown
    for bad in ("", "5", "1x", "s", "."):
        with pytest.raises(LayerlabError):
            parse_go_duration(bad)
    assert parse_healthcheck('CMD ["curl", "-f", "x"]') == {"Test": ["CMD", "curl", "-f", "x"]}


def test_entrypoint_clears_cmd_unless_a_cmd_came_first() -> None:
    config: dict[str, Any] = {"Cmd": ["sh"], "Entrypoint": None}
    apply_change(config, 'ENTRYPOINT ["top"]')
    assert config == {"Cmd": None, "Entrypoint": ["top"]}
    config = {"Cmd": ["sh"]}
    apply_changes(config, ['CMD ["-b"]', 'ENTRYPOINT ["top"]'])
    assert config == {"Cmd": ["-b"], "Entrypoint": ["top"]}
    apply_changes(config, ["ENV A=1", 'ENV B="$A two" C=\\$A', "LABEL l=${A}"])
    assert config["Env"] == ["A=1", "B=1 two", "C=$A"]  # expanded in the image's Env
    assert config["Labels"] == {"l": "1"}
    apply_changes(config, ["HEALTHCHECK NONE", "ONBUILD RUN true", "ONBUILD RUN false"])
    assert config["Healthcheck"] == {"Test": ["NONE"]}
    assert config["OnBuild"] == ["RUN true", "RUN false"]


def test_commit_change_entrypoint_resets_cmd(warm: Engine, cli: CLI) -> None:
    assert cli("create", "--name", "c1", "busybox", "sleep", "1").code == 0
    r = cli("commit", "-c", 'ENTRYPOINT ["echo", "hi"]', "c1", "withentry")
    assert r.code == 0, r.err
    config = json.loads(cli("inspect", "withentry").out)[0]["Config"]
    assert config["Entrypoint"] == ["echo", "hi"]
    assert config["Cmd"] is None

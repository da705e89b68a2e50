"""Lessons in the TUI, the classroom (demo, record, serve) - on real containers.

A lesson runs in a sandbox store of its own: the learner's store is checked
untouched; sandboxes go to the test's temp folder (`LAYERLAB_LESSON_TMP`) and
must be gone afterwards. Progress goes to the test's `XDG_STATE_HOME`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from textual.widgets import Markdown, OptionList

from layerlab.engine import Engine
from layerlab.lessons.loader import find_lesson, load_course
from layerlab.lessons.progress import Progress
from layerlab.tui.app import LayerlabApp
from layerlab.tui.lesson_picker import LessonPicker
from layerlab.tui.settle import settled

from .conftest import eventually, eventually_async
from .tui_helpers import enter, output, text, wait_checks

pytestmark = pytest.mark.system

REPO = Path(__file__).resolve().parent.parent


def test_a_lesson_walked_through_the_tui(engine: Engine, lesson_env: Path, tmp_path: Path) -> None:
    """Pick it (F7), a failing check and its hint, paste and type, ✔, next step, leave."""

    async def main() -> None:
        app = LayerlabApp(engine.store.root)
        async with app.run_test(size=(140, 44)) as pilot:
            await settled(pilot)
            await pilot.press("f7")
            await settled(pilot, until=lambda: isinstance(app.screen, LessonPicker))
            picker = app.screen.query_one(OptionList)
            course = load_course()
            wanted = next(i for i, lesson in enumerate(course) if lesson.name == "containers")
            picker.highlighted = wanted
            await pilot.press("enter")
            await settled(pilot, until=lambda: app.lesson_pane is not None)
            pane = app.lesson_pane
            assert pane is not None
            assert app.engine.store.root != engine.store.root  # the lesson's own store
            assert "step 1 of 3" in text(app, "#lesson-head")

            # Nothing typed yet: the check fails, showing its goal and what is there now.
            await wait_checks(pilot, pane, passed=False)
            checks = text(app, "#lesson-checks")
            assert "✘ container box is created — now: no such container" in checks
            await pilot.press("f10")  # the first hint, then the second
            await settled(pilot, until=lambda: "hint 1/2" in pane.help_text)
            assert "hint 2/2" not in pane.help_text
            await pilot.press("f10")
            await settled(pilot, until=lambda: "hint 2/2" in pane.help_text)

            await pilot.press("f9")  # the command, pasted into the command bar
            assert app.command_bar.value == "create --name box busybox"
            done = app.commands_done
            await pilot.press("enter")
            await settled(pilot, commands=done + 1, current=True, timeout=60)
            await wait_checks(pilot, pane, passed=True)
            assert "✔ container box is created" in text(app, "#lesson-checks")

            await pilot.press("ctrl+n")
            await settled(pilot, until=lambda: pane.ready and pane.run is not None)
            assert "step 2 of 3" in text(app, "#lesson-head")
            prose = app.query_one("#lesson-prose", Markdown)
            assert "writable layer is empty" in prose.source
            await enter(pilot, "diff box")
            await wait_checks(pilot, pane, passed=True)
            await pilot.press("ctrl+n")
            await settled(pilot, until=lambda: "step 3 of 3" in text(app, "#lesson-head"))
            await enter(pilot, "inspect -f '{{.GraphDriver.Data.UpperDir}}' box")
            await wait_checks(pilot, pane, passed=True)
            assert "lesson done" in text(app, "#lesson-checks")
            assert engine.containers(all=True) == []  # the learner's store: untouched

            # Leave: back on the learner's store, the sandbox removed.
            await pilot.press("f7")
            await settled(pilot, until=lambda: isinstance(app.screen, LessonPicker))
            app.screen.query_one(OptionList).highlighted = 0  # "leave lesson containers"
            await pilot.press("enter")
            await settled(pilot, until=lambda: app.lesson_pane is None and not app.lesson_closing)
            assert app.engine is app.home_engine
            assert app.engine.store.root == engine.store.root

    asyncio.run(main())
    progress = Progress.load()
    assert "containers" in progress.done
    assert json.loads((tmp_path / "state" / "layerlab" / "progress.json").read_text())["done"]


def test_restart_begins_again_on_a_clean_store(engine: Engine, lesson_env: Path) -> None:
    async def main() -> None:
        lesson = find_lesson(load_course(), "containers")
        app = LayerlabApp(engine.store.root, lesson)
        async with app.run_test(size=(140, 44)) as pilot:
            await settled(pilot, until=lambda: app.lesson_pane is not None)
            pane = app.lesson_pane
            assert pane is not None
            await wait_checks(pilot, pane, passed=False)
            await enter(pilot, "create --name box busybox")
            await wait_checks(pilot, pane, passed=True)
            first = app.engine
            assert "$ create --name box busybox" in "\n".join(output(app))
            await pilot.press("ctrl+r")
            await settled(pilot, until=lambda: app.lesson_pane is not pane)
            again = app.lesson_pane
            assert again is not None and app.engine is not first
            await settled(
                pilot, until=lambda: "$ create --name box busybox" not in "\n".join(output(app))
            )
            await wait_checks(pilot, again, passed=False)  # a fresh store: no box yet
            assert app.engine.containers(all=True) == []
            await settled(pilot, until=lambda: not app.lesson_closing)

    asyncio.run(main())


def test_demo_plays_a_lesson_to_the_end(engine: Engine, lesson_env: Path) -> None:
    async def main() -> None:
        lesson = find_lesson(load_course(), "containers")
        app = LayerlabApp(engine.store.root, lesson, demo=0.0)
        async with app.run_test(size=(140, 44)) as pilot:
            await settled(pilot, until=lambda: app.lesson_pane is not None)
            pane = app.lesson_pane
            assert pane is not None
            await settled(pilot, until=lambda: pane.demo_done, timeout=120)
            assert app.commands_done == 3
            assert pane.passed
            assert "step 3 of 3" in text(app, "#lesson-head")
            typed = [line for line in app.command_bar.history]
            assert typed[0] == "create --name box busybox"  # typed into the bar, then run

    asyncio.run(main())
    assert "containers" in Progress.load().done


def layerlab(*args: str, env: dict[str, str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "layerlab", *args],
        capture_output=True, text=True, env=env, timeout=600, **kw,  # type: ignore[call-overload]
    )  # fmt: skip


def test_record_round_trips(tmp_path: Path, lesson_env: Path) -> None:
    """A recorded session becomes a lesson file that passes `lesson run --auto`."""
    lessons = tmp_path / "lessons"
    env = dict(
        os.environ,
        PYTHONPATH=str(REPO / "app"),
        LAYERLAB_ROOT=str(tmp_path / "learner"),
        LAYERLAB_LESSON_TMP=str(lesson_env),
    )
    session = "\n".join(
        [
            "run --name happy busybox touch /happiness.txt",
            "step",
            "commit happy happy-image",
            "step",
            "run --name sad happy-image rm /happiness.txt /bin/ls",
            "done",
        ]
    )
    made = layerlab(
        "lesson", "record", "happy", "-o", str(lessons / "01-happy.yaml"), env=env, input=session
    )
    assert made.returncode == 0, made.stdout + made.stderr
    written = (lessons / "01-happy.yaml").read_text()
    assert "layer_has:" in written and "/happiness.txt" in written
    assert "container_state:" in written and "exit_code: 0" in written
    assert "image_layers:" in written and "happy-image" in written
    assert "whiteout:" in written and "/bin/ls" in written
    played = layerlab("lesson", "run", "happy", "--auto", "--dir", str(lessons), env=env)
    assert played.returncode == 0, played.stdout + played.stderr
    assert "1 passed" in played.stdout
    assert not (tmp_path / "learner").exists()  # the learner's store was never touched


# --- serve ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@contextlib.contextmanager
def serving(*args: str, tmp: Path, log: list[str] | None = None) -> Iterator[str]:
    """`layerlab serve ARGS` until the block ends; yields the URL it printed, and puts the
    rest of what it printed in `log` once it has ended."""
    env = dict(os.environ, PYTHONPATH=str(REPO / "app"), LAYERLAB_LESSON_TMP=str(tmp))
    env["COLUMNS"] = "1000"  # its log's lines whole, not wrapped at 80
    proc = subprocess.Popen(
        [sys.executable, "-m", "layerlab", "serve", *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"open (http://\S+)", line)
        assert match, line
        url = match.group(1)
        base = url.split("?")[0]
        deadline = time.monotonic() + 60  # a hang guard while the server binds
        while True:
            try:
                with socket.create_connection(
                    (base.split("//")[1].split(":")[0], int(base.rsplit(":", 1)[1].strip("/"))), 1
                ):
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.05)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            rest = proc.stdout.read()
            proc.stdout.close()
            if log is not None:
                log.append(rest)


async def probe_serve(base: str, token: str) -> None:
    """Tokenless, wrong-token and token-carrying requests to the page, its files and the
    websocket, as a browser makes them (the page's cookie carried after it)."""
    jar = aiohttp.CookieJar(unsafe=True)  # cookies from an IP address (127.0.0.1) too
    async with aiohttp.ClientSession(cookie_jar=jar) as client:
        for path in ("", "?token=wrong", "static/js/textual.js", "nowhere"):
            async with client.get(base + path) as response:
                assert response.status == 403, path
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await client.ws_connect(base + "ws")
        assert refused.value.status == 403
        async with client.get(base, params={"token": token}) as response:
            assert response.status == 200
            assert "<div>layerlab</div>" in await response.text()  # the splash names the app
        async with client.get(base + "static/js/textual.js") as response:
            assert response.status == 200  # the page's cookie carries the token
        async with client.ws_connect(base + "ws?width=100&height=30") as ws:
            first = await ws.receive(timeout=90)  # a hang guard while the session starts
            assert first.type in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT), first


def test_serve_on_localhost_requires_a_generated_token(tmp_path: Path) -> None:
    """Any local user reaches 127.0.0.1: the token is required there too, and shown once."""
    port = free_port()
    log: list[str] = []
    with serving("--port", str(port), tmp=tmp_path, log=log) as url:
        base = f"http://127.0.0.1:{port}/"
        token = url.removeprefix(base + "?token=")
        assert len(token) >= 16 and url == f"{base}?token={token}"
        assert get(base)[0] == 403
        asyncio.run(probe_serve(base, token))
        # The session the websocket opened ends with it, and its store is removed.
        eventually(lambda: list(tmp_path.glob("layerlab-lesson-*")), [], timeout=60)
    assert "?token=wrong" in log[0]  # the log shows requests ...
    assert token not in log[0]  # ... never the token


class BrowserSession:
    """One browser session over its websocket: what its TUI drew so far, read as it comes
    (reading also answers the server's heartbeat)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws, self.screen = ws, ""
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self.ws:
            if message.type == aiohttp.WSMsgType.BINARY:
                self.screen += message.data.decode("utf-8", "replace")

    async def type(self, keys: str) -> None:
        await self.ws.send_json(["stdin", keys])


def history_in(folder: Path) -> list[str]:
    """The command history a session kept in its own folder."""
    path = folder / "state" / "layerlab" / "history"
    return path.read_text().splitlines() if path.exists() else []


async def two_sessions_type(base: str, token: str, tmp: Path) -> None:
    """Two browser sessions, one command typed in each: each history holds its own."""
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as client:
        async with client.get(base, params={"token": token}) as response:
            assert response.status == 200
        sessions: list[tuple[BrowserSession, Path]] = []
        for _ in range(2):
            before = set(tmp.glob("layerlab-lesson-*"))
            session = BrowserSession(await client.ws_connect(base + "ws?width=120&height=40"))
            await eventually_async(lambda s=session: "Lessons" in s.screen, True, timeout=90)
            (folder,) = set(tmp.glob("layerlab-lesson-*")) - before  # this session's own
            sessions.append((session, folder))
        (first, first_dir), (second, second_dir) = sessions
        await first.type("version\r")
        await eventually_async(lambda: history_in(first_dir), ["version"], timeout=90)
        await second.type("images\r")
        await eventually_async(lambda: history_in(second_dir), ["images"], timeout=90)
        assert history_in(first_dir) == ["version"]  # neither recalls the other's command
        for session, _ in sessions:
            await session.ws.close()
            await session.reader


def test_serve_keeps_a_history_per_browser_session(tmp_path: Path, state_home: Path) -> None:
    port = free_port()
    with serving("--port", str(port), "--token", "tok", tmp=tmp_path):
        asyncio.run(two_sessions_type(f"http://127.0.0.1:{port}/", "tok", tmp_path))
        eventually(lambda: list(tmp_path.glob("layerlab-lesson-*")), [], timeout=60)
    assert not (state_home / "layerlab").exists()  # nor does the teacher's history get theirs


def test_serve_requires_its_token(tmp_path: Path) -> None:
    port = free_port()
    with serving("--port", str(port), "--token", "s3cret", tmp=tmp_path) as url:
        base = f"http://127.0.0.1:{port}/"
        assert get(base)[0] == 403
        assert get(base + "?token=wrong")[0] == 403
        assert get(base + "ws")[0] == 403
        status, page = get(base + "?token=s3cret")
        assert status == 200 and "layerlab" in page
        assert url == base + "?token=s3cret"


def test_serve_on_another_host_generates_a_token(tmp_path: Path) -> None:
    port = free_port()
    with serving("--port", str(port), "--host", "127.0.0.2", tmp=tmp_path) as url:
        token = url.split("?token=")[1]
        assert len(token) >= 16
        assert get(f"http://127.0.0.2:{port}/")[0] == 403
        assert get(f"http://127.0.0.2:{port}/?token={token}")[0] == 200


def test_serve_in_a_real_browser(tmp_path: Path) -> None:
    """Debian's chromium, driven by Playwright, opens the page and gets the TUI's screen."""
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        pytest.skip("chromium is not installed (apt-get install chromium; `make test` does)")
    playwright = pytest.importorskip("playwright.sync_api")
    port = free_port()
    with serving("--port", str(port), "--token", "tok", tmp=tmp_path) as url:
        frames: list[str] = []
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=chromium, args=["--no-sandbox", "--disable-gpu"]
            )
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 900})

                def on_socket(ws: object) -> None:
                    def got(payload: str | bytes) -> None:
                        raw = payload if isinstance(payload, bytes) else payload.encode()
                        frames.append(raw.decode("utf-8", "replace"))

                    ws.on("framereceived", got)  # type: ignore[attr-defined]

                page.on("websocket", on_socket)
                page.goto(url)
                assert "layerlab" in page.content()
                # The terminal draws on a canvas: what the TUI sent the page is its text.
                deadline = time.monotonic() + 90  # a hang guard while the session starts
                while "Lessons" not in "".join(frames) or "layerlab" not in "".join(frames):
                    assert time.monotonic() < deadline, "".join(frames)[-2000:]
                    page.wait_for_timeout(100)
                page.wait_for_selector("body.-first-byte", timeout=60_000)
                assert list(tmp_path.glob("layerlab-lesson-*"))  # the session's own store
            finally:
                browser.close()
    # The browser gone and the server stopped, the session's store is removed too.
    eventually(lambda: list(tmp_path.glob("layerlab-lesson-*")), [], timeout=60)

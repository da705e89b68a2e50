"""`build`: a Dockerfile becomes layers - Docker's legacy builder loop, made real.

"docker build repeatedly executes commands from a Dockerfile: it runs,
modifies, and commits, creating a new layer at each step." Each step works on
the image the previous step left behind, in a container of its own: RUN starts
it attached (its output streams into the build output); COPY, ADD and WORKDIR
mount its union and write into the merged view, as Docker copies into a fresh
writable layer; config steps (ENV, CMD, ...) commit it unchanged with the new
config. A commit whose writable layer is untouched adds a history entry with
`empty_layer` and no layer, as Docker's.

Every step leaves an untagged intermediate image whose parent is the previous
step's image, so `images -a` lists them, `history` names them, and a rebuild
finds each step again: a step is reused when an image already has the same
parent, the same `created_by` (which for COPY/ADD carries a hash of the copied
content) and the same resulting config. A cached step starts no container.

The builder drives containers through `BuildHost`, the few engine commands it
needs, so it depends on no engine: the engine hands itself in.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import json
import os
import posixpath
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol, TextIO

from layerlab.build.context import Source, SourceRoot, scoped_resolve, sent_size
from layerlab.build.dockerfile import (
    KNOWN,
    Instruction,
    Stage,
    parse_arg_words,
    parse_build_args,
    parse_dockerfile,
    parse_name_val,
    parse_trigger,
    split_copy_args,
    validate,
)
from layerlab.build.dockerignore import IgnoreMatcher
from layerlab.build.instructions import (
    DEFAULT_SHELL,
    apply_change,
    healthcheck_comment,
    json_array,
    parse_command,
    parse_healthcheck,
    set_env,
    set_labels,
)
from layerlab.build.lexer import Lexer, clip, go_list
from layerlab.errors import BuildError, LayerlabError, NotFound, go_strerror
from layerlab.layerfs import unionfs
from layerlab.presentation.humanize import human_size
from layerlab.report import BuildStep
from layerlab.storage import images as imagelib
from layerlab.storage.containers import Container, CreateOptions, parse_signal
from layerlab.storage.reference import chain_id, normalize_ref, short_id, validate_reference
from layerlab.storage.store import Store

NOP = "#(nop) "
# Docker's predefined ARGs: usable without an ARG line, kept out of the cache key.
BUILTIN_ARGS = frozenset(
    f"{name}_PROXY" if upper else f"{name.lower()}_proxy"
    for name in ("HTTP", "HTTPS", "FTP", "NO", "ALL")
    for upper in (True, False)
)
MAX_MESSAGE = 300  # an error longer than this quotes only its start
REBUILDS = 3  # times a build starts again when images it stands on are removed meanwhile
PORT_RE = re.compile(r"^\d{1,5}(-\d{1,5})?(/(tcp|udp|sctp))?$")

# A container's stdin, stdout and stderr: an fd, a file, or None to inherit ours.
Stdio = tuple[int | IO[Any] | None, int | IO[Any] | None, int | IO[Any] | None]

if TYPE_CHECKING:  # a protocol for the type checker only: no class to build at each start

    class BuildHost(Protocol):
        """What the builder asks of the engine: the commands a step is made of, and the store."""

        @property
        def store(self) -> Store: ...

        def image(self, ref: str) -> imagelib.Image: ...

        def create(self, image_ref: str, opts: CreateOptions) -> Container: ...

        def container(self, ref: str) -> Container: ...

        def lower_dirs(self, container: Container) -> list[Path]: ...

        def start_attached(self, ref: str, stdio: Stdio = (None, None, None)) -> int: ...

        def commit(
            self,
            ref: str,
            *,
            author: str = "",
            pause: bool = True,
            run_config: dict[str, Any] | None = None,
            created_by: str | None = None,
            empty_layer_if_unchanged: bool = False,
        ) -> str: ...

        def rm(self, ref: str, force: bool = False, volumes: bool = False) -> str: ...

        def keep_build_container(self, cid: str) -> None: ...


@dataclass
class BuildOptions:
    """`docker build`'s flags; `out` gets the step lines, `run_output` the RUN output."""

    tags: list[str] = field(default_factory=list)
    dockerfile: str | None = None  # -f, relative to the current directory
    dockerfile_text: bytes | None = None  # -f - (read from stdin by the caller)
    no_cache: bool = False
    build_args: list[str] = field(default_factory=list)  # K=V, or K to take $K
    quiet: bool = False
    remove: bool = True  # --rm: remove each step's container
    force_remove: bool = False  # --force-rm: ... also when the step fails
    target: str | None = None
    out: TextIO | None = None  # default sys.stdout
    err: TextIO | None = None  # default sys.stderr: where -q dumps the output of a failed build
    run_output: int | IO[Any] | None = None  # a RUN's stdout+stderr; None = our stdout
    steps: list[BuildStep] | None = None  # given: each step is recorded here, as it finishes


@dataclass(repr=False, eq=False)  # cheap to define: this module loads on every build
class StageState:
    """What one stage has built so far: Docker's dispatchState."""

    image_id: str
    config: dict[str, Any]  # the image's run config ("config" in the OCI config)
    history_len: int
    args: dict[str, str | None] = field(default_factory=dict)  # ARGs declared in this stage
    cmd_set: bool = False
    busted: bool = False  # a cache miss: later steps of the stage can't hit
    maintainer: str = ""


class Vanished(Exception):
    """An image this build took from its cache or made was removed meanwhile (`rmi`,
    `image prune`): the build starts again, and that step is a cache miss then."""


class StepFailed(BuildError):
    """A RUN step's command exited non-zero: its container stays, as Docker leaves it."""


class Builder:
    def __init__(self, host: BuildHost, context: Path, options: BuildOptions) -> None:
        self.host = host
        self.store = host.store
        self.context_dir = Path(context)
        self.opts = options
        self.buffer: io.StringIO | None = io.StringIO() if options.quiet else None
        self.out: TextIO = self.buffer or options.out or sys.stdout
        self.build_args: dict[str, str | None] = {}
        self.referenced: set[str] = set()
        self.meta: dict[str, str | None] = {}
        self.lexer = Lexer()
        self.built: list[str] = []  # each finished stage's image, by index
        self.stage_names: dict[str, str] = {}  # ... by name
        self._children: dict[str, list[str]] | None = None
        self._sink: IO[bytes] | None = None
        self._step_cached = False  # the step under way: reused from the cache ...
        self._step_container = ""  # ... or run in this container

    # --- output ---
    def say(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()

    @contextlib.contextmanager
    def _run_stdio(self) -> Iterator[Stdio]:
        """Where a RUN's stdout and stderr go: both into the build output, as Docker's."""
        if self.opts.quiet:  # kept aside, shown only if the build fails
            if self._sink is None:
                self._sink = tempfile.TemporaryFile()  # noqa: SIM115 - closed by run()
            yield (subprocess.DEVNULL, self._sink.fileno(), self._sink.fileno())
            self._collect_run_output()
            return
        target = self.opts.run_output
        if target is None:
            with contextlib.suppress(AttributeError, OSError, ValueError):
                target = self.out.fileno()
        if target is not None:
            yield (subprocess.DEVNULL, target, target)
            return
        from layerlab.runtime.pipes import pump_into  # rare: a stream without a file descriptor

        with pump_into(self.out) as fd:
            yield (subprocess.DEVNULL, fd, fd)

    def _collect_run_output(self) -> None:
        if self._sink is not None and self.buffer is not None:
            self._sink.seek(0)
            self.buffer.write(self._sink.read().decode(errors="replace"))
            self._sink.seek(0)
            self._sink.truncate()

    # --- the whole build ---
    def run(self) -> str:
        try:
            return self._build()
        except LayerlabError as exc:
            self._dump_quiet()
            message = str(exc)
            if len(message) > MAX_MESSAGE or "\n" in message:  # untrusted text never floods
                raise BuildError(clip(message, MAX_MESSAGE), exc.exit_code) from None
            raise
        except BaseException:
            self._dump_quiet()
            raise
        finally:
            if self._sink is not None:
                self._sink.close()

    def _dump_quiet(self) -> None:
        """-q: the output is shown only when the build fails."""
        if self.buffer is not None:
            err = self.opts.err or sys.stderr
            err.write(self.buffer.getvalue())
            err.flush()

    def _build(self) -> str:
        tags = []
        for tag in self.opts.tags:
            try:
                validate_reference(tag)
            except LayerlabError as exc:
                raise BuildError(
                    f'invalid argument "{tag}" for "-t, --tag" flag: {exc}', 125
                ) from None
            tags.append(normalize_ref(tag))
        self.build_args = parse_build_args(self.opts.build_args)
        context = self._check_context()
        name, data = self._read_dockerfile(context)
        # .dockerignore applies to the Dockerfile and itself too: the daemon drops them.
        ignore = IgnoreMatcher.read(context / ".dockerignore")
        self.context = SourceRoot(context, ignore, "build context")
        self._say_sent(context, name, len(data))
        dockerfile = parse_dockerfile(data, name)
        self.lexer = Lexer(dockerfile.escape)
        stages = dockerfile.stages
        if self.opts.target is not None:
            wanted = self.opts.target.lower()
            index = next((s.index for s in stages if s.name == wanted), None)
            if index is None:
                raise BuildError(f"failed to reach build target {self.opts.target} in Dockerfile")
            stages = stages[: index + 1]
        total = len(dockerfile.meta_args) + sum(1 + len(s.steps) for s in stages)
        number = 0

        def step(inst: Instruction) -> None:
            nonlocal number
            number += 1
            self.say(f"Step {number}/{total} : {inst.original}")

        for inst in dockerfile.meta_args:
            step(inst)
            for key, value in parse_arg_words(inst, dockerfile.escape):
                if value is not None:
                    value = self.lexer.word(value, self._meta_env())
                override = self.build_args.get(key)
                self.meta[key] = override if override is not None else value
                self.referenced.add(key)

        recorded, rebuilds = len(self.opts.steps or []), 0
        while True:
            try:
                return self._build_stages(stages, step, tags)
            except Vanished as exc:
                if rebuilds == REBUILDS:
                    raise BuildError(f"No such image: {exc}") from None
                rebuilds += 1
                self.say(f"Image {short_id(str(exc))} was removed meanwhile: building again")
            number = len(dockerfile.meta_args)
            self.built.clear()
            self.stage_names.clear()
            self._children = None  # the store's images are read again: the removed are misses
            if self.opts.steps is not None:
                del self.opts.steps[recorded:]

    def _build_stages(
        self, stages: list[Stage], step: Callable[[Instruction], None], tags: list[str]
    ) -> str:
        """Every stage's steps, then the tags: the image built."""
        built, names = self.built, self.stage_names
        for stage in stages:
            step(stage.source)
            state = self._begin_stage(stage, names)
            self._run_triggers(state, stage)
            self._step_cached, self._step_container = False, ""
            self._record(stage.source, state)
            self.say(f" ---> {short_id(state.image_id)}")
            for inst in stage.steps:
                step(inst)
                self._step_cached, self._step_container = False, ""
                self._dispatch(state, inst)
                self._record(inst, state)
                self.say(f" ---> {short_id(state.image_id)}")
            built.append(state.image_id)
            if stage.name:
                names[stage.name] = state.image_id

        unused = sorted(
            k for k in self.build_args if k not in self.referenced and k not in BUILTIN_ARGS
        )
        if unused:
            self.say(f"[Warning] One or more build-args [{' '.join(unused)}] were not consumed")
        image_id = built[-1]
        # A tag that names this image already stays as it is: a rebuild the cache had whole
        # writes nothing (no lock, no fsync), as it changes nothing.
        current = self.store.read_repositories()
        moved = [t for t in tags if current.get(t) != image_id]
        if moved:
            try:
                with self.store.lock():
                    for tag in moved:
                        imagelib.tag_image(self.store, image_id, tag)
            except NotFound:  # removed since it was built (or found in the cache)
                raise Vanished(image_id) from None
        self.say(f"Successfully built {short_id(image_id)}")
        for tag in tags:
            self.say(f"Successfully tagged {tag}")
        return image_id

    def _record(self, inst: Instruction, state: StageState) -> None:
        """Note what the step did, for a face that explains the build (`BuildOptions.steps`)."""
        if self.opts.steps is None:
            return
        layer = "" if inst.keyword == "FROM" else self._new_layer(state.image_id)
        self.opts.steps.append(
            BuildStep(inst.original, inst.keyword, self._step_cached, self._step_container,
                      layer, state.image_id)
        )  # fmt: skip

    def _new_layer(self, image_id: str) -> str:
        """The chain id of the layer the image's last step added; "" for an empty layer."""
        try:
            with open(self.store.image_path(image_id), "rb") as f:
                cfg = json.loads(f.read())
            history = cfg.get("history") or []
            if not history or history[-1].get("empty_layer"):
                return ""
            chain: str | None = None
            for diff_id in cfg["rootfs"]["diff_ids"]:
                chain = chain_id(chain, diff_id)
            return chain or ""
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return ""

    def _check_context(self) -> Path:
        context = self.context_dir
        if not context.exists():
            raise BuildError(f'unable to prepare context: path "{context}" not found')
        if not context.is_dir():
            raise BuildError(f"unable to prepare context: context must be a directory: {context}")
        return context.resolve()

    def _say_sent(self, context: Path, name: str, dockerfile_size: int) -> None:
        """Docker's first line, as its client's progress output ends it (a carriage return,
        then "\\r\\n"): `Sending build context to Docker daemon  3.072kB`."""
        # A Dockerfile from elsewhere (stdin, -f outside) travels as `.dockerfile.<hex>`.
        key = ".dockerfile.0" if self.opts.dockerfile_text is not None else name
        if self.opts.dockerfile and self.opts.dockerfile_text is None:
            path = Path(self.opts.dockerfile).absolute()
            inside = path.is_relative_to(context)
            key = str(path.relative_to(context)) if inside else ".dockerfile.0"
        always = {key: dockerfile_size}
        with contextlib.suppress(OSError):
            always[".dockerignore"] = (context / ".dockerignore").stat().st_size
        size = human_size(sent_size(self.context, always))
        self.out.write(f"Sending build context to Docker daemon {size:>8}\r\r\n")

    def _read_dockerfile(self, context: Path) -> tuple[str, bytes]:
        """(its name for messages, its bytes): -f is relative to the current directory."""
        if self.opts.dockerfile_text is not None:
            return "Dockerfile", self.opts.dockerfile_text
        if self.opts.dockerfile:
            path = Path(self.opts.dockerfile).absolute()
            name = self.opts.dockerfile
        else:
            path = context / "Dockerfile"
            if not path.exists() and (context / "dockerfile").exists():
                path = context / "dockerfile"
            name = path.name
        try:
            data = path.read_bytes()
        except IsADirectoryError:
            raise BuildError(f"the Dockerfile ({name}) is a directory") from None
        except OSError:
            raise BuildError(f"Cannot locate specified Dockerfile: {name}") from None
        return name, data

    # --- args and the environment words expand in ---
    def _meta_env(self) -> dict[str, str]:
        return {k: v for k, v in self.meta.items() if v is not None}

    def _arg_value(self, state: StageState, key: str) -> str | None:
        override = self.build_args.get(key)
        if override is not None:
            return override
        if key in state.args and state.args[key] is not None:
            return state.args[key]
        return self.meta.get(key)

    def _allowed_args(self, state: StageState) -> dict[str, str]:
        """Declared ARGs (and given predefined ones) with a value, not shadowed by ENV."""
        env_keys = {e.partition("=")[0] for e in state.config.get("Env") or []}
        allowed: dict[str, str] = {}
        for key in list(state.args) + [k for k in self.build_args if k in BUILTIN_ARGS]:
            value = self._arg_value(state, key)
            if value is not None and key not in env_keys:
                allowed[key] = value
        return allowed

    def _env(self, state: StageState) -> dict[str, str]:
        env = dict(self._allowed_args(state))
        for item in state.config.get("Env") or []:
            key, _, value = item.partition("=")
            env[key] = value
        return env

    # --- stages ---
    def _begin_stage(self, stage: Stage, names: dict[str, str]) -> StageState:
        base = self.lexer.word(stage.base, self._meta_env())
        if base.lower() in names:
            image = self._own_image(names[base.lower()])
        elif base == "scratch":
            image = imagelib.read_image(self.store, self._scratch())
        else:
            try:
                image = self.host.image(base)
            except LayerlabError as exc:
                raise BuildError(str(exc)) from None
        config = copy.deepcopy(image.run_config)
        return StageState(image.id, config, len(image.config.get("history") or []))

    def _run_triggers(self, state: StageState, stage: Stage) -> None:
        """The base image's ONBUILD triggers, run at FROM as Docker's initializeStage runs them.

        They leave the config (a child's child does not run them again).
        """
        triggers = state.config.get("OnBuild") or []
        if not triggers:
            return
        state.config["OnBuild"] = None
        self.say(f"# Executing {len(triggers)} build trigger{'s' if len(triggers) > 1 else ''}")
        for trigger in triggers:
            written, *rest = str(trigger).split(None, 1) or [""]
            value = rest[0].strip() if rest else ""
            inst = Instruction(written.upper(), value, trigger, stage.source.line)
            if inst.keyword == "ONBUILD":
                raise inst.error("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
            if inst.keyword in ("MAINTAINER", "FROM"):
                raise inst.error(f"{inst.keyword} isn't allowed as an ONBUILD trigger")
            if inst.keyword not in KNOWN:
                raise inst.error(f"unknown instruction: {clip(written)}")
            if not value:
                raise inst.error(f"{inst.keyword} requires at least one argument")
            validate(inst, self.lexer.escape)
            self._dispatch(state, inst)

    def _scratch(self) -> str:
        """An image with no layers, for `FROM scratch`: the parent of a build's first step."""
        config = {
            "architecture": imagelib.docker_arch(),
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": []},
            "history": [],
        }
        with self.store.lock():
            self.store.ensure()
            return imagelib.write_image(self.store, config)

    # --- steps ---
    def _dispatch(self, state: StageState, inst: Instruction) -> None:
        try:
            if inst.keyword == "RUN":
                self._run_step(state, inst)
            elif inst.keyword in ("COPY", "ADD"):
                self._copy_step(state, inst)
            elif inst.keyword == "WORKDIR":
                self._workdir_step(state, inst)
            else:
                self._config_step(state, inst)
        except BuildError:
            raise
        except ValueError as exc:  # layers.UnsafeTarError, loaded by the steps that extract
            from layerlab.layerfs.layers import UnsafeTarError

            if not isinstance(exc, UnsafeTarError):
                raise
            raise BuildError(f"{inst.keyword} failed: {exc}") from None
        except LayerlabError as exc:
            raise BuildError(str(exc)) from None
        except OSError as exc:
            detail = go_strerror(exc)  # Go's words: "no space left on device"
            if exc.filename:
                detail = f"{exc.filename}: {detail}"
            raise BuildError(f"{inst.keyword} failed: {detail}") from None

    def _cached(self, state: StageState, created_by: str, config: dict[str, Any]) -> bool:
        """Docker's cache probe: a child of this image made by this very step."""
        if self.opts.no_cache or state.busted:
            return False
        hit = self._find_child(state, created_by, config)
        if hit is None:
            state.busted = True
            return False
        self.say(" ---> Using cache")
        self._step_cached = True
        state.image_id, state.config = hit, config
        state.history_len += 1
        return True

    def _find_child(self, state: StageState, created_by: str, config: dict[str, Any]) -> str | None:
        """The newest child of this image made by this step, whose layers are all there.

        The store's parent links are read once per build; each candidate's
        config is read once, and its layers are checked by a stat each.
        """
        if self._children is None:
            self._children = {}
            for image_id in self.store.image_ids():
                parent = imagelib.image_parent(self.store, image_id)
                if parent:
                    self._children.setdefault(parent, []).append(image_id)
        found: list[tuple[str, str, list[str]]] = []
        for child in self._children.get(state.image_id, []):
            try:
                with open(self.store.image_path(child), "rb") as f:
                    cfg = json.loads(f.read())
                history = cfg.get("history") or []
                if (
                    len(history) == state.history_len + 1
                    and history[-1].get("created_by") == created_by
                    and (cfg.get("config") or {}) == config
                ):
                    found.append((cfg.get("created", ""), child, cfg["rootfs"]["diff_ids"]))
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                continue
        for _, child, diff_ids in sorted(found, reverse=True):
            if self._layers_present(diff_ids):
                return child
        return None

    def _layers_present(self, diff_ids: list[str]) -> bool:
        chain: str | None = None
        for diff_id in diff_ids:
            chain = chain_id(chain, diff_id)
            if not os.path.isfile(self.store.layer_dir(chain) / "json"):
                return False
        return True

    def _own_image(self, image_id: str) -> imagelib.Image:
        """An image this build made or found: Vanished if it was removed meanwhile."""
        try:
            return imagelib.read_image(self.store, image_id)
        except NotFound:
            raise Vanished(image_id) from None

    def _create(self, state: StageState, command: list[str], env: list[str] | None = None) -> str:
        owner = os.getpid() if self.opts.remove or self.opts.force_remove else None
        try:
            container = self.host.create(
                state.image_id,
                CreateOptions(command=command, entrypoint="", env=env or [], owner_pid=owner),
            )
        except NotFound:
            if self.store.image_path(state.image_id).is_file():
                raise
            raise Vanished(state.image_id) from None
        return container.id

    def _commit(self, state: StageState, cid: str, config: dict[str, Any], created_by: str) -> None:
        parent = state.image_id
        image_id = self.host.commit(
            cid,
            author=state.maintainer,
            pause=False,
            run_config=config,
            created_by=created_by,
            empty_layer_if_unchanged=True,
        )
        if self._children is not None:
            self._children.setdefault(parent, []).append(image_id)
        state.image_id, state.config = image_id, config
        state.history_len += 1

    def _remove(self, cid: str, *, show: bool = True) -> None:
        """--rm (the default) removes a step's container; --rm=false keeps it. COPY's
        container is never shown, and always goes."""
        if show and not (self.opts.remove or self.opts.force_remove):
            return
        with contextlib.suppress(LayerlabError):
            self.host.rm(cid, force=True, volumes=True)  # as Docker: anonymous volumes too
        if show:
            self.say(f"Removing intermediate container {short_id(cid)}")

    def _container_step(
        self,
        state: StageState,
        command: list[str],
        config: dict[str, Any],
        created_by: str,
        work: Callable[[str], None] | None = None,
        env: list[str] | None = None,
        show: bool = True,
    ) -> None:
        """Create a container from the current image, let `work` change it, commit, remove."""
        cid = self._create(state, command, env)
        self._step_container = cid
        if show:
            self.say(f" ---> Running in {short_id(cid)}")
        try:
            if work is not None:
                work(cid)
            self._commit(state, cid, config, created_by)
        except StepFailed:  # Docker leaves a failed step's container, unless --force-rm
            if not self.opts.force_remove:
                self.host.keep_build_container(cid)
            else:
                self._remove(cid, show=show)
            raise
        except BaseException:
            self._remove(cid, show=show)
            raise
        self._remove(cid, show=show)

    def _run_step(self, state: StageState, inst: Instruction) -> None:
        argv = parse_command(inst.args, state.config.get("Shell") or DEFAULT_SHELL)
        allowed = self._allowed_args(state)
        keyed = sorted(
            f"{k}={v}" for k, v in allowed.items() if k not in BUILTIN_ARGS or k in state.args
        )
        saved = [f"|{len(keyed)}", *keyed, *argv] if keyed else argv
        created_by = " ".join(saved)
        if self._cached(state, created_by, state.config):
            return

        def run(cid: str) -> None:
            self.out.flush()
            with self._run_stdio() as stdio:
                code = self.host.start_attached(cid, stdio)
            if code != 0:
                raise StepFailed(
                    f"The command '{clip(' '.join(argv), 200)}' returned a non-zero code: {code}",
                    code,
                )

        env = [f"{k}={v}" for k, v in allowed.items()]
        self._container_step(state, argv, state.config, created_by, run, env)

    def _workdir_step(self, state: StageState, inst: Instruction) -> None:
        requested = self.lexer.word(inst.args, self._env(state))
        if not requested:
            raise inst.error("WORKDIR requires exactly one argument")
        if not requested.startswith("/"):
            current = state.config.get("WorkingDir") or "/"
            requested = posixpath.normpath(posixpath.join("/", current, requested))
        config = copy.deepcopy(state.config)
        apply_change(config, f"WORKDIR {requested}")
        comment = f"WORKDIR {config['WorkingDir']}"
        created_by = f"/bin/sh -c {NOP}{comment}"
        if self._cached(state, created_by, config):
            return

        def mkdir(cid: str) -> None:
            from layerlab.build.copying import ensure_dir  # only when a step really runs

            with self._mounted(cid) as merged:
                ensure_dir(merged, scoped_resolve(merged, config["WorkingDir"]), 0, 0)

        self._container_step(state, ["/bin/sh", "-c", NOP + comment], config, created_by, mkdir)

    def _config_step(self, state: StageState, inst: Instruction) -> None:
        config = copy.deepcopy(state.config)
        comment = self._apply_config(state, inst, config)
        # Docker joins ["/bin/sh", "-c", "#(nop) ", comment] with spaces: two after (nop).
        created_by = f"/bin/sh -c {NOP} {comment}"
        if self._cached(state, created_by, config):
            return
        self._container_step(state, ["/bin/sh", "-c", NOP, comment], config, created_by)

    def _apply_config(self, state: StageState, inst: Instruction, config: dict[str, Any]) -> str:
        """Change `config` as the instruction says; return Docker's history comment for it."""
        keyword, escape = inst.keyword, self.lexer.escape
        env = self._env(state)
        try:
            if keyword in ("ENV", "LABEL"):
                pairs = [
                    (self.lexer.word(k, env), self.lexer.word(v, env))
                    for k, v in parse_name_val(inst, escape)
                ]
                (set_env if keyword == "ENV" else set_labels)(config, pairs)
                return keyword + "".join(f" {k}={v}" for k, v in pairs)
            if keyword == "ARG":
                parts = []
                for key, value in parse_arg_words(inst, escape):
                    if value is not None:
                        value = self.lexer.word(value, env)
                    state.args[key] = value
                    self.referenced.add(key)
                    parts.append(key if value is None else f"{key}={value}")
                return "ARG " + " ".join(parts)
            if keyword == "CMD":
                apply_change(config, f"CMD {inst.args}")
                state.cmd_set = state.cmd_set or bool(config["Cmd"])
                return f"CMD {go_list(config['Cmd'], quoted=True)}"
            if keyword == "ENTRYPOINT":
                apply_change(config, f"ENTRYPOINT {inst.args}", cmd_set=state.cmd_set)
                return f"ENTRYPOINT {go_list(config['Entrypoint'], quoted=True)}"
            if keyword == "EXPOSE":
                ports = [p for word in inst.args.split() for p in self.lexer.words(word, env)]
                for port in ports:
                    if not PORT_RE.match(port):
                        raise inst.error(f"Invalid containerPort: {clip(port)}")
                apply_change(config, "EXPOSE " + " ".join(ports))
                return "EXPOSE " + " ".join(ports)
            if keyword == "USER":
                user = self.lexer.word(inst.args, env)
                apply_change(config, f"USER {user}")
                return f"USER {user}"
            if keyword == "VOLUME":
                volumes = json_array(inst.args)
                if volumes is None:
                    volumes = inst.args.split()
                volumes = [self.lexer.word(v, env) for v in volumes]
                if not volumes or any(not v for v in volumes):
                    raise inst.error("VOLUME specified can not be an empty string")
                apply_change(config, "VOLUME " + json.dumps(volumes))
                return f"VOLUME {go_list(volumes, quoted=False)}"
            if keyword == "STOPSIGNAL":
                value = self.lexer.word(inst.args, env)
                parse_signal(value)
                apply_change(config, f"STOPSIGNAL {value}")
                return f"STOPSIGNAL {value}"
            if keyword == "SHELL":
                apply_change(config, f"SHELL {inst.args}")
                return f"SHELL {go_list(config['Shell'], quoted=False)}"
            if keyword == "HEALTHCHECK":
                old = (state.config.get("Healthcheck") or {}).get("Test") or []
                if old and old[0] != "NONE":
                    self.say(f"Note: overriding previous HEALTHCHECK: {go_list(old, quoted=False)}")
                config["Healthcheck"] = parse_healthcheck(inst.args)
                return healthcheck_comment(config["Healthcheck"])
            if keyword == "ONBUILD":
                trigger = parse_trigger(inst)
                config["OnBuild"] = [*(config.get("OnBuild") or []), trigger]
                return f"ONBUILD {trigger}"
            if keyword == "MAINTAINER":
                state.maintainer = inst.args
                return f"MAINTAINER {inst.args}"
        except BuildError:
            raise
        except LayerlabError as exc:
            raise inst.error(str(exc)) from None
        raise inst.error(f"unknown instruction: {keyword}")  # parse_dockerfile lets none through

    # --- COPY and ADD ---
    def _copy_step(self, state: StageState, inst: Instruction) -> None:
        keyword = inst.keyword
        flags, words = split_copy_args(inst)
        env = self._env(state)
        words = [self.lexer.word(w, env) for w in words]
        chown = self.lexer.word(flags["chown"], env) if "chown" in flags else ""
        *written_sources, dest_written = words
        if not dest_written:
            raise inst.error(f"{keyword} requires a destination")
        dest = dest_written
        if not dest.startswith("/"):  # relative to WORKDIR, a trailing slash kept
            joined = posixpath.normpath(
                posixpath.join("/", state.config.get("WorkingDir") or "/", dest)
            )
            dest = joined + "/" if dest.endswith("/") and joined != "/" else joined
        with contextlib.ExitStack() as stack:
            root = self.context
            if "from" in flags:
                root = stack.enter_context(self._from_root(flags["from"], env))
            sources: list[Source] = []
            for written in written_sources:
                if re.match(r"^[a-z][a-z0-9+.-]*://", written, re.I):
                    if keyword == "COPY":
                        raise BuildError(
                            f"COPY failed: source can't be a URL for COPY: {clip(written)}"
                        )
                    raise BuildError(
                        f"ADD failed: adding a remote URL is not supported by layerlab's "
                        f"builder: {written} (download it into the context and COPY it)"
                    )
                sources.extend(root.find(written, keyword))
            if not sources:
                raise BuildError(f"{keyword} failed: no source files were specified")
            if len(sources) > 1 and not dest.endswith("/"):
                raise BuildError(
                    f"When using {keyword} with more than one source file, the destination "
                    "must be a directory and end with a /"
                )
            if len(sources) == 1:
                source_hash = sources[0].hash
            else:
                hashes = ",".join(s.hash for s in sources).encode()
                source_hash = "multi:" + hashlib.sha256(hashes).hexdigest()
            chown_comment = f"--chown={chown}" if chown else ""
            # Docker writes no space between the --chown flag and the hash: kept as is.
            comment = f"{keyword} {chown_comment}{source_hash} in {dest} "
            created_by = f"/bin/sh -c {NOP}{comment}"
            if self._cached(state, created_by, state.config):
                return

            def copy_in(cid: str) -> None:
                from layerlab.build.copying import lookup_owner, place  # only on a cache miss

                with self._mounted(cid) as merged:
                    owner = lookup_owner(merged, chown) if chown else (0, 0)
                    for source in sources:
                        place(merged, source, dest, owner, keyword)

            self._container_step(
                state, ["/bin/sh", "-c", NOP + comment], state.config, created_by, copy_in,
                show=False,
            )  # fmt: skip

    @contextlib.contextmanager
    def _mounted(self, cid: str) -> Iterator[Path]:
        """The container's union, mounted while files are written into its merged view."""
        container = self.host.container(cid)
        data = container.data["GraphDriver"]["Data"]
        merged = Path(data["MergedDir"])
        unionfs.mount_overlay(
            self.host.lower_dirs(container), Path(data["UpperDir"]), Path(data["WorkDir"]), merged
        )
        try:
            yield merged
        finally:
            unionfs.unmount(merged)

    @contextlib.contextmanager
    def _from_root(self, ref: str, env: dict[str, str]) -> Iterator[SourceRoot]:
        """COPY --from=<stage name | stage index | image>: that image's files, read-only."""
        ref = self.lexer.word(ref, env)
        if ref.isdigit():
            if int(ref) >= len(self.built):
                raise BuildError(f"invalid from flag value {clip(ref)}: invalid stage index")
            image_id: str | None = self.built[int(ref)]
        else:
            image_id = self.stage_names.get(ref.lower())
        if image_id is None:
            try:
                image = self.host.image(ref)
            except LayerlabError as exc:
                raise BuildError(f"invalid from flag value {clip(ref)}: {exc}") from None
        else:
            image = self._own_image(image_id)
        scratch = self.store.make_tmp_dir("build-from-")
        rootfs = scratch / "rootfs"
        empty = scratch / "empty"
        rootfs.mkdir()
        empty.mkdir()
        mounted = False
        try:
            if image.layers:
                lowers = [layer.diff_path for layer in reversed(image.layers)] + [empty]
                unionfs.mount_readonly(lowers, rootfs)
                mounted = True
            yield SourceRoot(rootfs, None, f"image {ref}")
        finally:
            if mounted:
                unionfs.unmount(rootfs)
            self.store.discard(scratch)

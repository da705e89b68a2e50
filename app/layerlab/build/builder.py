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
needs, so it depends on no engine: the engine hands itself in. Around this loop:
`output` (what the build prints), `state` (a stage's state, the ARGs), `cache` (the
probe for a step made before) and `config_steps` (the steps that change only the config).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import posixpath
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol, TextIO

from layerlab.build.cache import BuildCache
from layerlab.build.config_steps import apply_config
from layerlab.build.context import Source, SourceRoot, check_context, scoped_resolve, sending_line
from layerlab.build.dockerfile import (
    Instruction,
    Stage,
    parse_arg_words,
    parse_build_args,
    parse_dockerfile,
    read_dockerfile,
    split_copy_args,
    trigger_instruction,
)
from layerlab.build.dockerignore import IgnoreMatcher
from layerlab.build.instructions import DEFAULT_SHELL, apply_change, parse_command
from layerlab.build.lexer import Lexer, clip
from layerlab.build.output import BuildOutput, Stdio
from layerlab.build.state import BUILTIN_ARGS, BuildArgs, StageState
from layerlab.errors import BuildError, LayerlabError, NotFound, go_strerror
from layerlab.layerfs import unionfs
from layerlab.report import BuildStep
from layerlab.storage import images as imagelib
from layerlab.storage.containers import Container, CreateOptions
from layerlab.storage.reference import chain_id, normalize_ref, short_id, validate_reference
from layerlab.storage.store import Store

NOP = "#(nop) "
MAX_MESSAGE = 300  # an error longer than this quotes only its start
REBUILDS = 3  # times a build starts again when images it stands on are removed meanwhile

if TYPE_CHECKING:  # a protocol for the type checker only: no class to build at each start

    class BuildHost(Protocol):
        """What the builder asks of the engine: the commands a step is made of, and the store."""

        @property
        def store(self) -> Store: ...

        def image_or_pull(
            self, ref: str, pull: Callable[[str], None] | None = None
        ) -> imagelib.Image: ...

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
    pull: Callable[[str, TextIO], None] | None = None  # a missing FROM image, its lines to out


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
        self.output = BuildOutput(options.quiet, options.out, options.err, options.run_output)
        self.say = self.output.say
        self.args = BuildArgs()
        self.lexer = Lexer()
        self.built: list[str] = []  # each finished stage's image, by index
        self.stage_names: dict[str, str] = {}  # ... by name
        self.cache = BuildCache(self.store)
        self._step_cached = False  # the step under way: reused from the cache ...
        self._step_container = ""  # ... or run in this container

    # --- the whole build ---
    def run(self) -> str:
        try:
            return self._build()
        except LayerlabError as exc:
            self.output.dump_quiet()
            message = str(exc)
            if len(message) > MAX_MESSAGE or "\n" in message:  # untrusted text never floods
                raise BuildError(clip(message, MAX_MESSAGE), exc.exit_code) from None
            raise
        except BaseException:
            self.output.dump_quiet()
            raise
        finally:
            self.output.close()

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
        self.args.given = parse_build_args(self.opts.build_args)
        context = check_context(self.context_dir)
        name, data = read_dockerfile(context, self.opts.dockerfile, self.opts.dockerfile_text)
        # .dockerignore applies to the Dockerfile and itself too: the daemon drops them.
        ignore = IgnoreMatcher.read(context / ".dockerignore")
        self.context = SourceRoot(context, ignore, "build context")
        from_stdin = self.opts.dockerfile_text is not None
        self.output.out.write(
            sending_line(self.context, name, len(data), self.opts.dockerfile, from_stdin)
        )
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
                    value = self.lexer.word(value, self.args.meta_env())
                override = self.args.given.get(key)
                self.args.meta[key] = override if override is not None else value
                self.args.referenced.add(key)

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
            self.cache.forget()
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

        if unused := self.args.unused():
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

    def _begin_stage(self, stage: Stage, names: dict[str, str]) -> StageState:
        base = self.lexer.word(stage.base, self.args.meta_env())
        if base.lower() in names:
            image = self._own_image(names[base.lower()])
        elif base == "scratch":
            image = imagelib.read_image(self.store, self._scratch())
        else:
            try:
                image = self.host.image_or_pull(base, self._puller())
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
            inst = trigger_instruction(str(trigger), stage.source.line, self.lexer.escape)
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
        hit = self.cache.find_child(state.image_id, state.history_len, created_by, config)
        if hit is None:
            state.busted = True
            return False
        self.say(" ---> Using cache")
        self._step_cached = True
        state.image_id, state.config = hit, config
        state.history_len += 1
        return True

    def _puller(self) -> Callable[[str], None] | None:
        """How a base image the store lacks is pulled: its lines in the build's output (None:
        the engine pulls it quietly)."""
        pull, out = self.opts.pull, self.output.out
        return None if pull is None else lambda ref: pull(ref, out)

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
        self.cache.add(parent, image_id)
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
        allowed = self.args.allowed(state)
        keyed = sorted(
            f"{k}={v}" for k, v in allowed.items() if k not in BUILTIN_ARGS or k in state.args
        )
        saved = [f"|{len(keyed)}", *keyed, *argv] if keyed else argv
        created_by = " ".join(saved)
        if self._cached(state, created_by, state.config):
            return

        def run(cid: str) -> None:
            self.output.out.flush()
            with self.output.run_stdio() as stdio:
                code = self.host.start_attached(cid, stdio)
            if code != 0:
                raise StepFailed(
                    f"The command '{clip(' '.join(argv), 200)}' returned a non-zero code: {code}",
                    code,
                )

        env = [f"{k}={v}" for k, v in allowed.items()]
        self._container_step(state, argv, state.config, created_by, run, env)

    def _workdir_step(self, state: StageState, inst: Instruction) -> None:
        requested = self.lexer.word(inst.args, self.args.env(state))
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
        comment = apply_config(inst, state, config, self.lexer, self.args, self.say)
        # Docker joins ["/bin/sh", "-c", "#(nop) ", comment] with spaces: two after (nop).
        created_by = f"/bin/sh -c {NOP} {comment}"
        if self._cached(state, created_by, config):
            return
        self._container_step(state, ["/bin/sh", "-c", NOP, comment], config, created_by)

    # --- COPY and ADD ---
    def _copy_step(self, state: StageState, inst: Instruction) -> None:
        keyword = inst.keyword
        flags, words = split_copy_args(inst)
        env = self.args.env(state)
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
                image = self.host.image_or_pull(ref, self._puller())
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

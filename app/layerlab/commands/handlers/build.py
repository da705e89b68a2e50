"""`build`: a Dockerfile and its context (a folder, or a tar or Dockerfile on stdin)."""

from __future__ import annotations

import argparse
from pathlib import Path

from layerlab.commands.handlers.common import command
from layerlab.commands.handlers.registry import puller
from layerlab.commands.stdio import IO, _stdio, no_stdin
from layerlab.engine import Engine
from layerlab.errors import LayerlabError
from layerlab.report import BuildStep, Report


@command("build")
def cmd_build(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    text = stdin_context = None
    if ns.context == "-":  # Docker: a tar context, or a Dockerfile, on stdin
        if ns.file == "-":
            raise LayerlabError(
                "invalid argument: can't use stdin for both build context and dockerfile"
            )
        if io.stdin is None:
            raise no_stdin("build -", "the build context", "give a directory")
        stdin_context = io.stdin.read()
    elif ns.file == "-":
        if io.stdin is None:
            raise no_stdin("build -f -", "the Dockerfile", "give a file with -f PATH")
        text = io.stdin.read()

    from layerlab.build import BuildOptions  # on use: the builder loads for builds only

    before = set(engine.image_ids())  # to tell a new image from one the cache had whole
    steps: list[BuildStep] = []  # what each step did: the TUI explains the build from it
    with _stdio(io) as stdio:
        options = BuildOptions(
            tags=ns.tag,
            dockerfile=None if text is not None else ns.file,
            dockerfile_text=text,
            no_cache=ns.no_cache,
            build_args=ns.build_arg,
            quiet=ns.quiet,
            remove=ns.rm,
            force_remove=ns.force_rm,
            target=ns.target,
            out=io.out,
            err=io.err,
            run_output=stdio[1],
            steps=steps,
            pull=puller(engine, io),
        )
        try:
            if stdin_context is not None:
                image_id = engine.build_from_stdin(stdin_context, options)
            else:
                image_id = engine.build(Path(ns.context), options)
        except LayerlabError as exc:  # Docker prints a failed build's message bare
            io.out.flush()
            print(exc, file=io.err)
            return Report(code=exc.exit_code, build_steps=steps)
    if ns.quiet:
        print(image_id, file=io.out)
    # All from the cache: the image was there already, and the build made nothing new.
    created = [] if image_id in before else [image_id]
    return Report(images=[image_id], created_images=created, build_steps=steps)

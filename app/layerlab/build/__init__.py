"""`build`: Docker's legacy builder - a Dockerfile run, modified and committed step by step.

The parts are imported from their modules (dockerfile, lexer, context, copying,
dockerignore, and the builder's loop with its output, state, cache and config_steps),
so reading a Dockerfile or expanding a word loads no container machinery. `Builder`
and `BuildOptions` are also offered here, and loaded only when asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from layerlab.build.builder import Builder, BuildOptions

__all__ = ["BuildOptions", "Builder"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from layerlab.build import builder

        return getattr(builder, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""The words of the image tools beyond Docker's CLI: `compare` and `analyze` (what dive's
users ask for), and `pull`'s `docker-daemon:` transport (skopeo's name for it).
grammar.py adds them to the top level.
"""

from __future__ import annotations

from layerlab.commands.network import SubAdd

IMAGE_TOOL_COMMANDS: dict[str, str] = {
    "pull": "Pull an image: docker-daemon:NAME[:TAG] copies it from a Docker daemon",
}


def image_tool_parsers(add: SubAdd) -> None:
    """`pull [--host URL] docker-daemon:NAME[:TAG]`, `compare A B`, `analyze IMAGE`."""
    p = add("pull")
    p.add_argument("-H", "--host", help="the Docker daemon to copy from (default $DOCKER_HOST)")
    p.add_argument("name", metavar="NAME[:TAG]")

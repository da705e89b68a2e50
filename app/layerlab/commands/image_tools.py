"""The words of the image tools beyond Docker's CLI: `compare` and `analyze` (what dive's
users ask for). grammar.py adds them to the top level.
"""

from __future__ import annotations

from layerlab.commands.network import SubAdd

# Exit codes of `analyze`, as dive's CI gate gives them.
GATE_PASSED, GATE_FAILED, BAD_USAGE = 0, 1, 2

IMAGE_TOOL_COMMANDS: dict[str, str] = {
    "compare": "Compare two images or two containers, layer by layer",
    "analyze": "Show an image's wasted space and efficiency, as dive does; a CI gate",
}

ANALYZE_HELP = """Show an image's wasted space and efficiency, as dive does; a CI gate.

Wasted space is the bytes of every path stored in more than one layer (overwritten, or
removed by a later layer), each copy counted; efficiency is the bytes the image would need
over the bytes its layers hold. With a rule given, the image is checked against it.

Exit status: 0 the rules pass (or none given), 1 a rule failed (each is printed),
2 bad usage (an unknown flag, a value that does not parse)."""


def image_tool_parsers(add: SubAdd) -> None:
    """`compare A B`, `analyze IMAGE`."""
    p = add("compare")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON")
    p.add_argument("first", metavar="A", help="an image or a container")
    p.add_argument("second", metavar="B", help="an image or a container")
    p = add("analyze", description=ANALYZE_HELP, usage_code=BAD_USAGE)
    p.add_argument("--json", action="store_true", help="print the analysis as JSON")
    p.add_argument("--highest-wasted-bytes", metavar="SIZE",
                   help="fail above this many wasted bytes (20MB, 1.5GiB, 1000)")  # fmt: skip
    p.add_argument("--highest-user-wasted-percent", metavar="RATIO",
                   help="fail above this ratio of wasted bytes to the bytes the layers above "
                   "the first add (0.1 is 10%%)")  # fmt: skip
    p.add_argument("--lowest-efficiency", metavar="RATIO",
                   help="fail below this efficiency (0.9 is 90%%)")  # fmt: skip
    p.add_argument("image")

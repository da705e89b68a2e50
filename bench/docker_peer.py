"""Is a Docker daemon here to run beside us? Shared by the benchmarks."""

from __future__ import annotations

import shutil
import subprocess


def docker_reachable() -> bool:
    """True when `docker info` answers; the benchmarks then time Docker in the same run."""
    if not shutil.which("docker"):
        return False
    try:
        probe = subprocess.run(["docker", "info"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0

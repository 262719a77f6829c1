"""``stillhouse arena …`` run as a subprocess, for the tests of the arena CLI."""

from __future__ import annotations

import subprocess
import sys


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ui.cli", "arena", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )

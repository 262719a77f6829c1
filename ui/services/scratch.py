"""A temp folder for the pictures and files one app hands to browsers.

scratch = Scratch()
png = scratch.file(".png")      # a fresh, unique path in the folder (made on first use)
"""

from __future__ import annotations

import tempfile
import uuid
from functools import cached_property
from pathlib import Path


class Scratch:
    """One temp folder per app, made on first use."""

    @cached_property
    def folder(self) -> Path:
        return Path(tempfile.mkdtemp(prefix="stillhouse-app-"))

    def file(self, suffix: str) -> Path:
        """A new unique path in the folder, ending in ``suffix``."""
        return self.folder / f"{uuid.uuid4().hex[:12]}{suffix}"

"""Where stillhouse keeps what it makes: converted models, runs, the ledger.

Everything lives under ``$STILLHOUSE_HOME`` (default ``~/.cache/stillhouse``);
nothing generated is ever written into the source tree.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


def stillhouse_home() -> Path:
    """The root folder for caches, models, runs and the default ledger."""
    home = os.environ.get("STILLHOUSE_HOME") or os.path.join("~", ".cache", "stillhouse")
    path = Path(home).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def models_dir() -> Path:
    """Prepared and distilled models, one folder each."""
    path = stillhouse_home() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def runs_dir() -> Path:
    """Distillation runs: checkpoints, loss curves, evaluation JSON."""
    path = stillhouse_home() / "runs"
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Yield a temp folder beside ``final``; rename it into place only if the block succeeds.

    A failure (or Ctrl-C) leaves nothing at ``final`` and removes the temp folder.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    try:
        yield tmp
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextlib.contextmanager
def atomic_file(final: Path, mode: str = "w") -> Iterator:
    """Open a temp file beside ``final`` and rename it into place only if the block succeeds."""
    final = Path(final)
    if not final.parent.is_dir():
        from core.errors import InputError

        raise InputError("missing_folder", f"folder does not exist: {final.parent}")
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    try:
        with open(tmp, mode) as handle:
            yield handle
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise

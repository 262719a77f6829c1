"""Everything a user can type or set is documented (after sqlite-utils' tests/test_docs.py).

Every ``stillhouse`` command, each of its long options, and every field of ``DistillConfig``
and ``AppConfig`` must appear somewhere in ``docs/`` or ``README.md``. A new command, option
or setting without a sentence about it fails here, naming what is missing.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _docs() -> str:
    files = [*sorted((ROOT / "docs").rglob("*.md")), ROOT / "README.md"]
    return "\n".join(path.read_text(encoding="utf-8") for path in files)


DOCS = _docs()


def _commands() -> list[tuple[tuple[str, ...], object]]:
    import typer

    from ui.cli import app

    found: list[tuple[tuple[str, ...], object]] = []

    def walk(command, path):
        if path:
            found.append((path, command))
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            walk(sub, (*path, name))

    walk(typer.main.get_command(app), ())
    return found


COMMANDS = _commands()


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=" ".join)
def test_every_command_is_documented(path):
    name = re.escape(" ".join(path))
    assert re.search(rf"(stillhouse|\$S) {name}\b", DOCS), (
        f"`stillhouse {' '.join(path)}` is in no file under docs/ nor in README.md"
    )


OPTIONS = sorted(
    {
        (" ".join(path), opt)
        for path, command in COMMANDS
        for param in command.params
        for opt in param.opts
        if opt.startswith("--")
    }
)


@pytest.mark.parametrize("command, option", OPTIONS, ids=[f"{c} {o}" for c, o in OPTIONS])
def test_every_option_is_documented(command, option):
    assert re.search(rf"{re.escape(option)}(?![\w-])", DOCS), (
        f"option {option} of `stillhouse {command}` is in no file under docs/ nor in README.md"
    )


def _fields():
    from core.distill.config import DistillConfig
    from ui.config import AppConfig

    return [(m.__name__, f) for m in (DistillConfig, AppConfig) for f in m.model_fields]


@pytest.mark.parametrize("model, field", _fields(), ids=[f"{m}.{f}" for m, f in _fields()])
def test_every_setting_is_documented(model, field):
    assert re.search(rf"\b{re.escape(field)}\b", DOCS), (
        f"{model}.{field} is in no file under docs/ nor in README.md"
    )


def test_the_checks_see_what_they_should():
    """Guard against a test that passes because it looks at nothing."""
    assert len(COMMANDS) >= 20 and len(OPTIONS) >= 60 and len(_fields()) >= 30
    assert "stillhouse audit verify" in DOCS

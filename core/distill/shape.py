"""Checks of a distill config against the teacher it names, before any work starts.

    check_against_teacher(config, teacher_folder)   # InputError naming every problem

The teacher's ``config.json`` is read, not the weights: ``n_layers=100`` with a 30-layer
teacher is refused in milliseconds instead of after the teacher has answered every prompt.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core.errors import InputError


def teacher_layers(folder: Path) -> int | None:
    """Decoder layers of the checkpoint in ``folder`` (None when its config does not say)."""
    try:
        config: dict[str, Any] = json.loads((Path(folder) / "config.json").read_text())
    except (OSError, ValueError):
        return None
    config = config.get("text_config", config)
    value = config.get("num_hidden_layers") or config.get("n_layer")
    return int(value) if value else None


def check_against_teacher(config: Any, folder: Path) -> None:
    """Refuse a pruned student that asks for layers the teacher does not have."""
    if config.student_from:
        return  # a given student: its own shape
    total = teacher_layers(folder)
    if total is None:
        return
    problems = []
    if config.keep_layers is not None:
        outside = sorted(i for i in config.keep_layers if i >= total)
        if outside:
            problems.append(f"keep_layers {outside} do not exist (layers are 0-{total - 1})")
    elif config.n_layers > total:
        problems.append(f"n_layers={config.n_layers} but the teacher has only {total} layers")
    if problems:
        raise InputError(
            "bad_n_layers",
            f"teacher '{config.teacher}': " + "; ".join(problems),
            hint=f"a pruned student keeps between 1 and {total} of the teacher's layers",
        )

"""Where a run's prompts come from: the bundled JSONL file, or a named instruction set.

    path = prompts_file(config, progress)        # a JSONL file of {"id", "prompt"} records

With ``prompts_dataset`` set (``"nvidia/HelpSteer2"`` or ``"nvidia/HelpSteer2:train"``), the set
is fetched once with ``datasets``, de-duplicated, and written to
``$STILLHOUSE_HOME/prompts/<name>-<split>.jsonl``; later runs (and other processes) read that
file. Where the machine has no network (or ``HF_HUB_OFFLINE=1``) the run stops with a clear
``InputError``, unless ``prompts_offline: fallback`` says to use the bundled ``prompts`` file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from core.errors import InputError


def prompts_file(config, progress) -> Path:
    """The JSONL prompt file this run reads (fetching ``prompts_dataset`` once if needed)."""
    from core.distill.config import data_path

    if not config.prompts_dataset:
        return data_path(config.prompts)
    name, _, split = config.prompts_dataset.partition(":")
    from core.paths import stillhouse_home

    target = stillhouse_home() / "prompts" / f"{name.replace('/', '--')}-{split or 'train'}.jsonl"
    if target.is_file():
        return target
    try:
        rows = _fetch(name, split or "train", config.prompts_field)
    except InputError:
        if config.prompts_offline != "fallback":
            raise
        progress.note(f"{config.prompts_dataset} cannot be fetched here; using {config.prompts}")
        return data_path(config.prompts)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        for i, prompt in enumerate(rows):
            handle.write(json.dumps({"id": f"{name}:{i}", "prompt": prompt}) + "\n")
    tmp.replace(target)
    progress.note(f"prompts: {len(rows)} distinct instructions from {name} -> {target}")
    return target


def _fetch(name: str, split: str, field: str) -> list[str]:
    hint = "run once on a machine with network, or set prompts_offline=fallback"
    if os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("HF_DATASETS_OFFLINE") == "1":
        raise InputError(
            "prompts_offline", f"prompt set {name} needs network, but HF_HUB_OFFLINE=1", hint=hint
        )
    try:
        import datasets
    except ImportError as exc:
        raise InputError(
            "datasets_missing",
            f"fetching {name} needs the datasets package",
            hint="pip install '.[gpu]'",
        ) from exc
    try:
        table = datasets.load_dataset(name, split=split)
    except Exception as exc:  # no network, no such set, gated set: one clear line
        raise InputError(
            "prompts_unavailable", f"cannot fetch prompt set {name} ({split}): {exc}", hint=hint
        ) from exc
    if field not in table.column_names:
        raise InputError(
            "bad_prompts_field",
            f"{name} has no column {field!r}; it has {', '.join(table.column_names)}",
        )
    seen = dict.fromkeys(str(p).strip() for p in table[field] if p and str(p).strip())
    return list(seen)

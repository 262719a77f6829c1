"""Teacher data: prompt sets, held-out texts, and the teacher's answers (sequence-level KD).

    prompts = load_prompts("data/prompts/default.jsonl")
    data = teacher_data(backend, prompts, params, teacher_name=..., teacher_sha256=...)
    data.path, data.sha256, data.records

The teacher answers through any ``core.backends`` Backend (batched ``generate``), ``samples``
times per prompt (sample i uses seed + i; id ``<prompt id>#<i>`` when samples > 1). The output
is a JSONL file, one record per answer: id, prompt, response, teacher name and weights hash,
generation parameters, finish reason and a SHA-256 of the record's canonical JSON. Files are
written atomically and cached by content under ``$STILLHOUSE_HOME/teacher-data/``: the same
teacher, prompts and parameters are answered once.
"""

from __future__ import annotations

import errno
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core import textfile
from core.errors import InputError, NotFoundError, StillhouseError
from core.hashing import canonical_json, sha256_file, sha256_text
from core.paths import atomic_file, stillhouse_home

if TYPE_CHECKING:
    from core.backends import Backend
    from core.distill.progress import Progress
    from core.generation import GenerationParams


@dataclass(frozen=True)
class TeacherData:
    """A teacher-data JSONL file: where, its SHA-256, how many records, whether it was reused."""

    path: Path
    sha256: str
    records: int
    reused: bool = False


def read_jsonl(path: str | Path, field: str, what: str) -> list[dict[str, Any]]:
    """Records of a JSONL file that each carry a non-empty string ``field``; name the bad line."""
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"missing_{what}", f"{what} file not found: {path}")
    records: list[dict[str, Any]] = []
    for number, record in textfile.read_jsonl(path):
        text = record.get(field) if isinstance(record, dict) else None
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"bad_{what}", f'{path} line {number}: has no non-empty "{field}"')
        record.setdefault("id", f"{path.stem}-{number}")
        records.append(record)
    if not records:
        raise InputError(f"empty_{what}", f"{what} file {path} holds no records")
    return records


def load_prompts(path: str | Path, limit: int | None = None) -> list[dict[str, Any]]:
    """Prompt records ``{"id", "prompt"}`` from a JSONL file."""
    return read_jsonl(path, "prompt", "prompts")[:limit]


def load_heldout(path: str | Path) -> list[str]:
    """Held-out texts ``{"id", "text"}`` from a JSONL file."""
    return [r["text"] for r in read_jsonl(path, "text", "heldout")]


def record_sha256(record: dict[str, Any]) -> str:
    """SHA-256 of a record's canonical JSON, without its own ``sha256`` field."""
    return sha256_text(canonical_json({k: v for k, v in record.items() if k != "sha256"}))


def teacher_data(
    backend: Backend,
    prompts: list[dict[str, Any]],
    params: GenerationParams,
    *,
    teacher_name: str,
    teacher_sha256: str | None,
    batch_size: int,
    progress: Progress,
    folder: Path | None = None,
    generator: dict[str, Any] | None = None,
    samples: int = 1,
) -> TeacherData:
    """Have the teacher answer every prompt (reusing an identical earlier file) and return the
    file."""
    if samples < 1:
        raise InputError("bad_samples", f"answers per prompt must be >= 1, got {samples}")
    identity: dict[str, Any] = {
        "teacher": teacher_sha256 or teacher_name,
        "params": params.model_dump(),
        "generator": generator,
        "prompts": [[p["id"], p["prompt"]] for p in prompts],
    }
    if samples > 1:
        identity["samples"] = samples
    key = sha256_text(canonical_json(identity))[:16]
    folder = folder or stillhouse_home() / "teacher-data"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{teacher_name}-{key}.jsonl"
    if path.is_file():
        return TeacherData(
            path, sha256_file(path), sum(1 for _ in open(path, encoding="utf-8")), True
        )
    records = []
    for index in range(samples):
        pass_params = (
            params.model_copy(update={"seed": (params.seed or 0) + index}) if index else params
        )
        pass_prompts = (
            [{**p, "id": f"{p['id']}#{index}"} for p in prompts] if samples > 1 else prompts
        )
        records += _answer(
            backend, pass_prompts, pass_params, teacher_name, teacher_sha256, batch_size, progress
        )
    for record in records:
        record["generator"] = generator or {}
        record["sha256"] = record_sha256(record)
    try:
        with atomic_file(path, "w") as handle:
            for record in records:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    except OSError as exc:
        raise disk_error(exc, path) from exc
    return TeacherData(path, sha256_file(path), len(records))


def _answer(backend, prompts, params, teacher_name, teacher_sha256, batch_size, progress):
    from core.generation import ChatRequest

    records = []
    with progress.bar(total=len(prompts), desc="teacher answers", unit="prompt") as bar:
        for start in range(0, len(prompts), batch_size):
            chunk = prompts[start : start + batch_size]
            requests = [ChatRequest.from_prompt(p["prompt"], system=p.get("system")) for p in chunk]
            for prompt, result in zip(chunk, backend.generate(requests, params), strict=True):
                record = {
                    "id": prompt["id"],
                    "prompt": prompt["prompt"],
                    "system": prompt.get("system"),
                    "response": result.text,
                    "finish_reason": result.finish_reason,
                    "teacher": teacher_name,
                    "teacher_sha256": teacher_sha256,
                    "params": params.model_dump(),
                }
                record["sha256"] = record_sha256(record)
                records.append(record)
            bar.update(len(chunk))
    return records


def read_teacher_data(path: str | Path) -> list[dict[str, Any]]:
    """Records of a teacher-data file, each checked against its SHA-256."""
    from core.errors import IntegrityError

    records = read_jsonl(path, "prompt", "teacher_data")
    for number, record in enumerate(records, start=1):
        if record.get("sha256") and record["sha256"] != record_sha256(record):
            raise IntegrityError(
                "corrupt_teacher_data", f"{path} record {number} fails its SHA-256"
            )
    return records


def disk_error(exc: OSError, path: Path) -> StillhouseError:
    """An OSError while writing, as one clear error (disk full gets its own code)."""
    if exc.errno == errno.ENOSPC:
        return StillhouseError(
            "disk_full",
            f"disk full while writing {path}; nothing was kept",
            hint="free some space and run again (add --resume to continue training)",
        )
    return StillhouseError("write_failed", f"cannot write {path}: {exc.strerror or exc}")

"""Turn ledger rows written by other parts of stillhouse into report entries.

Obligations, similarity results and votes are stored as the pre-flight, the
similarity scorer and the arena wrote them; these readers accept the shapes those
writers use (strings or dicts, scores at the top level or nested) and keep what a
reader of the report needs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from audit.reports.model import ArenaEntry, DatasetEntry, ObligationEntry, SimilarityEntry

_MAX_SCORES = 10


def _first(row: dict[str, Any], *names: str) -> Any:
    for name in names:
        if row.get(name) not in (None, ""):
            return row[name]
    return None


def obligations_from(items: list[Any]) -> list[ObligationEntry]:
    """Pre-flight obligations (plain strings or dicts) as report entries, duplicates dropped."""
    entries: list[ObligationEntry] = []
    for item in items:
        if isinstance(item, str):
            entry = ObligationEntry(text=item)
        elif isinstance(item, dict):
            text = _first(item, "text", "message", "description", "obligation", "what")
            entry = ObligationEntry(
                kind=str(_first(item, "kind", "type", "category") or "obligation"),
                source=_first(item, "source", "role", "from"),
                text=str(text if text is not None else item),
                license=_first(item, "license", "licence", "license_id"),
                clause=_first(item, "clause", "section"),
                binding=bool(item.get("binding", True)),
                when=str(item.get("when") or "on_release"),
                unmet=bool(item.get("unmet", False)),
            )
        else:
            entry = ObligationEntry(text=str(item))
        if entry not in entries:
            entries.append(entry)
    return entries


def _number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return round(value, 4) if isinstance(value, float) else value


def _scores(result: dict[str, Any]) -> dict[str, Any]:
    """Numeric scores: top-level numbers, then numbers inside scores/metrics/summary dicts."""
    found: dict[str, Any] = {}
    nested = [result] + [
        result[k]
        for k in ("scores", "metrics", "summary", "observed")
        if isinstance(result.get(k), dict)
    ]
    for source in nested:
        for key, value in source.items():
            if "p_value" in key or key in ("p", "seed"):
                continue
            number = _number(value)
            if number is not None and key not in found:
                found[key] = number
            if len(found) >= _MAX_SCORES:
                return found
    return found


def _p_value(result: dict[str, Any]) -> float | None:
    risk = result.get("risk")
    sources: list[dict[str, Any]] = [result, risk if isinstance(risk, dict) else {}]
    for source in sources:
        value = _first(source, "p_value", "combined_p_value", "min_p_value", "p")
        if _number(value) is not None:
            return float(value)
    return None


def similarity_entry(row: dict[str, Any]) -> SimilarityEntry:
    """One stored similarity result as evidence for the report."""
    result = row.get("result") or {}
    risk = row.get("risk") or result.get("risk")
    if isinstance(risk, dict):
        risk = risk.get("level") or risk.get("name")
    return SimilarityEntry(
        reference=row.get("reference"),
        candidate=row.get("candidate"),
        risk=None if risk is None else str(risk),
        p_value=_p_value(result),
        scores=_scores(result),
        baselines=[str(b) for b in result.get("baselines") or []],
        reasons=_reasons(result),
        examples=_examples(result),
        at=row.get("created_at"),
    )


def _reasons(result: dict[str, Any]) -> list[str]:
    risk = result.get("risk")
    reasons = risk.get("reasons") or [] if isinstance(risk, dict) else []
    return [str(r) for r in [*reasons, *(result.get("notes") or [])]]


def _examples(result: dict[str, Any], limit: int = 3, width: int = 160) -> list[str]:
    """The longest shared spans (verbatim runs, protected passages), shortened."""
    spans = [
        (s.get("tokens") or 0, kind, s.get("span") or "")
        for kind in ("protected", "verbatim")
        for s in result.get(kind) or []
        if isinstance(s, dict)
    ]
    spans.sort(key=lambda item: -item[0])
    out = []
    for tokens, kind, span in spans[:limit]:
        text = span if len(span) <= width else span[: width - 1] + "…"
        out.append(f"{kind}, {tokens} tokens: {text}")
    return out


def arena_entries(votes: list[dict[str, Any]], models: set[str]) -> list[ArenaEntry]:
    """Win / loss / tie counts from counted votes, for the report's models only."""
    tally: dict[str, ArenaEntry] = {}
    for vote in votes:
        pair = (vote["model_a"], vote["model_b"])
        for side, name in zip(("model_a", "model_b"), pair, strict=True):
            if name not in models:
                continue
            entry = tally.setdefault(name, ArenaEntry(model=name))
            entry.battles += 1
            if vote["vote"] == side:
                entry.wins += 1
            elif vote["vote"] in ("model_a", "model_b"):
                entry.losses += 1
            else:
                entry.ties += 1
    return [tally[name] for name in sorted(tally)]


def _fingerprint_now(path: str | None, recorded: str | None) -> tuple[str | None, int | None, str]:
    """(Merkle root, records, note) for a dataset file the ledger never registered."""
    from audit.ledger.fingerprints import dataset_fingerprint
    from core.errors import StillhouseError
    from core.hashing import sha256_file

    if not path or not Path(path).is_file():
        return None, None, "not registered; the file is gone, so no Merkle root could be computed"
    if recorded and sha256_file(path) != recorded:
        return None, None, "not registered; the file CHANGED since the run (its SHA-256 differs)"
    try:
        found = dataset_fingerprint(path)
    except StillhouseError as error:
        return None, None, f"not registered; could not fingerprint the file: {error.message}"
    return (
        found.merkle_root,
        found.records,
        "not registered; fingerprinted at export (file unchanged since the run)",
    )


def dataset_entry(ref: dict[str, Any], registered: list[dict[str, Any]]) -> DatasetEntry:
    """A run's dataset input or output, with its Merkle root from the registry or the file
    itself."""
    recorded = ref.get("sha256")
    known = next(
        (
            d
            for d in registered
            if recorded and recorded in (d["merkle_root"], d.get("file_sha256"))
        ),
        None,
    ) or next((d for d in registered if d["name"] == ref.get("name")), None)
    details = ref.get("details") or {}
    if known:
        merkle, records = known["merkle_root"], known.get("records")
        note = f"registered in the ledger {known.get('registered_at') or ''}".strip()
    else:
        merkle, records, note = _fingerprint_now(ref.get("path"), recorded)
    return DatasetEntry(
        role=ref.get("role") or "train_data",
        name=ref.get("name") or (known or {}).get("name") or "unnamed",
        license=ref.get("license") or (known or {}).get("license") or "unknown",
        source=(known or {}).get("source") or details.get("source"),
        collected=(known or {}).get("collected") or details.get("collected"),
        records=ref.get("records") if ref.get("records") is not None else records,
        merkle_root=merkle,
        sha256=recorded or (known or {}).get("file_sha256"),
        path=ref.get("path") or (known or {}).get("path"),
        fingerprint=note,
        registered_at=(known or {}).get("registered_at"),
    )

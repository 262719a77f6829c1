"""Does an exported report still match the ledger? (``stillhouse audit verify-report FILE``)

Four questions, answered in order:

1. Is the file intact? The report JSON inside it (the file itself for JSON, the embedded
   block for HTML, the attachment for PDF) must hash to the ``content_sha256`` it carries;
   a PDF must also print that hash. A CycloneDX file carries only the hashes, so this
   step is skipped for it.
2. Does the ledger verify? Its hash chain must hold.
3. Is the report's ledger head in this ledger's chain? (Current, or with newer events.)
4. Are the facts still what the ledger says? The report is rebuilt for the same subject and
   its ``facts_sha256`` compared; newer votes or similarity results make a report stale.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from audit.reports.model import ReportData, content_sha256, facts_sha256
from core.errors import InputError, IntegrityError, NotFoundError

CheckStatus = Literal["matches", "stale", "tampered", "ledger_broken", "foreign_ledger"]


class ReportCheck(BaseModel):
    """What ``verify_report`` found."""

    model_config = ConfigDict(extra="forbid")

    ok: bool = Field(description="True only when the report still matches the ledger.")
    status: CheckStatus = Field(
        description="matches, stale, tampered, ledger_broken or foreign_ledger."
    )
    format: str = Field(description="pdf, html, json or cyclonedx.")
    subject: str = Field(description="What the report covers.")
    report_sha256: str | None = Field(
        default=None, description="content_sha256 the report carries."
    )
    ledger_head: str | None = Field(default=None, description="Ledger head the report carries.")
    content_intact: bool | None = Field(
        default=None, description="File hashes to its content_sha256 (None: not checkable)."
    )
    ledger_ok: bool = Field(description="The ledger's hash chain holds now.")
    head_current: bool = Field(description="The ledger's head is still the report's.")
    newer_events: int | None = Field(
        default=None, description="Events written since export (None: head not found)."
    )
    facts_match: bool = Field(description="Rebuilding the report now gives the same facts.")
    messages: list[str] = Field(
        default_factory=list, description="One line per finding, for people."
    )


def _claims(path: Path) -> tuple[str, dict[str, Any] | None, dict[str, Any]]:
    """(format, embedded report JSON or None, claimed hashes and subject)."""
    if not path.is_file():
        raise NotFoundError("no_report_file", f"no such report file: {path}")
    raw = path.read_bytes()
    if raw.startswith(b"%PDF"):
        from audit.reports.pdf import extract_json as pdf_json

        embedded = pdf_json(raw)
        if embedded is None:
            raise IntegrityError("no_report_data", f"{path} has no attached stillhouse report JSON")
        return "pdf", embedded, dict(embedded.get("integrity") or {}, **_subject(embedded))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError("not_a_report", f"{path} is not a stillhouse report") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        doc = None
    if isinstance(doc, dict) and doc.get("bomFormat") == "CycloneDX":
        from audit.reports.cyclonedx import bom_properties

        props = bom_properties(doc)
        claims = {
            "content_sha256": props.get("report:content_sha256"),
            "facts_sha256": props.get("report:facts_sha256"),
            "ledger_head": props.get("ledger:head"),
            "run_id": props.get("report:run_id"),
            "model": props.get("report:model"),
        }
        return "cyclonedx", None, claims
    if isinstance(doc, dict) and str(doc.get("schema_version", "")).startswith("stillhouse.report"):
        return "json", doc, dict(doc.get("integrity") or {}, **_subject(doc))
    from audit.reports.html import extract_json as html_json

    embedded = html_json(text)
    if embedded is None:
        raise InputError(
            "not_a_report", f"{path} is not a stillhouse report (pdf, html, json or cyclonedx)"
        )
    return "html", embedded, dict(embedded.get("integrity") or {}, **_subject(embedded))


def _subject(doc: dict[str, Any]) -> dict[str, Any]:
    subject = doc.get("subject") or {}
    return {"run_id": subject.get("run_id"), "model": subject.get("model")}


def _intact(
    fmt: str, path: Path, embedded: dict[str, Any] | None, claims: dict
) -> tuple[bool | None, str]:
    if embedded is None:
        from audit.reports.cyclonedx import validation_error

        problem = validation_error(path.read_text(encoding="utf-8"))
        if problem:
            return False, f"CycloneDX: the file is no longer valid CycloneDX 1.6 ({problem[:200]})"
        return (
            None,
            "file hash: not checkable for CycloneDX (it carries the hashes only); valid CycloneDX "
            "1.6",
        )
    try:
        data = ReportData.model_validate(embedded)
    except ValidationError:
        return False, "file hash: the report JSON no longer follows the report schema"
    if content_sha256(data) != claims.get("content_sha256") or facts_sha256(data) != claims.get(
        "facts_sha256"
    ):
        return False, "file hash: MISMATCH, the report's content was changed after export"
    if fmt == "pdf":
        from pypdf import PdfReader

        text = "".join(page.extract_text() or "" for page in PdfReader(path).pages[:1])
        if claims["content_sha256"] not in text.replace("\n", " "):
            return False, "file hash: the PDF's printed SHA-256 differs from its attached report"
    return True, f"file hash: ok ({claims['content_sha256']})"


def _rebuilt_facts(store: Any, claims: dict[str, Any]) -> tuple[str | None, str]:
    from audit.reports.build import build_report

    try:
        rebuilt = build_report(store, run_id=claims.get("run_id"), model=claims.get("model"))
    except (NotFoundError, InputError) as error:
        return None, f"facts: cannot rebuild the report from the ledger ({error.message})"
    return facts_sha256(rebuilt), ""


def _checkpoint_holds(point: Any, events: list[dict[str, Any]]) -> tuple[bool, str]:
    """Does the signed checkpoint the report carries still match the ledger's chain?"""
    if not point:
        return True, ""
    from audit.ledger import checkpoints as signed

    try:
        checkpoint = signed.Checkpoint.model_validate(point)
    except ValidationError:
        return False, "checkpoint: the report's checkpoint is malformed"
    key = signed.default_public_key()
    if key is not None and not signed.signature_ok(checkpoint, signed.load_public_key(key)):
        return False, "checkpoint: the report's signature does NOT verify with the public key"
    hashes = {int(e["seq"]): e["hash"] for e in events}
    if checkpoint.seq and hashes.get(checkpoint.seq) != checkpoint.head_hash:
        return False, (
            f"checkpoint: signed seq {checkpoint.seq} is NOT in this ledger as signed "
            "(truncated, rolled back or rebuilt)"
        )
    signed_by = "signature ok" if key is not None else "signature not checked: no public key"
    return True, f"checkpoint: signed seq {checkpoint.seq} holds ({signed_by})"


def verify_report(store: Any, file: str | Path) -> ReportCheck:
    """Check an exported report against the ledger it came from."""
    path = Path(file).expanduser()
    fmt, embedded, claims = _claims(path)
    intact, intact_line = _intact(fmt, path, embedded, claims)
    messages = [intact_line]
    result = store.verify()
    messages.append(
        "ledger: verifies"
        if result.ok
        else f"ledger: FAILS verification at {result.first_bad_row} ({result.problem})"
    )
    head = claims.get("ledger_head")
    hashes = [e["hash"] for e in store.events()]
    newer = len(hashes) - hashes.index(head) - 1 if head in hashes else None
    if head == result.head_hash:
        newer = 0
    if head == result.head_hash:
        messages.append(f"ledger head: unchanged since export ({head})")
    elif newer is not None:
        messages.append(
            f"ledger head: {newer} newer event(s) since export; the report's head is in the chain"
        )
    else:
        messages.append(
            "ledger head: the report's head is NOT in this ledger (another ledger, or rewritten)"
        )
    anchored, anchor_line = _checkpoint_holds(claims.get("checkpoint"), store.events())
    if anchor_line:
        messages.append(anchor_line)
    facts, problem = _rebuilt_facts(store, claims)
    facts_match = facts is not None and facts == claims.get("facts_sha256")
    messages.append(
        problem
        or (
            "facts: still what the ledger says"
            if facts_match
            else "facts: the ledger now says something different; export a new report"
        )
    )
    if intact is False:
        status: CheckStatus = "tampered"
    elif not result.ok or not anchored:
        status = "ledger_broken"
    elif newer is None:
        status = "foreign_ledger"
    else:
        status = "matches" if facts_match else "stale"
    label = claims.get("run_id") and f"run {claims['run_id']}" or f"model {claims.get('model')}"
    return ReportCheck(
        ok=status == "matches",
        status=status,
        format=fmt,
        subject=label,
        report_sha256=claims.get("content_sha256"),
        ledger_head=head,
        content_intact=intact,
        ledger_ok=result.ok,
        head_current=head == result.head_hash,
        newer_events=newer,
        facts_match=facts_match,
        messages=messages,
    )

"""The report as a PDF a lawyer can read, sign and file.

Built with reportlab's platypus from the same ``ReportData`` as the HTML: a title block
with the verdict, numbered sections with tables and clause citations, the lineage
picture, and a sign-off box. Text is real text in DejaVu fonts (shipped with
matplotlib), so it is searchable and extractable; every page's footer carries the
report's SHA-256. The report JSON is attached to the PDF as ``stillhouse-report.json``
(added with pypdf), which is what ``verify-report`` reads back.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from audit.reports.lineage import render_lineage
from audit.reports.model import ReportData, flat_metrics

ATTACHMENT = "stillhouse-report.json"
_NAVY = "#2b4a6f"
_VERDICT_COLOURS = {
    "allowed": "#2e7d32",
    "allowed_with_conditions": "#8a6100",
    "needs_review": "#a04d00",
    "blocked": "#b3261e",
    "unknown": "#b3261e",
}


def _fonts() -> tuple[str, str, str]:
    """Register DejaVu Sans (regular, bold, mono) once; fall back to Helvetica."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    if "DejaVu" in pdfmetrics.getRegisteredFontNames():
        return "DejaVu", "DejaVu-Bold", "DejaVu-Mono"
    try:
        import matplotlib

        ttf = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
        pdfmetrics.registerFont(TTFont("DejaVu", str(ttf / "DejaVuSans.ttf")))
        pdfmetrics.registerFont(TTFont("DejaVu-Bold", str(ttf / "DejaVuSans-Bold.ttf")))
        pdfmetrics.registerFont(TTFont("DejaVu-Mono", str(ttf / "DejaVuSansMono.ttf")))
        return "DejaVu", "DejaVu-Bold", "DejaVu-Mono"
    except (OSError, ImportError):  # pragma: no cover - matplotlib always ships these
        return "Helvetica", "Helvetica-Bold", "Courier"


class _Styles:
    def __init__(self) -> None:
        from reportlab.lib import colors
        from reportlab.lib.styles import ParagraphStyle

        regular, bold, mono = self.fonts = _fonts()
        self.body = ParagraphStyle("body", fontName=regular, fontSize=9.5, leading=13)
        self.small = ParagraphStyle("small", parent=self.body, fontSize=8, leading=10.5)
        self.cell = ParagraphStyle("cell", parent=self.body, fontSize=8, leading=10)
        self.head = ParagraphStyle("head", parent=self.cell, fontName=bold)
        self.hash = ParagraphStyle(
            "hash", parent=self.cell, fontName=mono, fontSize=7, wordWrap="CJK"
        )
        self.h1 = ParagraphStyle(
            "h1", fontName=bold, fontSize=22, leading=27, textColor=colors.HexColor(_NAVY)
        )
        self.h2 = ParagraphStyle(
            "h2",
            fontName=bold,
            fontSize=12.5,
            leading=16,
            spaceBefore=12,
            spaceAfter=5,
            textColor=colors.HexColor(_NAVY),
            keepWithNext=1,
        )
        self.verdict = ParagraphStyle(
            "verdict", fontName=bold, fontSize=15, leading=19, textColor=colors.white
        )
        self.section = 0
        self.verdict_text = ParagraphStyle(
            "verdict_text", parent=self.body, fontSize=10.5, leading=14, textColor=colors.white
        )

    def heading(self, title: str) -> Any:
        """A numbered section heading (numbers follow the sections actually present)."""
        self.section += 1
        return _p(f"{self.section}. {title}", self.h2)


def _when(stamp: str | None) -> str:
    """An ISO time as 'YYYY-MM-DD HH:MM:SS' (UTC), for table cells."""
    return (stamp or "")[:19].replace("T", " ")


def _p(text: object, style) -> Any:
    from reportlab.platypus import Paragraph

    return Paragraph(escape("" if text is None else str(text)).replace("\n", "<br/>"), style)


def _table(
    st: _Styles,
    header: list[str],
    rows: Sequence[Any],
    widths: list[float],
    hash_cols: tuple[int, ...] = (),
) -> Any:
    """A grid table with a shaded header; columns in ``hash_cols`` use the mono style."""
    from reportlab.lib import colors
    from reportlab.platypus import Table, TableStyle

    body = [[_p(h, st.head) for h in header]]
    for row in rows:
        body.append([_p(v, st.hash if i in hash_cols else st.cell) for i, v in enumerate(row)])
    table = Table(body, colWidths=widths, repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.5, colors.HexColor("#b8b8b8")),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e9eef5")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TOPPADDING", (0, 0), (-1, -1), 3),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
            ]
        )
    )
    return table


def _table_or(
    st: _Styles,
    header: list[str],
    rows: Sequence[Any],
    fractions: Sequence[float],
    width: float,
    none: str,
    hash_cols: tuple[int, ...] = (),
) -> Any:
    """``_table`` with columns as fractions of ``width``, or the line ``none`` if no rows."""
    if not rows:
        return _p(none, st.body)
    return _table(st, header, rows, [f * width for f in fractions], hash_cols=hash_cols)


def _boxed(flowables: list, background: str, width: float) -> Any:
    from reportlab.lib import colors
    from reportlab.platypus import Table, TableStyle

    box = Table([[f] for f in flowables], colWidths=[width])
    box.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, -1), colors.HexColor(background)),
                ("LEFTPADDING", (0, 0), (-1, -1), 10),
                ("TOPPADDING", (0, 0), (-1, -1), 5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 5),
            ]
        )
    )
    return box


def _title_block(data: ReportData, st: _Styles, width: float) -> list:
    from reportlab.platypus import Spacer

    flow: list = []
    if not data.integrity.verify_ok:
        row = data.integrity.first_bad_row
        flow += [
            _boxed(
                [
                    _p(
                        f"LEDGER VERIFICATION FAILED at export: first broken row "
                        f"{row if row is not None else 'unknown'}"
                        f"{' (' + data.integrity.problem + ')' if data.integrity.problem else ''}. "
                        "The facts below come from a ledger whose hash chain does not hold; "
                        "treat them as unproven.",
                        st.verdict_text,
                    )
                ],
                "#b3261e",
                width,
            ),
            Spacer(1, 8),
        ]
    flow += [
        _p("Provenance Report", st.h1),
        _p(
            f"Subject: {data.subject.label()}    Generated: {data.generated_at}    "
            f"Schema: {data.schema_version}",
            st.small,
        ),
        Spacer(1, 10),
    ]
    verdict = [
        _p(f"VERDICT: {data.verdict.code.replace('_', ' ').upper()}", st.verdict),
        _p(data.verdict.headline, st.verdict_text),
    ]
    if data.verdict.use:
        verdict.append(_p(f"Intended use checked: {data.verdict.use}.", st.verdict_text))
    if data.verdict.overridden:
        verdict.append(
            _p(
                "A blocked verdict was overridden; the written reason is under Overrides.",
                st.verdict_text,
            )
        )
    flow += [_boxed(verdict, _VERDICT_COLOURS[data.verdict.code], width), Spacer(1, 10)]
    facts = [
        [
            "Teacher(s)",
            ", ".join(f"{m.name} [{m.license}]" for m in data.role("teacher")) or "none recorded",
        ],
        [
            "Student",
            ", ".join(f"{m.name} [{m.license}]" for m in data.role("student")) or "none recorded",
        ],
        [
            "Datasets",
            ", ".join(f"{d.name} [{d.license}]" for d in data.datasets) or "none recorded",
        ],
        [
            "Findings / obligations / overrides",
            f"{len(data.findings)} / {len(data.obligations)} / {len(data.overrides)}",
        ],
        ["Ledger verification at export", "passed" if data.integrity.verify_ok else "FAILED"],
    ]
    flow.append(_table(st, ["Key fact", "Value"], facts, [0.32 * width, 0.68 * width]))
    return flow


def _lineage_and_parties(data: ReportData, st: _Styles, width: float, png: bytes) -> list:
    from reportlab.lib.utils import ImageReader
    from reportlab.platypus import Image

    reader = ImageReader(io.BytesIO(png))
    w, h = reader.getSize()
    scale = min(width / w, 260 / h)
    flow = [st.heading("Lineage"), Image(io.BytesIO(png), width=w * scale, height=h * scale)]
    flow.append(st.heading("Models"))
    rows = [
        [
            m.role.replace("_", " "),
            m.name + (f"\n{m.hf_id}" if m.hf_id else ""),
            m.license,
            m.source or "",
            f"{m.parameters:,}" if m.parameters else "",
            m.weights_sha256 or "not recorded",
        ]
        for m in data.models
    ]
    flow.append(
        _table_or(
            st,
            ["Role", "Name", "Licence", "Source", "Params", "Weights SHA-256"],
            rows,
            (0.1, 0.27, 0.12, 0.1, 0.11, 0.3),
            width,
            "No models recorded.",
            hash_cols=(5,),
        )
    )
    flow.append(st.heading("Datasets"))
    rows = [
        [
            d.role.replace("_", " "),
            d.name,
            d.license,
            "\n".join(x for x in (d.source, d.collected and f"collected {d.collected}") if x),
            f"{d.records:,}" if d.records is not None else "",
            _dataset_hashes(d),
        ]
        for d in data.datasets
    ]
    flow.append(
        _table_or(
            st,
            ["Role", "Name", "Licence", "Source", "Records", "Merkle root / file SHA-256"],
            rows,
            (0.1, 0.19, 0.12, 0.15, 0.1, 0.34),
            width,
            "No datasets recorded.",
            hash_cols=(5,),
        )
    )
    return flow


def _dataset_hashes(d) -> str:
    lines = [f"root {d.merkle_root or 'none'}"]
    if d.sha256 and d.sha256 != d.merkle_root:
        lines.append(f"file {d.sha256}")
    if d.fingerprint:
        lines.append(d.fingerprint)
    return "\n".join(lines)


def _licence_sections(data: ReportData, st: _Styles, width: float) -> list:
    from audit.reports.legal_pdf import legal_basis_section, obligation_sections

    flow = legal_basis_section(data, st, width, _p, _table)
    flow.append(st.heading("Licence findings"))
    rows = [
        [f.severity, f.license, f.clause or "not cited", f.message, "yes" if f.verified else "NO"]
        for f in data.findings
    ]
    flow.append(
        _table_or(
            st,
            ["Severity", "Licence", "Clause", "Finding", "Verified"],
            rows,
            (0.11, 0.13, 0.12, 0.54, 0.10),
            width,
            "No findings recorded.",
        )
    )
    flow += obligation_sections(data, st, width, _p, _table_or)
    flow.append(st.heading("Overrides"))
    rows = [[_when(o.at), o.verdict or "", o.reason] for o in data.overrides]
    flow.append(
        _table_or(
            st,
            ["When (UTC)", "Verdict overridden", "Reason given"],
            rows,
            (0.24, 0.18, 0.58),
            width,
            "No overrides.",
        )
    )
    return flow


def _config_rows(config: dict) -> list[list[str]]:
    """The config as setting/value pairs, two pairs per row, nested values as compact JSON."""
    cells = [
        (k, v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, default=str))
        for k, v in sorted(config.items())
    ]
    half = (len(cells) + 1) // 2
    left, right = cells[:half], cells[half:] + [("", "")] * (half - len(cells[half:]))
    return [[a, b, c, d] for (a, b), (c, d) in zip(left, right, strict=True)]


def _evidence_sections(data: ReportData, st: _Styles, width: float) -> list:
    from reportlab.platypus import Spacer

    flow = [st.heading("Training")]
    t = data.training
    if t:
        rows = [
            ["Run id", f"{t.run_id} ({t.kind}, {t.status or 'status not recorded'})"],
            ["Started / finished (UTC)", f"{_when(t.started_at)} / {_when(t.finished_at)}"],
            ["Seed", "not recorded" if t.seed is None else t.seed],
            ["Code version", t.code_version or "not recorded"],
        ]
        flow.append(_table(st, ["Item", "Value"], rows, [0.22 * width, 0.78 * width]))
        if t.config:
            flow += [
                Spacer(1, 4),
                _table(
                    st,
                    ["Setting", "Value", "Setting", "Value"],
                    _config_rows(t.config),
                    [0.22 * width, 0.28 * width, 0.22 * width, 0.28 * width],
                ),
            ]
        if t.files:
            files = [
                [f"{f.role.replace('_', ' ')} ({f.direction})", f.name, f.sha256 or "not recorded"]
                for f in t.files
            ]
            flow += [
                Spacer(1, 4),
                _table(
                    st,
                    ["File", "Name", "SHA-256"],
                    files,
                    [0.22 * width, 0.26 * width, 0.52 * width],
                    hash_cols=(2,),
                ),
            ]
    else:
        flow.append(_p("No training run recorded for this subject.", st.body))
    flow.append(st.heading("Evaluation"))
    rows = [list(r) for r in flat_metrics(data.metrics)]
    flow.append(
        _table_or(
            st, ["Metric", "Value"], rows, (0.5, 0.5), width, "No evaluation metrics recorded."
        )
    )
    flow.append(st.heading("Similarity evidence"))
    rows = [
        [
            s.reference or "",
            s.candidate or "",
            s.risk or "",
            "" if s.p_value is None else f"{s.p_value:.3g}",
            "\n".join(f"{k}: {v}" for k, v in s.scores.items()),
            "\n".join([*s.reasons, *s.examples]),
            _when(s.at),
        ]
        for s in data.similarity
    ]
    flow.append(
        _table_or(
            st,
            ["Reference", "Candidate", "Risk", "p-value", "Scores", "Why", "When"],
            rows,
            (0.11, 0.12, 0.07, 0.1, 0.2, 0.28, 0.12),
            width,
            "No similarity evidence recorded.",
        )
    )
    if data.arena:
        flow.append(st.heading("Arena (blind votes)"))
        rows = [[a.model, a.battles, a.wins, a.losses, a.ties] for a in data.arena]
        flow.append(
            _table(
                st,
                ["Model", "Battles", "Wins", "Losses", "Ties / both bad"],
                rows,
                [w_ * width for w_ in (0.4, 0.15, 0.15, 0.15, 0.15)],
            )
        )
    return flow


def _closing_sections(data: ReportData, st: _Styles, width: float) -> list:
    from reportlab.platypus import KeepTogether, Spacer

    i = data.integrity
    rows = [
        [
            "Ledger verification at export",
            "passed" if i.verify_ok else f"FAILED: {i.problem or ''}",
        ],
        ["First broken row", "none" if i.first_bad_row is None else i.first_bad_row],
        ["Ledger head hash", i.ledger_head or "empty ledger"],
        ["Ledger rows", "" if i.ledger_rows is None else i.ledger_rows],
        ["Facts SHA-256", i.facts_sha256 or ""],
        ["Report SHA-256", i.content_sha256 or ""],
    ]
    flow = [
        st.heading("Integrity"),
        _table(st, ["Check", "Value"], rows, [0.3 * width, 0.7 * width], hash_cols=(1,)),
        _p(
            "Check this file against the ledger with: stillhouse audit verify-report FILE. "
            f"The report's JSON is attached to this PDF as {ATTACHMENT}.",
            st.small,
        ),
        Spacer(1, 4),
    ]
    if data.references:
        flow.append(st.heading("Published context"))
        for r in data.references:
            flow.append(_p(f"{r.title}: {r.note}" + (f" ({r.url})" if r.url else ""), st.small))
            flow.append(Spacer(1, 3))
    sign = [
        [
            "Decision",
            "\u2610 approve     \u2610 approve with the conditions above     \u2610 reject",
        ],
        ["Reviewer name", ""],
        ["Signature", ""],
        ["Date", ""],
    ]
    box = _table(st, ["Legal sign-off", ""], sign, [0.3 * width, 0.7 * width])
    from reportlab.lib import colors

    box.setStyle(
        [
            ("BOTTOMPADDING", (0, 2), (-1, -1), 16),
            ("BOX", (0, 0), (-1, -1), 1.5, colors.HexColor(_NAVY)),
        ]
    )
    flow += [Spacer(1, 14), KeepTogether([box])]
    return flow


def _page_decorator(data: ReportData, fonts: tuple[str, str, str]):
    def draw(canvas, doc) -> None:
        from reportlab.lib import colors

        canvas.saveState()
        width, height = doc.pagesize
        canvas.setStrokeColor(colors.HexColor(_NAVY))
        canvas.line(doc.leftMargin, height - 38, width - doc.rightMargin, height - 38)
        canvas.setFont(fonts[0], 8)
        canvas.drawString(
            doc.leftMargin, height - 34, f"stillhouse provenance report - {data.subject.label()}"
        )
        canvas.drawRightString(width - doc.rightMargin, height - 34, f"page {doc.page}")
        canvas.setFont(fonts[2], 6.5)
        canvas.drawString(doc.leftMargin, 28, f"Report SHA-256 {data.integrity.content_sha256}")
        canvas.drawRightString(width - doc.rightMargin, 28, data.generated_at)
        canvas.restoreState()

    return draw


def render_pdf(data: ReportData, lineage_png: bytes | None = None) -> bytes:
    """The report as PDF bytes, with the report JSON attached."""
    from pypdf import PdfReader, PdfWriter
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.platypus import SimpleDocTemplate

    st = _Styles()
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=20 * mm,
        bottomMargin=18 * mm,
        title=f"Provenance report: {data.subject.label()}",
        author="stillhouse",
        subject=f"verdict {data.verdict.code}",
        creator="stillhouse",
    )
    width = doc.width
    png = lineage_png if lineage_png is not None else render_lineage(data, "png")
    story = (
        _title_block(data, st, width)
        + _lineage_and_parties(data, st, width, png)
        + _licence_sections(data, st, width)
        + _evidence_sections(data, st, width)
        + _closing_sections(data, st, width)
    )
    decorate = _page_decorator(data, st.fonts)
    doc.build(story, onFirstPage=decorate, onLaterPages=decorate)
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(buffer.getvalue())))
    payload = json.dumps(data.model_dump(mode="json"), ensure_ascii=False, sort_keys=True)
    writer.add_attachment(ATTACHMENT, payload.encode("utf-8"))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def extract_json(pdf_bytes: bytes) -> dict | None:
    """The attached report JSON of a PDF report, or None when there is none."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        attachments = PdfReader(io.BytesIO(pdf_bytes)).attachments
    except (PdfReadError, ValueError, KeyError):
        return None
    contents = attachments.get(ATTACHMENT)
    if not contents:
        return None
    try:
        return json.loads(contents[0].decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None

"""The PDF's legal-basis pages: notice, knowledge base, inputs, obligations split, NOTICE draft.

Called by ``audit.reports.pdf`` with its paragraph and table helpers, so the look matches the
rest of the report; kept apart to keep ``pdf.py`` short.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from audit.reports.model import ReportData


def legal_basis_section(
    data: ReportData, st: Any, width: float, p: Callable, table: Callable
) -> list:
    lb = data.legal_basis
    kb = lb.knowledge_base
    flow = [st.heading("Legal basis"), p(lb.notice, st.body)]
    inputs = "; ".join(f"{k} = {'not given' if v is None else v}" for k, v in lb.inputs.items())
    versions = [
        ["Knowledge base commit", kb.get("commit") or "not a git checkout"],
        ["Knowledge base SHA-256", kb.get("sha256") or "none recorded"],
    ]
    flow.append(table(st, ["What", "Value"], versions, [0.25 * width, 0.75 * width], (1,)))
    facts = [
        [
            "Licence YAMLs hashed",
            str(kb.get("files", "?")) + (f" ({kb['note']})" if kb.get("note") else ""),
        ],
        ["Student's licence record", lb.student_license or "no pre-flight recorded"],
        ["Pre-flight inputs", inputs or "none recorded"],
    ]
    flow.append(table(st, ["What", "Value"], facts, [0.25 * width, 0.75 * width]))
    return flow


def obligation_sections(
    data: ReportData, st: Any, width: float, p: Callable, table_or: Callable
) -> list:
    groups = [
        ("unmet now", [o for o in data.obligations if o.unmet]),
        ("due now", [o for o in data.obligations if not o.unmet and o.when == "now"]),
        ("due on release", [o for o in data.obligations if not o.unmet and o.when == "on_release"]),
        ("due on hosting", [o for o in data.obligations if not o.unmet and o.when == "on_hosting"]),
    ]
    flow = [st.heading("Obligations the student inherits")]
    if not data.obligations:
        return [*flow, p("None recorded.", st.body)]
    for title, items in groups:
        flow.append(p(f"Obligations {title}", st.head))
        rows = [
            [
                (o.source or o.kind).replace("_", " "),
                o.text,
                o.license or "",
                o.clause or "",
                "yes" if o.binding else "advice",
            ]
            for o in items
        ]
        flow.append(
            table_or(
                st,
                ["From", "Obligation", "Licence", "Clause", "Binding"],
                rows,
                (0.12, 0.52, 0.13, 0.12, 0.11),
                width,
                "None.",
            )
        )
    flow.append(st.heading("Draft NOTICE for the student"))
    notice = data.legal_basis.notice_file or "No pre-flight recorded, so no NOTICE is drafted."
    flow.append(p(notice, st.small))
    flow.append(st.heading("Similarity, in plain words"))
    flow.append(p(data.legal_basis.similarity_plain, st.body))
    return flow

"""Reports (admin): export a run's or a model's provenance for legal review, and download it.

PDF and HTML for people, JSON for tools, CycloneDX 1.6 ML-BOM for supply-chain scanners.
Each export is recorded in the ledger (``audit.reports.export.write_report``).
"""

from __future__ import annotations

import gradio as gr

from ui.services.app import AppServices
from ui.tabs.login import locked_notice

FORMATS = {"PDF": "pdf", "HTML": "html", "JSON": "json", "CycloneDX ML-BOM": "cyclonedx"}
LOCKED = "Report export needs an admin login. Nothing was exported."


def build(services: AppServices, admin: gr.State, tab: gr.Tab) -> None:
    locked_notice("Reports carry hashes, licences and findings from the ledger.", admin)
    gr.Markdown(
        "One file a lawyer can read: what was distilled from what, under which licences, the "
        "pre-flight "
        "findings and overrides, similarity evidence, arena results, and the ledger's head hash."
    )
    with gr.Row(equal_height=True):
        subject = gr.Dropdown([], label="Run or model", scale=3, elem_id="reports-subject")
        fmt = gr.Radio(
            list(FORMATS), value="PDF", label="Format", scale=2, elem_id="reports-format"
        )
        export = gr.Button("Export report", variant="primary", scale=1, elem_id="reports-export")
    status = gr.Markdown(elem_id="reports-status")
    download = gr.File(label="Download", interactive=False, elem_id="reports-download")

    def subjects():
        found = services.reports.subjects()
        newest = next(
            (value for label, value in found if "· distill ·" in label),
            found[0][1] if found else None,
        )
        return gr.update(choices=found, value=newest)

    def run(ok: bool, chosen: str | None, label: str):
        if not ok:
            return LOCKED, None
        if not chosen:
            raise gr.Error("Choose a run or a model first.")
        path = services.reports.export(FORMATS[label], chosen)
        return f"Exported **{path.name}** and recorded the export in the ledger.", str(path)

    tab.select(subjects, outputs=subject, api_visibility="private", show_progress="hidden")
    export.click(run, [admin, subject, fmt], [status, download], api_name="report_export")

"""Audit: what the ledger knows (models, datasets, runs, findings, overrides), lineage, verify.

Reading is open to anyone; registering models and datasets needs an admin login.
"""

from __future__ import annotations

import gradio as gr

from ui.services.app import AppServices
from ui.services.audit import COLUMNS
from ui.tabs.login import locked_notice

TITLES = {
    "models": "Models",
    "datasets": "Datasets",
    "runs": "Runs",
    "findings": "Findings",
    "overrides": "Overrides",
    "reports": "Reports exported",
}
LOCKED = "Registration needs an admin login. Nothing was registered."


def build(services: AppServices, admin: gr.State, tab: gr.Tab) -> None:
    gr.Markdown(
        "Every model, dataset, run, finding, override and vote is an append-only row in the "
        "ledger, "
        "each **hash-chained** to the one before: any edit or deletion shows up in *Verify ledger*."
    )
    with gr.Row():
        verify = gr.Button("Verify ledger", variant="primary", elem_id="audit-verify")
        refresh = gr.Button("Refresh")
    verdict = gr.HTML(elem_id="audit-verify-result")
    tables = {}
    with gr.Tabs():
        for name, title in TITLES.items():
            with gr.Tab(title):
                tables[name] = gr.Dataframe(
                    headers=COLUMNS[name],
                    interactive=False,
                    wrap=True,
                    show_label=False,
                    elem_id=f"audit-{name}",
                )
    gr.Markdown("### Lineage")
    with gr.Row(equal_height=True):
        run = gr.Dropdown([], label="Run", scale=4, elem_id="audit-run")
        draw = gr.Button("Draw lineage", scale=1)
    picture = gr.Image(
        type="filepath", show_label=False, interactive=False, elem_id="audit-lineage"
    )
    with gr.Accordion("Register a model or a dataset (admin)", open=False):
        locked_notice("Registration writes to the ledger.", admin)
        licenses = services.audit.license_ids()
        with gr.Row():
            model_name = gr.Textbox(label="Model name")
            model_license = gr.Dropdown(licenses, value="apache-2.0", label="Licence")
            model_path = gr.Textbox(label="Checkpoint folder on this machine")
            add_model = gr.Button("Register model")
        with gr.Row():
            data_file = gr.File(
                label="JSONL dataset", file_types=[".jsonl"], type="filepath", height=90
            )
            data_name = gr.Textbox(label="Dataset name")
            data_license = gr.Dropdown(licenses, value="cc-by-4.0", label="Licence")
            add_data = gr.Button("Register dataset")
        registered = gr.Markdown()

    def show():
        found = services.audit.tables()
        runs = services.audit.run_choices()
        newest = next(
            (value for label, value in runs if "· distill ·" in label), runs[0][1] if runs else None
        )
        return (*(getattr(found, name) for name in TITLES), gr.update(choices=runs, value=newest))

    def model(ok: bool, name: str, license: str, path: str) -> str:
        return services.audit.register_model(name, license, path) if ok else LOCKED

    def dataset(ok: bool, path: str | None, name: str, license: str) -> str:
        if not ok:
            return LOCKED
        if not path:
            raise gr.Error("Choose a JSONL file first.")
        return services.audit.register_dataset(path, name, license)

    outputs = [*tables.values(), run]
    tab.select(show, outputs=outputs, api_visibility="private", show_progress="hidden")
    refresh.click(show, outputs=outputs, api_visibility="private")
    verify.click(services.audit.verify_html, outputs=verdict, api_name="audit_verify")

    def lineage(run_id: str | None):
        return services.audit.lineage_png(run_id) if run_id else None

    draw.click(lineage, run, picture, api_visibility="private")
    run.change(lineage, run, picture, api_visibility="private", show_progress="hidden")
    add_model.click(
        model, [admin, model_name, model_license, model_path], registered, api_visibility="private"
    )
    add_data.click(
        dataset, [admin, data_file, data_name, data_license], registered, api_visibility="private"
    )
